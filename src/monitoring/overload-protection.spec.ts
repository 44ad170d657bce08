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
    // At once, past the plugin's first one-second sample: the sample is the stall alone, not averaged with the
    // short delays measured before it.
    blockEventLoop(1_300);
    app.get('/ping', () => 'pong');
    app.get('/health/ready', () => 'ready');
    await app.ready();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return (await app.inject(path)).statusCode;
  }

  it('refuses new requests after the event loop stalled past OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', async () => {
    expect(await statusAfterStall('1000')).toBe(503);
  });

  it('keeps answering the probes, with a query string too', async () => {
    expect(await statusAfterStall('1000', '/health/ready?verbose=1')).toBe(200);
  });

  it('never checks the event loop with OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0', async () => {
    expect(await statusAfterStall('0')).toBe(200);
  });
});
