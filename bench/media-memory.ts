/**
 * `npm run bench:media`: memory of the API process while many clients download one large file at
 * once (the media issue: it must stay flat). Not a test: it prints figures for docs/performance.md.
 * Needs MONGODB_URI / REDIS_URL (scripts/with-services.sh).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import mongoose from 'mongoose';
import sharp from 'sharp';
import { countFromEnv } from './env.js';
import { download } from './download.js';
import { firstBytesMs } from './first-bytes.js';
import { freePort, startNode, stop } from './processes.js';

const CLIENTS = countFromEnv('BENCH_MEDIA_CLIENTS', 100);
const FILE_MB = countFromEnv('BENCH_MEDIA_FILE_MB', 20);

/** Resident memory of a process, from /proc (Linux). */
const rssMb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** An uncompressed PNG of noise, about `mb` MiB: a real image, so the upload passes sniffing as users' do. */
async function largePng(mb: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt((mb * 1024 * 1024) / 3));
  const pixels = Buffer.alloc(side * side * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 2_654_435_761) >>> 24;
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

async function main(): Promise<void> {
  const mongoBase = new URL(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/vesta');
  mongoBase.pathname = `/vesta_bench_media_${Date.now()}`;
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const env = {
    NODE_ENV: 'production',
    PORT: String(port),
    MONGODB_URI: mongoBase.toString(),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `vesta-bench-${randomUUID().slice(0, 8)}:`,
    JWT_SECRET: randomUUID() + randomUUID(),
    LOG_LEVEL: 'warn',
    METRICS_PORT: '0',
    SHUTDOWN_DRAIN_MS: '0',
    ROLE: 'api',
    MEDIA_MAX_BYTES: String((FILE_MB + 1) * 1024 * 1024),
    THROTTLE_ANONYMOUS_LIMIT: '1000000000',
  };
  const file = await largePng(FILE_MB);
  const child = await startNode('dist/main.js', [], env, api, '/health/ready');
  try {
    const register = await fetch(`${api}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `bench-${randomUUID()}@example.test`, password: 'benchmark password' }),
    });
    const { accessToken } = (await register.json()) as { accessToken: string };
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(file)]), 'large.png');
    const uploaded = await fetch(`${api}/v1/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
      body: form,
    });
    if (uploaded.status !== 201) throw new Error(`upload failed: ${uploaded.status} ${await uploaded.text()}`);
    const { id } = (await uploaded.json()) as { id: string };
    const url = `${api}/v1/media/${id}`;

    const pid = child.pid!;
    if ((await download(url)).bytes !== file.length) throw new Error('warm-up download was incomplete');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: CLIENTS }, () => download(url)));
    const sizes = answers.map((answer) => answer.bytes);
    // An incomplete download is either cut or answered with an error, such as a 503 at the request's deadline.
    const statuses = new Map<number, number>();
    for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const incomplete = sizes.filter((size) => size !== file.length).length;
    const totalMb = sizes.reduce((sum, size) => sum + size, 0) / 2 ** 20;

    console.log(
      `\nVesta API media memory — ${new Date().toISOString()} — ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}`,
    );
    console.log(`MongoDB-wire server at ${mongoBase.host}; one ${(file.length / 2 ** 20).toFixed(1)} MiB file\n`);
    console.log(`concurrent downloads      ${CLIENTS} (${incomplete} incomplete)`);
    console.log(
      `statuses                  ${[...statuses].map(([status, count]) => `${status} × ${count}`).join(', ')}`,
    );
    // The status line goes out with the first chunk: until then a download waits for its lookup and that chunk.
    const firstBytes = firstBytesMs(answers.map((answer) => answer.headersMs));
    console.log(`first bytes after         p50 ${firstBytes.p50.toFixed(0)} ms, max ${firstBytes.max.toFixed(0)} ms`);
    console.log(`bytes sent                ${totalMb.toFixed(0)} MiB in ${seconds.toFixed(1)} s`);
    console.log(`API RSS before            ${before.toFixed(0)} MiB`);
    console.log(`API RSS peak during       ${peak.toFixed(0)} MiB (+${(peak - before).toFixed(0)} MiB)`);
    console.log(`peak growth per download  ${((peak - before) / CLIENTS).toFixed(2)} MiB`);
  } finally {
    await stop(child);
    const mongo = await mongoose.mongo.MongoClient.connect(env.MONGODB_URI);
    await mongo.db().dropDatabase();
    await mongo.close();
  }
}

await main();
