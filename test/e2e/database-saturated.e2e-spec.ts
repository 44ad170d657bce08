import { setTimeout as sleep } from 'node:timers/promises';
import { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';
import { callJson } from '../support/json-call.js';
import { scrapedValue } from '../support/prometheus-text.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/**
 * Every pooled MongoDB connection busy (here the one of a pool of one, held by a request to a frozen server): the
 * operations waiting for a connection fail after MONGODB_WAIT_QUEUE_TIMEOUT_MS, before their request's deadline.
 * Before 2026-12-05 they waited on after the deadline had answered their request 503 ("retry"), and then ran: a
 * load test found sign-ups refused 40 s after the load had stopped, and a write told to retry could land later.
 */
describe('requests while every MongoDB connection is busy', () => {
  let ferret: FerretDbProcess;
  let running: RunningApp;
  let client: mongo.MongoClient;

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
    running = await startApp(
      testConfig({
        MONGODB_URI: ferret.uri,
        MONGODB_MAX_POOL_SIZE: '1',
        MONGODB_WAIT_QUEUE_TIMEOUT_MS: '500',
        HANDLER_TIMEOUT_MS: '3000',
      }),
    );
    client = await mongo.MongoClient.connect(ferret.uri);
  });

  afterAll(async () => {
    ferret?.thaw();
    await client?.close();
    await running?.close();
    await ferret?.dispose();
  });

  it('answers the requests left waiting for a connection 503 at once, and none of them writes later', async () => {
    const account = await registerAccount(running.url);
    const profile = await createProfile(running.url, account, { bio: 'before' });
    const patch = (bio: string) => callJson(running.url, 'PATCH', `/v1/profiles/${profile.id}`, account, { bio });
    const inUse = () => scrapedValue(running.metricsUrl, 'mongodb_pool_connections', { state: 'in_use' });
    // Scraped before the freeze until the pool is idle: a scrape reads the business gauges from the database (at most
    // every 30 s), and that read must not be the one holding the connection.
    await expect.poll(inUse, { timeout: 5_000 }).toBe(0);
    await ferret.freeze();
    let waiting: Awaited<ReturnType<typeof patch>>;
    let holding: Awaited<ReturnType<typeof patch>>;
    try {
      // Takes the pool's one connection, and hangs on it until the deadline answers it.
      const first = patch('first');
      await expect.poll(inUse, { timeout: 5_000 }).toBe(1);
      waiting = await patch('late');
      holding = await first;
    } finally {
      ferret.thaw();
    }
    expect(waiting.status).toBe(503);
    expect(waiting.headers.get('retry-after')).not.toBeNull();
    // The pool's refusal, not the deadline's "No answer within 3000 ms".
    expect(waiting.body.detail).toBe('The database is not answering; retry in a few seconds');
    expect(holding.status).toBe(503);
    expect(holding.body.detail).toBe('No answer within 3000 ms; retry in a few seconds');

    // The frozen server answers the held request now; had the waiting one queued on, its write would follow it.
    const profiles = client.db().collection<{ bio?: string }>('profiles');
    const storedBio = async () => (await profiles.findOne({ _id: new mongo.ObjectId(profile.id) }))?.bio;
    await expect.poll(storedBio, { timeout: 5_000 }).toBe('first');
    await sleep(1_000);
    expect(await storedBio()).toBe('first');
  }, 30_000);
});
