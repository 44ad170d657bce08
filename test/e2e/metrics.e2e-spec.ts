import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { login, registerAccount } from '../factories/accounts.js';
import { parsePrometheusText, scrapedValue, seriesCount } from '../support/prometheus-text.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testConfig } from '../support/test-env.js';

const ADMIN = { email: `ops-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };

/** Runs `count` GETs with at most `concurrency` in flight. */
async function hammer(baseUrl: string, count: number, path: (i: number) => string, concurrency = 50): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const response = await fetch(`${baseUrl}${path(next++)}`);
        await response.arrayBuffer();
      }
    }),
  );
}

describe('Prometheus metrics', () => {
  let running: RunningApp;
  const scrape = async () => {
    const response = await fetch(`${running.metricsUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    return { families: parsePrometheusText(text), text };
  };

  beforeAll(async () => {
    running = await startApp(testConfig());
  });

  afterAll(async () => {
    await running.close();
  });

  it('never serves metrics on the public port', async () => {
    const response = await fetch(`${running.url}/metrics`);
    expect(response.status).toBe(404);
  });

  it('answers other methods on /metrics with 405 and Allow, and other paths with 404', async () => {
    const post = await fetch(`${running.metricsUrl}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${running.metricsUrl}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toContain('text/plain');
    expect(await head.text()).toBe('');
    expect((await fetch(`${running.metricsUrl}/other`)).status).toBe(404);
  });

  it('answers those 404s and 405s with problems, as every error of the API is answered', async () => {
    for (const [path, method, status] of [
      ['/other?x=1', 'GET', 404],
      ['/metrics', 'POST', 405],
    ] as const) {
      const response = await fetch(`${running.metricsUrl}${path}`, { method });
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
      const problem = (await response.json()) as Record<string, unknown>;
      expect(problem).toMatchObject({
        type: 'about:blank',
        title: status === 404 ? 'Not Found' : 'Method Not Allowed',
        status,
        instance: path.split('?')[0],
      });
      expect(problem.detail).toMatch(/\S/);
    }
  });

  it('counts a request in flight until it ends, also when its client disconnects mid-request', async () => {
    const inFlight = async () =>
      Number((await scrape()).families.get('http_requests_in_flight')?.metrics[0]?.value ?? Number.NaN);
    const member = await registerAccount(running.url);
    const { port } = new URL(running.url);
    // An upload whose body stops arriving: the request stays open until the client goes away.
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /v1/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${member.auth.authorization}\r\n` +
        'Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000\r\n\r\n' +
        '--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' +
        'partial',
    );
    await expect.poll(inFlight, { timeout: 5_000, interval: 100 }).toBe(1);

    socket.destroy();
    await expect.poll(inFlight, { timeout: 5_000, interval: 100 }).toBe(0);
    // A rejected and an answered request leave it at zero too.
    await fetch(`${running.url}/v1/profiles/not-an-id`);
    await fetch(`${running.url}/v1/locations/cities`);
    expect(await inFlight()).toBe(0);
  });

  // Fastify runs onResponse when a reply finishes; a client that leaves first (a phone's timeout, a user who gives up on
  // a hanging read) never gets one, and such requests were missing from every request metric: the slowest requests
  // left no latency sample and the request rate did not see them.
  it('counts a request whose client left before the answer as 499, with the time it waited', async () => {
    const member = await registerAccount(running.url);
    const series = (family: string, le = '') =>
      new RegExp(
        `^http_request_duration_seconds_${family}\\{${le}method="POST",route="/v1/media",status_code="499"\\} (\\d+)`,
        'm',
      );
    const samples = async () => {
      const { text } = await scrape();
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
      const total = scrapedValue(running.metricsUrl, 'http_requests_total', {
        method: 'POST',
        route: '/v1/media',
        status_code: '499',
      });
      return { total: await total, count: value(series('count')), quick: value(series('bucket', 'le="0.25",')) };
    };
    const before = await samples();
    // An upload whose body stops arriving, as in the test above: its client gives up after 300 ms.
    const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /v1/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${member.auth.authorization}\r\n` +
        'Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000\r\n\r\n' +
        '--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' +
        'partial',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();

    await expect.poll(async () => (await samples()).total, { timeout: 5_000, interval: 100 }).toBe(before.total + 1);
    const after = await samples();
    expect(after.count).toBe(before.count + 1);
    // Observed with the 300 ms it waited, not in a bucket below that.
    expect(after.quick).toBe(before.quick);
  });

  // HTTP/1.1 pipelining: Node parses a request sent behind another at once and queues its response until the one before
  // has ended. If the client leaves meanwhile, Node emits 'close' on the response it was writing, never on the one
  // queued behind it: that request stayed in http_requests_in_flight for ever and was in no count.
  it('counts a pipelined request whose client left while it waited behind another, and does not keep it in flight', async () => {
    const member = await registerAccount(running.url);
    const inFlight = async () =>
      Number((await scrape()).families.get('http_requests_in_flight')?.metrics[0]?.value ?? Number.NaN);
    const queued = () =>
      scrapedValue(running.metricsUrl, 'http_requests_total', {
        method: 'GET',
        route: '/v1/plans',
        status_code: '499',
      });
    const before = await queued();
    const body = JSON.stringify({ email: member.email, password: member.password });
    const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    // A login (a password hash: tens of milliseconds) and, behind it on the same connection, a read of the plans.
    socket.write(
      `POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}` +
        'GET /v1/plans HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    );
    await expect.poll(inFlight, { timeout: 5_000, interval: 5 }).toBe(2);
    socket.destroy();

    await expect.poll(queued, { timeout: 5_000, interval: 100 }).toBe(before + 1);
    expect(await inFlight()).toBe(0);
  });

  // A client that pipelines and never reads: the answer Node is writing stalls once the kernel's buffers are full, and
  // the answers behind it end and wait in Node's queue. A request read after that found every answer ended and the
  // connection's list was emptied, though the queued ones were still waiting: when the client left, none of them
  // closed, and each stayed in http_requests_in_flight for ever.
  it('does not keep in flight the answers queued behind one a client never reads, once it leaves', async () => {
    const inFlight = async () =>
      Number((await scrape()).families.get('http_requests_in_flight')?.metrics[0]?.value ?? Number.NaN);
    const documentBytes = (await (await fetch(`${running.url}/docs/openapi.json`)).arrayBuffer()).byteLength;
    // More than the socket buffers can hold: at most tcp_rmem's largest for the client's reads, tcp_wmem's for the
    // server's writes (32 and 4 MiB on this machine), with 8 MiB to spare.
    const largest = (name: string) => Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]);
    const count = Math.ceil((largest('tcp_rmem') + largest('tcp_wmem') + 8 * 1024 * 1024) / documentBytes);
    const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause();
    socket.write('GET /docs/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(count));
    let settled = Number.NaN;
    await expect
      .poll(
        async () => {
          const [previous, now] = [settled, await inFlight()];
          settled = now;
          return now > 0 && now === previous;
        },
        { timeout: 10_000, interval: 250 },
      )
      .toBe(true);
    // One more request on the connection, read once all those answers have ended.
    socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await expect.poll(inFlight, { timeout: 5_000, interval: 50 }).toBe(settled + 1);
    socket.destroy();

    await expect.poll(inFlight, { timeout: 5_000, interval: 100 }).toBe(0);
  });

  it('exposes the HTTP, process, cache, rate-limit, queue, MongoDB and business series', async () => {
    await fetch(`${running.url}/v1/locations/cities`);
    await fetch(`${running.url}/v1/locations/cities`);
    const { families, text } = await scrape();
    for (const name of [
      'http_request_duration_seconds',
      'http_requests_total',
      'http_requests_in_flight',
      'http_active_connections',
      'http_errors_total',
      'http_overload_rejections_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_gc_duration_seconds',
      'cache_hits_total',
      'cache_misses_total',
      'cache_l1_entries',
      'cache_l1_bytes',
      'cache_l1_evictions_total',
      'cache_l1_clears_total',
      'cache_invalidation_listening',
      'rate_limit_rejections_total',
      'rate_limit_local_checks_total',
      'rate_limit_local_evictions_total',
      'log_lines_dropped_total',
      'queue_jobs',
      'queue_job_duration_seconds',
      'mongodb_command_duration_seconds',
      'mongodb_pool_connections',
      'vesta_profiles',
      'vesta_active_subscriptions',
    ]) {
      expect(families.has(name), name).toBe(true);
    }

    expect(families.get('http_request_duration_seconds')!.type).toBe('HISTOGRAM');
    const citiesBuckets = [
      ...text.matchAll(
        /^http_request_duration_seconds_bucket\{le="([^"]+)",method="GET",route="\/v1\/locations\/cities",status_code="200"\} (\d+)$/gm,
      ),
    ];
    expect(citiesBuckets.map((m) => m[1])).toEqual(['0.01', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf']);
    expect(Number(citiesBuckets.at(-1)![2])).toBeGreaterThanOrEqual(2);

    const queues = new Set(families.get('queue_jobs')!.metrics.map((m) => m.labels?.queue));
    expect(queues).toEqual(
      new Set(['profile-views', 'cache-warming', 'media', 'media-cleanup', 'subscriptions', 'backups']),
    );
    // Subscribed to the cache invalidation channel at start; the cities list held in L1.
    expect(text).toMatch(/^cache_invalidation_listening 1$/m);
    expect(text).toMatch(/^cache_l1_entries [1-9]/m);
    // The cities list is one aggregate on a cold cache.
    expect(text).toMatch(/^mongodb_command_duration_seconds_count\{command="aggregate",status="ok"\} [1-9]/m);
  });

  it('has the payment webhook refusals an alert counts from the start, so that increase() sees the first one', async () => {
    const { families } = await scrape();
    const webhookStatuses = families
      .get('http_requests_total')!
      .metrics.filter((m) => m.labels?.route === '/v1/subscriptions/webhooks/:provider' && m.labels.method === 'POST')
      .map((m) => m.labels!.status_code);
    expect(webhookStatuses).toEqual(expect.arrayContaining(['400', '404', '503']));
  });

  // More distinct ids than the series bound, so one series per id would break it. Each read is a database miss
  // (about 3 ms on FerretDB): 10,000 of them took 27 s of the 60 s test timeout, and timed out on a busy machine.
  it('stays under 2,000 series after 3,000 distinct ids and unknown paths, none of them in a label', async () => {
    const ids = Array.from({ length: 3_000 }, () => new Types.ObjectId().toHexString());
    await hammer(running.url, ids.length, (i) => `/v1/profiles/${ids[i]}`);
    await hammer(running.url, 500, (i) => `/no-such-route/${ids[i]}`);
    const { families, text } = await scrape();

    expect(seriesCount(text)).toBeLessThan(2_000);
    expect(text).not.toContain(ids[0]);
    expect(text).not.toContain(ids.at(-1));
    const routes = new Set(families.get('http_requests_total')!.metrics.map((m) => m.labels?.route));
    expect(routes).toContain('/v1/profiles/:id');
    expect(routes).toContain('unmatched');
  });

  it('counts a 405 in http_errors_total as MethodNotAllowedException, not as the 404 it was raised as', async () => {
    const errors = (errorClass: string) =>
      scrapedValue(running.metricsUrl, 'http_errors_total', { class: errorClass, status_code: '405' });
    const before = await errors('MethodNotAllowedException');
    expect((await fetch(`${running.url}/v1/plans`, { method: 'DELETE' })).status).toBe(405);
    expect(await errors('MethodNotAllowedException')).toBe(before + 1);
    expect(await errors('NotFoundException')).toBe(0);
  });

  it('reports the MongoDB pool per server as the driver holds it, never below zero', async () => {
    const server = new URL(requiredEnv('MONGODB_URI')).host;
    const pool = async () =>
      Object.fromEntries(
        (await scrape()).families
          .get('mongodb_pool_connections')!
          .metrics.map((m) => [`${m.labels?.server} ${m.labels?.state}`, Number(m.value)]),
      );
    // Connections opened at start-up (index builds, the first reads) count too.
    const atRest = await pool();
    expect(Object.keys(atRest).sort()).toEqual([`${server} in_use`, `${server} open`]);
    expect(atRest[`${server} open`]).toBeGreaterThanOrEqual(1);
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${running.url}/v1/locations/cities`)));
    const after = await pool();
    expect(after[`${server} in_use`]).toBeGreaterThanOrEqual(0);
    expect(after[`${server} in_use`]).toBeLessThanOrEqual(after[`${server} open`]);
  });

  it('counts the requests Fastify refuses before routing as unmatched, as it counts 404s', async () => {
    const unmatched = { method: 'GET', route: 'unmatched' };
    const refused = [
      ['/v1/profiles/%ZZ', '400'],
      [`/v1/profiles/${'a'.repeat(900)}`, '414'],
    ] as const;
    for (const [path, status] of refused) {
      const before = await scrapedValue(running.metricsUrl, 'http_requests_total', {
        ...unmatched,
        status_code: status,
      });
      expect((await fetch(`${running.url}${path}`)).status).toBe(Number(status));
      const { families, text } = await scrape();
      const total = families
        .get('http_requests_total')!
        .metrics.find((m) => m.labels?.route === 'unmatched' && m.labels.status_code === status);
      expect(Number(total?.value), path).toBe(before + 1);
      expect(text).toMatch(
        new RegExp(
          `^http_request_duration_seconds_count\\{method="GET",route="unmatched",status_code="${status}"\\} [1-9]`,
          'm',
        ),
      );
    }
  });
});

describe('monitoring summary and thresholds', () => {
  const summaryOf = async (running: RunningApp, token: string) => {
    const response = await fetch(`${running.url}/v1/admin/monitoring/summary`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, Record<string, unknown>>;
  };

  it('reports ok under the default thresholds and is for admins only', async () => {
    const running = await startApp(testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }));
    try {
      const member = await registerAccount(running.url);
      const forbidden = await fetch(`${running.url}/v1/admin/monitoring/summary`, { headers: member.auth });
      expect(forbidden.status).toBe(403);

      const summary = await summaryOf(running, await login(running.url, ADMIN.email, ADMIN.password));
      expect(summary.memory).toMatchObject({ state: 'ok', restartAtMb: 1024 });
      expect(summary.memory.heapUsedMb).toBeGreaterThan(1);
      expect(summary.recent).toMatchObject({ errors: 0, errorRatePercent: 0, state: 'ok', windowS: 300 });
      expect(summary.requests.total).toBeGreaterThanOrEqual(3);
      expect(summary.requests.activeConnections).toBeGreaterThanOrEqual(1);
      expect(summary.thresholds).toMatchObject({
        memoryMb: { warn: 800, critical: 900, restart: 1024 },
        cpuPercent: { warn: 70, critical: 85 },
        errorRatePercent: { warn: 5 },
      });
      expect((await fetch(`${running.url}/health/ready`)).status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('switches each state when the limits are set low, and fails readiness above the restart threshold', async () => {
    const running = await startApp(
      testConfig({
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        MONITOR_MEMORY_WARN_MB: '1',
        MONITOR_MEMORY_CRITICAL_MB: '2',
        MONITOR_MEMORY_RESTART_MB: '3',
        MONITOR_CPU_WARN_PERCENT: '0.0001',
        MONITOR_CPU_CRITICAL_PERCENT: '0.0002',
        MONITOR_ERROR_RATE_WARN_PERCENT: '1',
      }),
    );
    try {
      const ready = await fetch(`${running.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { failing: string[] }).failing).toEqual(['memory_heap']);

      const token = await login(running.url, ADMIN.email, ADMIN.password);
      await new Promise((resolve) => setTimeout(resolve, 1_200)); // one CPU sample
      const summary = await summaryOf(running, token);
      expect(summary.memory.state).toBe('critical');
      expect(summary.cpu.state).toBe('critical');
      // The failed readiness probe was a 503 among a handful of requests.
      expect(summary.recent.errors).toBe(1);
      expect(summary.recent.state).toBe('warn');
    } finally {
      await running.close();
    }
  });

  it('answers 503 with Retry-After when overloaded, but keeps answering probes', async () => {
    // Readiness fails first (past 3 MB), as the configuration requires; any heap is past both.
    const running = await startApp(
      testConfig({
        MONITOR_MEMORY_WARN_MB: '1',
        MONITOR_MEMORY_CRITICAL_MB: '2',
        MONITOR_MEMORY_RESTART_MB: '3',
        OVERLOAD_MAX_HEAP_MB: '4',
      }),
    );
    try {
      let response = await fetch(`${running.url}/v1/locations/cities`);
      const deadline = Date.now() + 10_000;
      while (response.status !== 503 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        response = await fetch(`${running.url}/v1/locations/cities`);
      }
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await response.json()) as { detail: string }).detail).toMatch(/Overloaded \(heapUsedBytes\)/);
      expect((await fetch(`${running.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${running.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { failing: string[] }).failing).toEqual(['memory_heap']);

      const families = parsePrometheusText(await (await fetch(`${running.metricsUrl}/metrics`)).text());
      const rejected = families.get('http_overload_rejections_total')!.metrics;
      // One request refused: the loop stopped at it, and the probes that were let through are no refusals.
      expect(rejected.map((m) => [m.labels?.reason, Number(m.value)])).toEqual([['heapUsedBytes', 1]]);
    } finally {
      await running.close();
    }
  });
});

/**
 * The run records are the backups' own bookkeeping, which an operator may edit by hand (mongosh): one that says when a
 * backup finished in text, or its size, made the backup gauges' collect throw, and with it every scrape of /metrics
 * (500) while it was the last successful backup: every series of the instance was gone, not only the backup ones.
 */
describe('backup metrics over a run record edited by hand', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig());
  });

  afterAll(async () => {
    await running.close();
  });

  it('scrapes the other series, leaving out those the record cannot give', async () => {
    const runs = running.app.get<Connection>(getConnectionToken()).db!.collection<{ _id: string }>('backup_runs');
    const startedAt = new Date(Date.now() + 3_600_000);
    const _id = `edited-${Date.now()}`;
    // The database is this Vitest worker's, which later files share: the record must not outlive the test.
    onTestFinished(() => runs.deleteOne({ _id }).then(() => undefined));
    await runs.insertOne({
      _id,
      trigger: 'cli',
      status: 'succeeded',
      startedAt,
      finishedAt: startedAt.toISOString(),
      durationMs: 1_000,
      sizeBytes: '1024',
    } as never);
    const response = await fetch(`${running.metricsUrl}/metrics`);
    expect(response.status).toBe(200);
    const families = parsePrometheusText(await response.text());
    expect(families.has('backup_last_duration_seconds')).toBe(true);
    expect(families.has('vesta_profiles')).toBe(true);
  });
});
