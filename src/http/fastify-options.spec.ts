import { fastify } from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { fastifyOptions } from './fastify-options.js';

describe('fastifyOptions', () => {
  it("gives Node's server the timeouts of the longest configuration the settings take", async () => {
    // Node refuses a server whose headersTimeout is above the requestTimeout it is created with (300 s unless given).
    const config = loadConfig({ REQUEST_TIMEOUT_MS: '600000', HANDLER_TIMEOUT_MS: '300000' });
    const app = fastify(fastifyOptions(config));
    try {
      expect(app.server.headersTimeout).toBe(600_000);
      expect(app.server.requestTimeout).toBe(900_000);
    } finally {
      await app.close();
    }
  });
});
