import { Agent, get } from 'node:http';
import { expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { startApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

// A keep-alive connection still sending a response when close() starts must not hold the shutdown
// until KEEP_ALIVE_TIMEOUT_MS (65 s here) once that response is done.
it('closes within seconds when a keep-alive download is still streaming as close starts', async () => {
  const running = await startApp(testConfig());
  const member = await registerAccount(running.url);
  // 8 MiB: more than loopback socket buffers hold, so the response is still going while the client waits.
  const png = pngStructure(8 * 2 ** 20);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png)]), 'big.png');
  const upload = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
  expect(upload.status).toBe(201);
  const { id } = (await upload.json()) as { id: string };

  const agent = new Agent({ keepAlive: true });
  const received = await new Promise<{ bytes: number; closed: Promise<string> }>((resolve, reject) => {
    get(`${running.url}/v1/media/${id}`, { agent }, (response) => {
      response.pause();
      // Start closing while the body is still on its way, then read the rest.
      const closed = running.close().then(() => 'closed');
      setTimeout(() => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => resolve({ bytes, closed }));
        response.resume();
      }, 300);
    }).on('error', reject);
  });
  expect(received.bytes).toBe(png.length);
  const outcome = await Promise.race([
    received.closed,
    new Promise<string>((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000)),
  ]);
  agent.destroy();
  expect(outcome).toBe('closed');
}, 30_000);
