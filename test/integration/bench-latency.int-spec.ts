import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeasured } from '../../bench/latency.js';

describe('npm run bench latency figures', () => {
  // Answers after about 2 ms (a timer may fire a little early): autocannon's histogram cuts off each fraction.
  const server = createServer((_request, response) => setTimeout(() => response.end('ok'), 2));
  let url: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => server.close());

  it('keeps the p50 and p99 to the microsecond, not in the whole milliseconds of autocannon’s histogram', async () => {
    const { result, p50, p99 } = await runMeasured({ url, connections: 2, duration: 1 });
    expect(result.requests.total).toBeGreaterThan(100);
    expect(p50).toBeGreaterThan(1);
    expect(p99).toBeGreaterThanOrEqual(p50);
    // autocannon's own figures are whole milliseconds, cut off: never above what was measured.
    expect(result.latency.p99).toBeLessThanOrEqual(p99);
    expect([p50, p99].every(Number.isInteger)).toBe(false);
  });
});
