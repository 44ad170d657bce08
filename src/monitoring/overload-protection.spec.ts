import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { registerOverloadProtection } from './overload-protection.js';

/** Keeps the event loop busy, as a long synchronous task would. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/**
 * Keeps the event loop busy for `ms` in slices of `sliceMs`, yielding between them, so that the delay monitor samples
 * each slice as a delay of about `sliceMs`. One block longer than the plugin's one-second sample leaves the monitor no
 * sample at all: the plugin reads that as an infinite delay, and refuses whatever the limit.
 */
async function slowEventLoop(ms: number, sliceMs: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    blockEventLoop(sliceMs);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('overload protection', () => {
  let app: FastifyInstance | undefined;

  afterEach(async () => {
    await app?.close();
  });

  async function statusAfterStall(maxEventLoopDelayMs: string, path = '/ping'): Promise<number> {
    app = Fastify();
    await registerOverloadProtection(
      app,
      loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: maxEventLoopDelayMs }),
      new Registry(),
    );
    // At once, past the plugin's first one-second sample: the sample is the slow loop alone (about 200 ms of delay), not
    // averaged with the short delays measured before it.
    await slowEventLoop(1_300, 200);
    app.get('/ping', () => 'pong');
    app.get('/health/ready', () => 'ready');
    await app.ready();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return (await app.inject(path)).statusCode;
  }

  it('refuses new requests after the event loop stalled past OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', async () => {
    expect(await statusAfterStall('100')).toBe(503);
    await app?.close();
    // The same delay, short of the limit: let through, so the limit is the one configured.
    expect(await statusAfterStall('1000')).toBe(200);
  });

  it('keeps answering the probes, with a query string too', async () => {
    expect(await statusAfterStall('100', '/health/ready?verbose=1')).toBe(200);
  });

  it('never checks the event loop with OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0', async () => {
    expect(await statusAfterStall('0')).toBe(200);
  });
});
