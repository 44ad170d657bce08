import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { download } from '../../bench/download.js';
import { firstBytesMs } from '../../bench/first-bytes.js';

describe('npm run bench:media figures', () => {
  it('gives the median first-byte time by nearest rank, not the next one up', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(firstBytesMs(hundred)).toEqual({ p50: 50, max: 100 });
    // Of two downloads the p50 is the faster: n / 2 made it the max.
    expect(firstBytesMs([30, 10])).toEqual({ p50: 10, max: 30 });
    expect(firstBytesMs([7])).toEqual({ p50: 7, max: 7 });
  });
});

describe('npm run bench:media downloads', () => {
  it('counts a download the server cuts off halfway as incomplete instead of ending the benchmark', async () => {
    // What a download gets when the API gives up on its chunk reads after the status line has gone out.
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': 1000 });
      response.write(Buffer.alloc(500), () => setTimeout(() => response.destroy(), 20));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await expect(download(`http://127.0.0.1:${port}/`)).resolves.toMatchObject({ status: 200, bytes: 500 });
    } finally {
      server.close();
    }
  });
});
