import { connect, createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import autocannon from 'autocannon';
import { registerAccount } from '../factories/accounts.js';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/ports.js';
import { silentServer } from '../support/tcp-stand-ins.js';
import { testEnv } from '../support/test-env.js';

describe('the production process (dist/main.js)', () => {
  let app: AppProcess | undefined;

  afterEach(async () => {
    app?.signal('SIGKILL');
    await app?.exited;
    app = undefined;
  });

  const boot = async (overrides: Record<string, string> = {}) => {
    const booted = await AppProcess.boot((port) => testEnv({ PORT: String(port), LOG_LEVEL: 'info', ...overrides }));
    app = booted.app;
    return booted;
  };

  it('refuses to start on an invalid variable, with one line naming it', async () => {
    app = AppProcess.spawn(testEnv({ PORT: 'eighty' }));
    const { code } = await app.exited;
    expect(code).toBe(1);
    const output = app.stderr.join('').trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toMatch(/^Invalid configuration: PORT .*\(got "eighty"\)$/);
  });

  // Values the schema's prefix check let through: the clients threw them at connect time, as retries with stack
  // traces (MongoDB) or an uncaught error (Redis), and a shared port failed to listen without naming the variable.
  it.each([
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://127.0.0.1/vesta?foo=bar' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://' }],
    ['REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:6379/abc' }],
    ['REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:notaport' }],
    ['METRICS_PORT', { PORT: '38999', METRICS_PORT: '38999' }],
  ])('refuses to start on a %s its client or listener could not use, with one line naming it', async (name, env) => {
    app = AppProcess.spawn(testEnv(env));
    const { code } = await app.exited;
    expect(code).toBe(1);
    expect(app.stdout.join('')).toBe('');
    const output = app.stderr.join('').trim();
    expect(output.split('\n')).toEqual([expect.stringMatching(new RegExp(`^Invalid configuration: ${name} `))]);
  });

  it("writes Nest's own log lines as JSON through the root logger, start-up lines included", async () => {
    const { app } = await boot();
    const deadline = Date.now() + 5_000;
    const find = () => app.logLines().find((entry) => entry.context === 'Bootstrap');
    while (!find() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const line = find();
    expect(line).toMatchObject({ service: 'vesta-api', level: 30 });
    expect(line?.msg).toMatch(/listening on :\d+$/);
    // Logged while Nest was still starting, through the same logger.
    expect(app.logLines().some((entry) => entry.context === 'InstanceLoader' && entry.service === 'vesta-api')).toBe(
      true,
    );
  });

  it('writes why it could not start as JSON lines too, without colour codes (MongoDB unreachable)', async () => {
    // A port nothing listens on: every connection attempt is refused at once, so Mongoose gives up after its retries.
    const closed = await freePort();
    const uri = `mongodb://127.0.0.1:${closed}/vesta`;
    app = AppProcess.spawn(
      testEnv({ MONGODB_URI: uri, MONGODB_SERVER_SELECTION_TIMEOUT_MS: '500', LOG_LEVEL: 'info' }),
    );
    const { code } = await app.exited;
    expect(code).toBe(1);
    const output = app.stdout.join('') + app.stderr.join('');
    // What kubectl logs --previous shows for a pod in CrashLoopBackOff: the log pipeline must parse it like any line.
    expect(output).not.toContain('\x1b[');
    const errors = app.logLines().filter((entry) => entry.level === 50);
    expect(errors.map((entry) => JSON.stringify(entry)).join('\n')).toMatch(/ECONNREFUSED/);
    expect(errors.every((entry) => entry.service === 'vesta-api')).toBe(true);
  }, 120_000);

  it('exits 0 on SIGTERM while still starting, with the lines of its start so far', async () => {
    // A MongoDB that accepts connections and never answers: the app connects to it while it is being built.
    const hung = await silentServer();
    try {
      app = AppProcess.spawn(
        testEnv({
          LOG_LEVEL: 'info',
          MONGODB_URI: `mongodb://127.0.0.1:${hung.port}/vesta`,
          MONGODB_SERVER_SELECTION_TIMEOUT_MS: '60000',
        }),
      );
      await hung.connected;
      app.signal('SIGTERM');
      const { code, signal } = await app.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      const messages = app.logLines().map((entry) => entry.msg);
      expect(messages).toContain('SIGTERM received while starting: exiting');
      expect(messages.length).toBeGreaterThan(1);
    } finally {
      await hung.close();
    }
  });

  it('says in a JSON log line, not a stack trace, that its port or its metrics port is taken, and exits 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const port = String((taken.address() as AddressInfo).port);
    try {
      const cases: Record<string, string>[] = [{ PORT: port }, { PORT: String(await freePort()), METRICS_PORT: port }];
      for (const overrides of cases) {
        app = AppProcess.spawn(testEnv({ LOG_LEVEL: 'info', ...overrides }));
        const { code } = await app.exited;
        expect(code).toBe(1);
        expect(app.stderr.join('')).toBe('');
        const errors = app.logLines().filter((entry) => entry.level === 50);
        // Nest logs a taken PORT itself; the line of ours names the failure whichever port it was.
        expect(errors.map((entry) => entry.msg)).toContainEqual(
          expect.stringMatching(`^Could not start listening: .*EADDRINUSE.*:${port}$`),
        );
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('logs one JSON line per request with id, method, route, status and duration, without credentials', async () => {
    const { app, url } = await boot();
    await fetch(`${url}/docs/openapi.json`, {
      headers: { authorization: 'Bearer top-secret-token', 'x-request-id': 'log-test-1' },
    });
    // Log lines are buffered for up to a second.
    const deadline = Date.now() + 5_000;
    const find = () => app.logLines().find((entry) => entry.reqId === 'log-test-1');
    while (!find() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const line = find();
    expect(line).toMatchObject({ msg: 'request completed', method: 'GET', route: '/docs/openapi.json', status: 200 });
    expect(typeof line?.durationMs).toBe('number');
    expect(app.stdout.join('')).not.toContain('top-secret-token');
  });

  it('keeps a token, password or email a client put in the URL out of the log, and logs the request', async () => {
    const { app, url } = await boot();
    const account = await registerAccount(url, 'url-secrets');
    const password = encodeURIComponent(account.password);
    const email = encodeURIComponent(account.email);
    const sent: [string, number][] = [
      [`/v1/profiles/me?access_token=${account.token}`, 401],
      [`/v1/${account.token}`, 404],
      [`/v1/auth/login?email=${email}&password=${password}`, 405],
    ];
    for (const [index, [path, status]] of sent.entries()) {
      const response = await fetch(`${url}${path}`, { headers: { 'x-request-id': `url-secret-${index}` } });
      expect(response.status, path).toBe(status);
    }
    const deadline = Date.now() + 5_000;
    const lines = () => app.logLines().filter((entry) => String(entry.reqId).startsWith('url-secret-'));
    while (lines().length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(lines().map((line) => line.url)).toEqual([
      '/v1/profiles/me?access_token=[redacted]',
      '/v1/[redacted]',
      '/v1/auth/login?email=[redacted]&password=[redacted]',
    ]);
    const output = app.stdout.join('');
    for (const secret of [account.token, account.password, password, account.email, email]) {
      expect(output).not.toContain(secret);
    }
  });

  it('logs the requests Fastify refuses before routing, as it logs every other request', async () => {
    const { app, url } = await boot();
    const sent: [string, number][] = [
      ['/v1/profiles/%ZZ', 400],
      [`/v1/profiles/${'a'.repeat(900)}`, 414],
    ];
    for (const [index, [path, status]] of sent.entries()) {
      const response = await fetch(`${url}${path}`, { headers: { 'x-request-id': `refused-${index}` } });
      expect(response.status, path).toBe(status);
    }
    const deadline = Date.now() + 5_000;
    const lines = () => app.logLines().filter((entry) => String(entry.reqId).startsWith('refused-'));
    while (lines().length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(lines().map(({ msg, method, status }) => ({ msg, method, status }))).toEqual(
      sent.map(([, status]) => ({ msg: 'request completed', method: 'GET', status })),
    );
  });

  it('logs the requests Node refuses before Fastify sees them (parser errors, an unsupported Expect)', async () => {
    const { app, url } = await boot();
    const { port } = new URL(url);
    // The id each answer carries, which its log line must name.
    const exchange = (raw: string) =>
      new Promise<string | undefined>((resolve, reject) => {
        let received = '';
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(raw));
        socket.on('data', (data: Buffer) => (received += data.toString()));
        socket.on('close', () => resolve(/\r\nx-request-id: ([^\r]+)\r\n/i.exec(received)?.[1]));
        socket.on('error', reject);
      });
    const ids = [
      await exchange(`GET /v1/profiles HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      await exchange('GET /v1/profiles HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'),
      await exchange('GET /v1/profiles?password=hunter2 HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n'),
      await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
    ];
    expect(ids.every((id) => id !== undefined)).toBe(true);
    const deadline = Date.now() + 5_000;
    const lines = () => app.logLines().filter((entry) => entry.msg === 'request refused by the HTTP server');
    while (lines().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const logged = lines().map(({ level, reqId, status, code, method, url }) => ({
      level,
      reqId,
      status,
      code,
      method,
      url,
    }));
    expect(logged).toEqual([
      { level: 40, reqId: ids[0], status: 431, code: 'HPE_HEADER_OVERFLOW', method: undefined, url: undefined },
      { level: 40, reqId: ids[1], status: 400, code: 'HPE_INVALID_HEADER_TOKEN', method: undefined, url: undefined },
      {
        level: 40,
        reqId: ids[2],
        status: 417,
        code: undefined,
        method: 'GET',
        url: '/v1/profiles?password=[redacted]',
      },
      { level: 40, reqId: ids[3], status: 400, code: undefined, method: 'CONNECT', url: 'example.com:443' },
    ]);
  });

  it('logs a request whose client left part-way through its body once, as abandoned, not also as refused', async () => {
    const { app, url } = await boot();
    const { port } = new URL(url);
    // An upload a phone dropped: the head and part of the body, then the connection ends.
    const heads = [
      'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nx-request-id: left-length\r\ncontent-type: application/json\r\n' +
        'content-length: 500\r\n\r\n{"email":"',
      'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nx-request-id: left-chunked\r\ncontent-type: application/json\r\n' +
        'transfer-encoding: chunked\r\n\r\n5\r\n{"ema\r\n',
    ];
    for (const head of heads) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(head);
          setTimeout(() => (socket.destroy(), resolve()), 200);
        });
        socket.on('error', reject);
      });
    }
    const ids = new Set(['left-length', 'left-chunked']);
    const lines = () => app.logLines().filter((entry) => ids.has(String(entry.reqId)));
    await expect.poll(() => lines().length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    // Lines of one moment are written together; give a second line of either request time to show.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(lines().map(({ reqId, msg, status }) => ({ reqId, msg, status }))).toEqual([
      { reqId: 'left-length', msg: 'request abandoned', status: 499 },
      { reqId: 'left-chunked', msg: 'request abandoned', status: 499 },
    ]);
  });

  it('drains on SIGTERM under steady load: no failed request, readiness 503, exit 0 within the grace period', async () => {
    const drainMs = 3_000;
    const graceMs = 10_000;
    const { app, url } = await boot({ SHUTDOWN_DRAIN_MS: String(drainMs), SHUTDOWN_GRACE_MS: String(graceMs) });

    // Load for 2 s; SIGTERM lands 0.5 s in. The load stops inside the drain window, as a load
    // balancer stops routing once readiness fails.
    const load = autocannon({ url: `${url}/health/live`, connections: 20, duration: 2 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const signalledAt = performance.now();
    app.signal('SIGTERM');

    await new Promise((resolve) => setTimeout(resolve, 200));
    const readiness = await fetch(`${url}/health/ready`);
    expect(readiness.status).toBe(503);
    expect(await readiness.json()).toMatchObject({ failing: ['shutdown'] });
    expect((await fetch(`${url}/health/live`)).status).toBe(200);

    const result = await load;
    expect(result.requests.total).toBeGreaterThan(100);
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx).toBe(0);

    const exit = await app.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalledAt).toBeGreaterThanOrEqual(drainMs);
    expect(exit.at - signalledAt).toBeLessThan(graceMs);
  });

  it('exits 0 on SIGTERM within the grace period while a client holds a connection it has sent nothing on', async () => {
    const graceMs = 8_000;
    const { app, url } = await boot({ SHUTDOWN_DRAIN_MS: '200', SHUTDOWN_GRACE_MS: String(graceMs) });
    // A browser's preconnect, say: open, and no request yet.
    const silent = connect(Number(new URL(url).port), '127.0.0.1');
    silent.on('error', () => undefined);
    await new Promise((resolve) => silent.once('connect', resolve));
    try {
      const signalledAt = performance.now();
      app.signal('SIGTERM');
      const exit = await app.exited;
      expect(app.logLines().map((entry) => entry.msg)).toContain('Shutdown complete');
      expect(exit.code).toBe(0);
      expect(exit.at - signalledAt).toBeLessThan(graceMs);
    } finally {
      silent.destroy();
    }
  });

  it('exits at once on a second SIGTERM', async () => {
    const { app } = await boot({ SHUTDOWN_DRAIN_MS: '20000', SHUTDOWN_GRACE_MS: '30000' });
    app.signal('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const secondAt = performance.now();
    app.signal('SIGTERM');
    const exit = await app.exited;
    expect(exit.code).toBe(1);
    expect(exit.at - secondAt).toBeLessThan(2_000);
  });
});
