/**
 * `npm run bench`: throughput and latency of the cached profile read against a bare Fastify
 * baseline measured in the same run, plus the L1 hit ratio under a Zipf workload. Not a test:
 * it prints ratios for docs/performance.md. The runs alternate over BENCH_ROUNDS rounds and the
 * medians count, since one 10 s run on a shared 2-core machine can be off by a factor of two. Needs MONGODB_URI / REDIS_URL (scripts/with-services.sh).
 */
import autocannon from 'autocannon';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import type { ProfileRecord } from '../src/profiles/profiles.repository.js';
import { countFromEnv } from './env.js';
import { l1HitRatio, profileCacheEntry, ZIPF_KEYS } from './l1-hit-ratio.js';
import { runMeasured } from './latency.js';
import { freePort, mainThreadCpuS, startNode, stop } from './processes.js';

const DURATION_S = countFromEnv('BENCH_DURATION_S', 10);
const WARMUP_S = 3;
/** Each run is repeated this many times, the runs of a round back to back; medians are reported. */
const ROUNDS = countFromEnv('BENCH_ROUNDS', 3);
const CONNECTIONS = 50;
const PROFILES = countFromEnv('BENCH_PROFILES', 10_000);

const { MongoClient } = mongoose.mongo;
type MongoClient = InstanceType<typeof MongoClient>;

interface Result {
  name: string;
  rps: number;
  /** Latency percentiles in ms, to the microsecond (see runMeasured). */
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** The server's main-thread CPU per answered request, in µs (undefined where /proc is missing). */
  cpuUs?: number;
}

interface Target {
  name: string;
  url: string;
  /** The server's process id, for its CPU time. */
  pid: number | undefined;
  /** Per-request path (the cold run walks through the ids); otherwise every request asks for `url`. */
  paths?: () => string;
}

async function load({ name, url, pid, paths }: Target, headers: Record<string, string>): Promise<Result> {
  const options = {
    url,
    connections: CONNECTIONS,
    headers,
    ...(paths && { requests: [{ setupRequest: (request: autocannon.Request) => ({ ...request, path: paths() }) }] }),
  };
  // JIT compilation and first connections happen here, not in the measured seconds (they cost Nest far more than bare Fastify).
  await autocannon({ ...options, duration: WARMUP_S });
  const cpuBefore = mainThreadCpuS(pid);
  const { result, p50, p99 } = await runMeasured({ ...options, duration: DURATION_S });
  const cpuAfter = mainThreadCpuS(pid);
  const answered = result.requests.total;
  return {
    name,
    rps: result.requests.average,
    p50,
    p99,
    // autocannon's `errors` already counts the timeouts.
    errors: result.errors,
    non2xx: result.non2xx,
    ...(cpuBefore !== undefined &&
      cpuAfter !== undefined &&
      answered > 0 && { cpuUs: ((cpuAfter - cpuBefore) * 1e6) / answered }),
  };
}

async function main(): Promise<void> {
  const mongoBase = new URL(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/vesta');
  mongoBase.pathname = `/vesta_bench_${Date.now()}`;
  const env = {
    NODE_ENV: 'production',
    MONGODB_URI: mongoBase.toString(),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `vesta-bench-${randomUUID().slice(0, 8)}:`,
    JWT_SECRET: randomUUID() + randomUUID(),
    LOG_LEVEL: 'info',
    METRICS_PORT: '0',
    SHUTDOWN_DRAIN_MS: '0',
    ROLE: 'api',
    // Limiting runs on every request as in production, with limits this run never reaches.
    THROTTLE_USER_LIMIT: '1000000000',
    THROTTLE_ANONYMOUS_LIMIT: '1000000000',
  };

  console.log(`Seeding ${PROFILES} profiles into ${mongoBase.pathname.slice(1)} ...`);
  execFileSync(process.execPath, ['dist/seed/seed.js', '--profiles', String(PROFILES)], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const mongo = await MongoClient.connect(env.MONGODB_URI);
  const ids = (
    await mongo
      .db()
      .collection('profiles')
      .find({ visibility: 'public' }, { projection: { _id: 1 } })
      .toArray()
  ).map((d) => String(d._id));

  const processes: ChildProcess[] = [];
  // Every server runs for the whole benchmark (idle ones cost nothing), so rounds can alternate between them.
  const start = async (
    script: string,
    extraEnv: Record<string, string>,
    readyPath: string,
  ): Promise<{ url: string; pid: number | undefined }> => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = await startNode(script, [], { ...env, ...extraEnv, PORT: String(port) }, url, readyPath);
    processes.push(child);
    return { url, pid: child.pid };
  };
  try {
    const api = await start('dist/main.js', {}, '/health/ready');
    const apiL1Off = await start('dist/main.js', { CACHE_L1_ENABLED: 'false' }, '/health/ready');
    // (e) is (b) without rate limiting and per-request HTTP metrics: their cost is 1 - (b) / (e).
    const apiUnmetered = await start(
      'dist/main.js',
      { THROTTLE_ENABLED: 'false', HTTP_METRICS_ENABLED: 'false' },
      '/health/ready',
    );
    const register = await fetch(`${api.url}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `bench-${randomUUID()}@example.test`, password: 'benchmark password' }),
    });
    // Without a token, runs (b), (c) and (e) would measure fast 401s and could pass.
    if (!register.ok)
      throw new Error(`Signing up the benchmark's member failed: ${register.status} ${await register.text()}`);
    const { accessToken } = (await register.json()) as { accessToken: string };
    const headers = { authorization: `Bearer ${accessToken}`, 'accept-encoding': 'identity' };
    const hot = ids[0];
    const payload = await (await fetch(`${api.url}/v1/profiles/${hot}`, { headers })).text();
    const bare = await start('dist-bench/bench/bare-server.js', { BENCH_PAYLOAD: payload }, '/payload');
    const hooks = await start('dist-bench/bench/api-hooks-server.js', { BENCH_PAYLOAD: payload }, '/payload');

    let next = 1;
    const targets: Target[] = [
      { name: '(a) bare Fastify, same payload', url: `${bare.url}/payload`, pid: bare.pid },
      { name: "(f) (a) + the API's hooks and plugins", url: `${hooks.url}/payload`, pid: hooks.pid },
      { name: '(b) GET /v1/profiles/:id, L1 hit', url: `${api.url}/v1/profiles/${hot}`, pid: api.pid },
      {
        name: '(c) GET /v1/profiles/:id, L1 off (Redis hit)',
        url: `${apiL1Off.url}/v1/profiles/${hot}`,
        pid: apiL1Off.pid,
      },
      {
        name: '(e) (b) without rate limiting, HTTP metrics',
        url: `${apiUnmetered.url}/v1/profiles/${hot}`,
        pid: apiUnmetered.pid,
      },
      {
        name: '(d) GET /v1/profiles/:id, cold (miss)',
        url: api.url,
        pid: api.pid,
        paths: () => `/v1/profiles/${ids[next++ % ids.length]}`,
      },
    ];
    const rounds: Result[][] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      console.log(`Round ${round} of ${ROUNDS} ...`);
      const results: Result[] = [];
      for (const target of targets) results.push(await load(target, headers));
      rounds.push(results);
    }
    if (next > ids.length) console.log(`note: the cold run wrapped around ${ids.length} ids; later requests were hits`);

    const zipf = await zipfHitRatio(mongo);
    report(rounds, zipf);
  } finally {
    for (const child of processes) await stop(child);
    await mongo.db().dropDatabase();
    await mongo.close();
    await deleteKeys(env.REDIS_URL, env.REDIS_KEY_PREFIX);
  }
}

/** Leaves the shared Redis as it was: every key under this run's prefix goes. */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}

/** The Zipf simulation of the L1 over real profiles (l1-hit-ratio.ts). */
async function zipfHitRatio(mongo: MongoClient): Promise<{ ratio: number; entries: number; avgBytes: number }> {
  const docs = await mongo.db().collection<ProfileRecord>('profiles').find({}).limit(2_000).toArray();
  return l1HitRatio(docs.map(profileCacheEntry));
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One row per run: medians over the rounds, and the spread of the per-round ratios to (a) (same round, minutes apart at most). */
function report(rounds: Result[][], zipf: { ratio: number; entries: number; avgBytes: number }): void {
  const names = rounds[0].map((r) => r.name);
  const all = (name: string) => rounds.map((round) => round.find((r) => r.name === name)!);
  const ratios = (name: string) => rounds.map((round) => round.find((r) => r.name === name)!.rps / round[0].rps);
  const summary = names.map((name) => {
    const runs = all(name);
    return {
      name,
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      failures: runs.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      ratioRange: [Math.min(...ratios(name)), Math.max(...ratios(name))],
      cpuUs: runs.every((r) => r.cpuUs !== undefined) ? median(runs.map((r) => r.cpuUs!)) : undefined,
    };
  });
  const byName = (prefix: string) => summary.find((r) => r.name.startsWith(prefix))!;
  const base = summary[0];
  console.log(
    `\nVesta API benchmark — ${new Date().toISOString()} — ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}`,
  );
  console.log(
    `autocannon: ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s per run, ${rounds.length} rounds (medians); MongoDB-wire server at ${new URL(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017').host} (FerretDB unless MONGODB_URI points elsewhere)\n`,
  );
  console.log(
    'run'.padEnd(46),
    'req/s'.padStart(9),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'x (a) req/s'.padStart(12),
    'per round'.padStart(12),
    'errors'.padStart(7),
    'CPU µs/req'.padStart(11),
    'x (a) CPU'.padStart(10),
  );
  for (const r of [...summary].sort((x, y) => x.name.localeCompare(y.name))) {
    console.log(
      r.name.padEnd(46),
      r.rps.toFixed(0).padStart(9),
      r.p50.toFixed(1).padStart(8),
      r.p99.toFixed(1).padStart(8),
      (r.rps / base.rps).toFixed(2).padStart(12),
      r.ratioRange
        .map((x) => x.toFixed(2))
        .join('–')
        .padStart(12),
      String(r.failures).padStart(7),
      (r.cpuUs?.toFixed(0) ?? '-').padStart(11),
      (r.cpuUs && base.cpuUs ? (r.cpuUs / base.cpuUs).toFixed(2) : '-').padStart(10),
    );
  }
  console.log('\nreq/s per round:');
  for (const name of names)
    console.log(
      `  ${name.padEnd(46)} ${all(name)
        .map((r) => r.rps.toFixed(0).padStart(7))
        .join('')}`,
    );
  const b = byName('(b)');
  const c = byName('(c)');
  const e = byName('(e)');
  const f = byName('(f)');
  const limitingAndMetricsCost = 1 - b.rps / e.rps;
  const failed = summary.filter((r) => r.failures > 0).map((r) => r.name.slice(0, 3));
  const checks = [
    // A run with errors or non-2xx answers measured something else than the cached read.
    [`every run answered 2xx without errors${failed.length ? ` (not ${failed.join(', ')})` : ''}`, failed.length === 0],
    ['(b) >= 0.5 x (a) req/s', b.rps >= 0.5 * base.rps],
    ['(b) p99 <= 2 x (a) p99', b.p99 <= 2 * base.p99],
    ['(c) >= 0.35 x (a) req/s', c.rps >= 0.35 * base.rps],
    [
      `rate limiting + HTTP metrics cost ${(100 * limitingAndMetricsCost).toFixed(1)} % <= 20 % of (e) req/s`,
      limitingAndMetricsCost <= 0.2,
    ],
    [
      `L1 hit ratio ${zipf.ratio.toFixed(3)} >= 0.95 (Zipf s=1, ${ZIPF_KEYS} keys, 50 MB, ${zipf.entries} entries of ~${Math.round(zipf.avgBytes)} B)`,
      zipf.ratio >= 0.95,
    ],
  ] as const;
  console.log('');
  for (const [label, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${label}`);
  if (b.cpuUs && f.cpuUs && base.cpuUs)
    console.log(
      `note  CPU µs per request on the server's main thread (the one running all its JavaScript): (a) ${base.cpuUs.toFixed(0)}, (f) ${f.cpuUs.toFixed(0)}, (b) ${b.cpuUs.toFixed(0)}. While the server's thread is the bottleneck, 0.5 x (a) req/s allows at most about 2 x (a)'s CPU per request.`,
    );
  console.log(
    `note  (f), Fastify with the API's own hooks and plugins but no Nest, reached ${(f.rps / base.rps).toFixed(2)} x (a): the ceiling of any route behind them`,
  );
}

await main();
