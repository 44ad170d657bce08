import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/app-config.js';
import { registerAccount, uniqueEmail, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { scrapedValue } from '../support/prometheus-text.js';
import { rawRequest } from '../support/raw-http.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testConfig } from '../support/test-env.js';

describe('profile reads while the database is down', () => {
  let ferret: FerretDbProcess;
  let config: AppConfig;
  let running: RunningApp;
  let redis: Redis;

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
    // Only Redis holds entries, so the test can age them there.
    config = testConfig({
      MONGODB_URI: ferret.uri,
      MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000',
      CACHE_L1_ENABLED: 'false',
      HANDLER_TIMEOUT_MS: '2000',
    });
    running = await startApp(config);
    redis = new Redis(requiredEnv('REDIS_URL'));
  });

  afterAll(async () => {
    redis?.disconnect();
    await running?.close();
    await ferret?.dispose();
  });

  /** Makes a cached profile look as if its TTL had passed, as it would after 5 minutes. */
  /** Whether the reload failed or was only slow depends on how fast the driver notices the outage. */
  const staleAnswers = async () =>
    (await scrapedValue(running.metricsUrl, 'cache_stale_served_total', { reason: 'slow' })) +
    (await scrapedValue(running.metricsUrl, 'cache_stale_served_total', { reason: 'failed' }));
  const keyOf = (profileId: string) => `${config.redis.keyPrefix}cache:profile:${profileId}`;
  const storedEntry = async (profileId: string) =>
    JSON.parse((await redis.get(keyOf(profileId))) ?? 'null') as { exp: number } | null;
  const expire = async (profileId: string) => {
    const entry = await storedEntry(profileId);
    expect(entry).not.toBeNull();
    await redis.set(keyOf(profileId), JSON.stringify({ ...entry, exp: Date.now() - 1_000 }), 'KEEPTTL');
  };

  /** The time a request took, its status, and the problem it got with its Retry-After. */
  const timed = async (path: string, init: RequestInit = {}) => {
    const started = Date.now();
    // Well past HANDLER_TIMEOUT_MS, well short of MONGODB_SOCKET_TIMEOUT_MS (45 s).
    const response = await fetch(`${running.url}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
    const problem = response.headers.get('content-type')?.startsWith('application/problem+json')
      ? ((await response.json()) as { detail: string })
      : undefined;
    return {
      ms: Date.now() - started,
      status: response.status,
      detail: problem?.detail,
      retryAfter: response.headers.get('retry-after'),
    };
  };

  it('answers from the expired cache entry at once while the database hangs, and from the database once it is back', async () => {
    const owner = await registerAccount(running.url);
    const profile = await createProfile(running.url, owner);
    const unread = await createProfile(running.url, await registerAccount(running.url));
    await secondInvalidationsDone(); // or it drops the entries read below
    const uploadImage = async () => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(pngStructure(1_000))], { type: 'image/png' }), 'photo.png');
      const upload = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: owner.auth, body: form });
      return (await upload.json()) as { id: string };
    };
    const media = await uploadImage();
    // Downloaded once, so its record is cached: a download of it needs the database only for the bytes.
    const cachedMedia = await uploadImage();
    expect((await fetch(`${running.url}/v1/media/${cachedMedia.id}`)).status).toBe(200);
    const shown: unknown = await (await fetch(`${running.url}/v1/profiles/${profile.id}`)).json();
    await expire(profile.id);

    await ferret.freeze();
    try {
      // CACHE_SOFT_TIMEOUT_MS (250 ms) later; without the entry it would wait for MONGODB_SOCKET_TIMEOUT_MS (45 s).
      const during = await fetch(`${running.url}/v1/profiles/${profile.id}`, { signal: AbortSignal.timeout(10_000) });
      expect(during.status).toBe(200);
      expect(await during.json()).toEqual(shown);
      // Metrics matter most now: a scrape reads the business gauges from the database, and must not hang with it.
      const scrape = await fetch(`${running.metricsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
      expect(scrape.status).toBe(200);
      expect(await staleAnswers()).toBe(1);

      // Without a cached entry a read waits for the database, and so do a write and a download, until
      // HANDLER_TIMEOUT_MS (2 s here, 10 s by default). A download whose record is cached waits as long for its first
      // chunk, since the database answers nothing else meanwhile. An operation that finds no pooled connection free
      // (each one is held by a request to the hung server, or still opening) gives up after
      // MONGODB_WAIT_QUEUE_TIMEOUT_MS, the deadline by default, and its answer may come first; which ones find none
      // depends on the pool's state.
      const answers = await Promise.all([
        timed(`/v1/profiles/${unread.id}`),
        timed('/v1/auth/register', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: uniqueEmail(), password: 'correct horse battery staple' }),
        }),
        timed(`/v1/media/${media.id}`),
        timed(`/v1/media/${cachedMedia.id}`),
      ]);
      const waited = 'No answer within 2000 ms; retry in a few seconds';
      const noBytes = 'The database answered nothing for 2000 ms while the file was read; retry in a few seconds';
      const noConnection = 'The database is not answering; retry in a few seconds';
      for (const answer of answers.slice(0, 3)) expect([waited, noConnection]).toContain(answer.detail);
      expect([noBytes, noConnection]).toContain(answers[3].detail);
      for (const answer of answers) {
        expect(answer).toMatchObject({ status: 503, retryAfter: '5' });
        expect(answer.ms).toBeGreaterThanOrEqual(1_900);
        expect(answer.ms).toBeLessThan(5_000);
      }
      const counted = (className: string) =>
        scrapedValue(running.metricsUrl, 'http_errors_total', { class: className, status_code: '503' });
      const answered = (detail: string) => answers.filter((answer) => answer.detail === detail).length;
      expect(await counted('DeadlineExceededException')).toBe(answered(waited));
      expect(await counted('ChunkReadTimeoutError')).toBe(answered(noBytes));
      expect(await counted('WaitQueueTimeoutError')).toBe(answered(noConnection));
    } finally {
      ferret.thaw();
    }
    // Readers bring the entry up to date once the database answers again.
    await expect
      .poll(
        async () => {
          await fetch(`${running.url}/v1/profiles/${profile.id}`);
          return (await storedEntry(profile.id))!.exp > Date.now();
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(true);
  });

  /**
   * Sends a batch of a cached profile and one never read while the database hangs, its body `bodyDelayMs` after its
   * headers; expects the cached item's 200 and the other's own 503, before the batch's deadline.
   */
  const batchWhileTheDatabaseHangs = async (bodyDelayMs: number) => {
    const read = await createProfile(running.url, await registerAccount(running.url));
    const unread = await createProfile(running.url, await registerAccount(running.url));
    // Read after the creates' second invalidation, which would otherwise drop the entry read here.
    await secondInvalidationsDone();
    expect((await fetch(`${running.url}/v1/profiles/${read.id}`)).status).toBe(200);
    const body = JSON.stringify({
      requests: [
        { method: 'GET', path: `/v1/profiles/${read.id}` },
        { method: 'GET', path: `/v1/profiles/${unread.id}` },
      ],
    });

    await ferret.freeze();
    try {
      const started = Date.now();
      const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
      const response = await rawRequest(`${running.url}/v1/batch`, 'POST', headers, body, bodyDelayMs);
      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(5_000);
      const { responses } = JSON.parse(response.body.toString()) as {
        responses: { status: number; body: { id?: string } }[];
      };
      expect(responses.map((item) => item.status)).toEqual([200, 503]);
      expect(responses[0].body.id).toBe(read.id);
    } finally {
      ferret.thaw();
    }
  };

  it('answers a batch while the database hangs: cached items 200, the others 503 each, before the deadline', async () => {
    await batchWhileTheDatabaseHangs(0);
  });

  // Of the batch's 2 s, 1.2 s go to its body: until 2026-12-05 each item still had 1 s, the hung one outlasted the
  // batch's deadline, and the whole batch got a 503, the cached item's answer with it.
  it('gives the items of a batch whose body came late the time the batch has left, and still answers it', async () => {
    await batchWhileTheDatabaseHangs(1_200);
  });

  it('admits a token whose session version is cached while the database hangs; one never checked gets a 503', async () => {
    const profile = await createProfile(running.url, await registerAccount(running.url));
    const [known, unknown] = [await registerAccount(running.url), await registerAccount(running.url)];
    await secondInvalidationsDone();
    const read = (account: Account) => timed(`/v1/profiles/${profile.id}`, { headers: account.auth });
    expect((await read(known)).status).toBe(200); // its session version is cached now, the profile too

    await ferret.freeze();
    try {
      const [admitted, refused] = await Promise.all([read(known), read(unknown)]);
      expect(admitted.status).toBe(200);
      expect(admitted.ms).toBeLessThan(1_000);
      expect(refused).toMatchObject({ status: 503, retryAfter: '5' });
      expect(refused.ms).toBeLessThan(5_000);
    } finally {
      ferret.thaw();
    }
  });

  it('answers from the expired cache entry of a profile read before the outage; one never read gets a 503', async () => {
    const read = await createProfile(running.url, await registerAccount(running.url));
    const unread = await createProfile(running.url, await registerAccount(running.url));
    await secondInvalidationsDone();
    const before = await fetch(`${running.url}/v1/profiles/${read.id}`);
    expect(before.status).toBe(200);
    const shown: unknown = await before.json();
    await expire(read.id);

    const answeredBefore = await staleAnswers();
    await ferret.kill();
    const during = await fetch(`${running.url}/v1/profiles/${read.id}`);
    expect(during.status).toBe(200);
    expect(await during.json()).toEqual(shown);
    expect(await staleAnswers()).toBe(answeredBefore + 1);

    const missing = await fetch(`${running.url}/v1/profiles/${unread.id}`);
    expect(missing.status).toBe(503);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
