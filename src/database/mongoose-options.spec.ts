import { mongo } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import type { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { mongooseOptions } from './mongoose-options.js';

const steps = {} as ShutdownSteps;
const MODES = ['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'];

describe('mongooseOptions', () => {
  it.each(MODES)('reads the primary with MONGODB_READ_PREFERENCE=%s (only list queries use it)', (mode) => {
    const options = mongooseOptions(loadConfig({ MONGODB_READ_PREFERENCE: mode }), steps);
    expect(options.readPreference).toBe('primary');
  });

  it('wins over a readPreference in MONGODB_URI', async () => {
    const uri = 'mongodb://127.0.0.1:1/vesta?readPreference=secondaryPreferred';
    const options = mongooseOptions(loadConfig({ MONGODB_URI: uri }), steps);
    // The driver merges URI and options the same way for mongoose; no connection is opened here.
    const client = new mongo.MongoClient(uri, { readPreference: options.readPreference });
    expect(client.readPreference.mode).toBe('primary');
    await client.close();
  });
});
