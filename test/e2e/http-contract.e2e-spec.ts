import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, STATUS_CODES } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';
import { rawRequest } from '../support/raw-http.js';
import { registerAccount, uniqueEmail } from '../factories/accounts.js';

const PROBLEM_JSON = /^application\/problem\+json/;

describe('HTTP contract: errors, request ids, compression', () => {
  let running: RunningApp;

  beforeAll(async () => {
    // A request head has 3 s here (REQUEST_TIMEOUT_MS), so a test can wait that out.
    running = await startApp(testConfig({ BODY_LIMIT_BYTES: '2048', REQUEST_TIMEOUT_MS: '3000' }));
  });

  afterAll(async () => {
    await running.close();
  });

  const post = (path: string, body: string, contentType = 'application/json') =>
    fetch(`${running.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('answers an unknown route with a 404 problem', async () => {
    const response = await fetch(`${running.url}/v1/no-such-thing?x=1`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
    const problem = (await response.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      instance: '/v1/no-such-thing',
      requestId: response.headers.get('x-request-id'),
      detail: 'Nothing is served at this path',
    });
    // A HEAD gets the headers the GET gets (RFC 9110, section 9.3.2): the same length (each names its own requestId).
    const [get, head] = await Promise.all(
      ['GET', 'HEAD'].map((method) => fetch(`${running.url}/v1/no-such-thing`, { method })),
    );
    expect(head.status).toBe(404);
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
  });

  it('answers a method a route does not take with a 405 problem naming those it does in Allow', async () => {
    for (const [method, path, allow] of [
      ['PUT', '/v1/profiles?city=Berlin', 'GET, HEAD, POST'],
      ['POST', '/v1/profiles/665f1c2e8a1b2c3d4e5f6a7b', 'GET, HEAD, PATCH, DELETE'],
      ['DELETE', '/v1/plans', 'GET, HEAD'],
      ['POST', '/health/live', 'GET, HEAD'],
      // Paths of their own beside /v1/profiles/:id: a PATCH or DELETE of them is the :id route's 400 (not an id).
      ['PUT', '/v1/profiles/me', 'GET, HEAD'],
      ['POST', '/v1/profiles/popular', 'GET, HEAD'],
      // A method Node knows but no route takes reaches the router as any other.
      ['PROPFIND', '/v1/plans', 'GET, HEAD'],
    ]) {
      const response = await fetch(`${running.url}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
      expect(await response.json()).toMatchObject({
        title: 'Method Not Allowed',
        status: 405,
        detail: `${method} is not allowed here; allowed: ${allow}`,
        instance: path.split('?')[0],
      });
    }
    // A path no method serves stays a 404, whatever the method; so does a missing file under a route that takes the
    // method (Swagger UI's static files). A trailing slash leaves the :id of /v1/profiles/:id empty, which the routes
    // answer 404 (Nest passes an empty route parameter to the not-found handler): Allow must not send a client there.
    for (const [method, path] of [
      ['DELETE', '/v1/no-such-thing'],
      ['GET', '/docs/no-such-file.css'],
      ['HEAD', '/docs/no-such-file.css'],
      ['POST', '/v1/profiles/'],
      ['PATCH', '/v1/media/'],
      ['GET', '/v1/subscriptions/webhooks/'],
    ]) {
      const response = await fetch(`${running.url}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.headers.get('allow'), `${method} ${path}`).toBeNull();
    }
  });

  it('answers malformed JSON with a 400 problem, not a 500', async () => {
    const response = await post('/v1/anything', '{"email": "a@b.c",');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(await response.json()).toMatchObject({ status: 400, title: 'Bad Request' });
  });

  it('answers JSON with a __proto__ or constructor.prototype key with a 400 problem saying so, creating nothing', async () => {
    const email = 'proto-key@example.test';
    for (const body of [
      `{"email":"${email}","password":"long enough password","__proto__":{"role":"admin"}}`,
      `{"email":"${email}","password":"long enough password","constructor":{"prototype":{"role":"admin"}}}`,
    ]) {
      const response = await post('/v1/auth/register', body);
      expect(response.status, body).toBe(400);
      expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
      const { detail } = (await response.json()) as { detail: string };
      expect(detail).toContain('"__proto__"');
      expect(detail).toContain('not accepted');
    }
    const register = await post('/v1/auth/register', JSON.stringify({ email, password: 'long enough password' }));
    expect(register.status).toBe(201);
  });

  it('answers a non-JSON body sent to no route, or with a method its path does not take, with 404 or 405, not 415', async () => {
    const missing = await post('/v1/no-such-thing', 'hello', 'text/plain');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(((await missing.json()) as { detail: string }).detail).toBe('Nothing is served at this path');
    const wrongMethod = await post('/v1/plans', 'a=1', 'application/x-www-form-urlencoded');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
  });

  it('takes JSON bodies only: a form or plain-text body gets a 415 problem and changes nothing', async () => {
    const email = 'form-body@example.test';
    const password = 'long enough password';
    for (const [body, contentType] of [
      [
        `email=${encodeURIComponent(email)}&password=${encodeURIComponent(password)}`,
        'application/x-www-form-urlencoded',
      ],
      [JSON.stringify({ email, password }), 'text/plain'],
    ]) {
      const response = await post('/v1/auth/register', body, contentType);
      expect(response.status, contentType).toBe(415);
      expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
      const { detail } = (await response.json()) as { detail: string };
      expect(detail).toBe(`Request bodies are JSON (Content-Type: application/json), not ${contentType}`);
    }
    // A body with no Content-Type at all (fetch sets none for bytes) is told so, not "not this type".
    const unlabelled = await fetch(`${running.url}/v1/auth/register`, {
      method: 'POST',
      body: new TextEncoder().encode(JSON.stringify({ email, password })),
    });
    expect(unlabelled.status).toBe(415);
    expect(((await unlabelled.json()) as { detail: string }).detail).toBe(
      'Request bodies are JSON (Content-Type: application/json); this one has no Content-Type',
    );
    expect((await post('/v1/auth/register', JSON.stringify({ email, password }))).status).toBe(201);

    // No body is no body whatever it is labelled: some clients label every POST as a form or as text.
    for (const contentType of ['application/x-www-form-urlencoded; charset=UTF-8', 'text/plain']) {
      const login = await post('/v1/auth/login', JSON.stringify({ email, password }));
      const { accessToken } = (await login.json()) as { accessToken: string };
      const logout = await fetch(`${running.url}/v1/auth/logout`, {
        method: 'POST',
        headers: { 'content-type': contentType, authorization: `Bearer ${accessToken}` },
      });
      expect(logout.status, contentType).toBe(204);
    }
  });

  it('reads Content-Encoding as a coding of the body: none on a bodiless request, in any case on a JSON body', async () => {
    // Clients that compress every request label a bodiless logout too; gunzip of no bytes failed, so it was a 400
    // "Could not decompress", and a coding named in capitals (case-insensitive, RFC 9110 §8.4.1) was a 415.
    const account = await registerAccount(running.url);
    const logout = await rawRequest(`${running.url}/v1/auth/logout`, 'POST', {
      ...account.auth,
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': '0',
    });
    expect(logout.status, logout.body.toString()).toBe(204);

    const body = gzipSync(JSON.stringify({ email: uniqueEmail(), password: 'correct horse battery staple' }));
    const register = await rawRequest(
      `${running.url}/v1/auth/register`,
      'POST',
      { 'content-type': 'application/json', 'content-encoding': 'GZip', 'content-length': String(body.length) },
      body as unknown as string,
    );
    expect(register.status, register.body.toString()).toBe(201);
  });

  it('says so when the Content-Type is no media type at all, rather than repeating the title', async () => {
    for (const contentType of ['', ';;;', 'application/json, text/plain', 'json']) {
      const response = await rawRequest(
        `${running.url}/v1/auth/login`,
        'POST',
        { 'content-type': contentType, 'content-length': '2' },
        '{}',
      );
      expect(response.status, contentType).toBe(415);
      expect(response.headers['content-type'], contentType).toMatch(PROBLEM_JSON);
      const problem = JSON.parse(response.body.toString()) as { detail: string };
      expect(problem.detail, contentType).toMatch(/Content-Type .*not a media type.*application\/json/);
    }
  });

  it('answers input nested too deep, or text with a lone surrogate or NUL, with a 400 problem, not a 500', async () => {
    const deep = `{"email":"a@b.co","password":"long enough password","x":${'['.repeat(40)}${']'.repeat(40)}}`;
    const cases: [string, string, RegExp][] = [
      ['/v1/auth/login', deep, /nests at most/],
      ['/v1/batch', `{"requests":${'['.repeat(40)}${']'.repeat(40)}}`, /nests at most/],
      // Escaped in the JSON text, as a client would send it: validator's isEmail threw on it (URIError, 500).
      ['/v1/auth/register', '{"email":"a\\ud800@example.com","password":"long enough password"}', /valid Unicode/],
      ['/v1/auth/register', '{"email":"nul\\u0000@example.com","password":"long enough password"}', /NUL/],
    ];
    for (const [path, body, detail] of cases) {
      const response = await post(path, body);
      expect(response.status, body).toBe(400);
      expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
      expect(((await response.json()) as { detail: string }).detail).toMatch(detail);
    }
  });

  it('refuses a JSON body that is not UTF-8 with a 400 problem, creating nothing', async () => {
    const email = 'latin1-body@example.test';
    // "pässwort-geheim" as a Latin-1 client sends it: "ä" is the single byte E4, which is not UTF-8. Decoded as it
    // stood, the byte became U+FFFD and the account was created with a password its owner cannot type.
    const body = Buffer.concat([
      Buffer.from(`{"email":"${email}","password":"p`),
      Buffer.from([0xe4]),
      Buffer.from('sswort-geheim"}'),
    ]);
    const response = await fetch(`${running.url}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
      body,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/not valid UTF-8/);
    const login = await post('/v1/auth/login', JSON.stringify({ email, password: 'p\uFFFDsswort-geheim' }));
    expect(login.status).toBe(401);
    const register = await post('/v1/auth/register', JSON.stringify({ email, password: 'pässwort-geheim' }));
    expect(register.status).toBe(201);
  });

  it('answers URLs Fastify refuses before routing with problems too', async () => {
    for (const [path, status] of [
      ['/v1/%ZZ', 400],
      ['/v1/profiles/%E0%A4%A', 400],
      [`/v1/profiles/${'a'.repeat(101)}`, 414],
    ] as const) {
      const response = await fetch(`${running.url}${path}`);
      expect(response.status, path).toBe(status);
      expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
      expect(await response.json()).toMatchObject({ status, requestId: response.headers.get('x-request-id') });
    }
  });

  it('answers an OPTIONS request that is not a complete CORS preflight with 204, never a plain-text 400', async () => {
    // A bare OPTIONS (curl, a gateway probe) and a preflight missing its method header.
    const cases: Record<string, string>[] = [{}, { origin: 'https://app.example.test' }];
    for (const headers of cases) {
      const response = await fetch(`${running.url}/v1/plans`, { method: 'OPTIONS', headers });
      expect(response.status, JSON.stringify(headers)).toBe(204);
      expect(response.headers.get('access-control-allow-methods')).toContain('GET');
      expect(await response.text()).toBe('');
    }
  });

  it("answers requests Node's HTTP parser refuses with problems and closes the connection", async () => {
    const { port } = new URL(running.url);
    const exchange = (raw: string) =>
      new Promise<string>((resolve, reject) => {
        let received = '';
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(raw));
        socket.on('data', (data: Buffer) => (received += data.toString()));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
    const noHost = 'GET /v1/plans HTTP/1.1\r\nConnection: close\r\n\r\n';
    const cases: [string, number][] = [
      [`GET /v1/profiles HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['GET /v1/profiles HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400],
      ['POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
      ['GET /v1/profiles HTTP/1.1\r\nHost: x\r\nX-Request-Id: mine-417\r\nExpect: 200-ok\r\n\r\n', 417],
      // Node closed a CONNECT without a word, and answered a missing Host with an empty 400.
      ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 400],
      [noHost, 400],
      // A method Node's parser does not know: not implemented (RFC 9110), where it was a bare 400.
      ['FOO /v1/plans HTTP/1.1\r\nHost: x\r\n\r\n', 501],
    ];
    const ids = new Set<string>();
    for (const [raw, status] of cases) {
      const answer = await exchange(raw);
      expect(answer.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${STATUS_CODES[status]}`);
      expect(answer).toMatch(/content-type: application\/problem\+json/i);
      const problem = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { requestId: string };
      expect(problem).toMatchObject({ status });
      // Every answer has an id, in its header and its problem, as a client quotes it in a report; the caller's own
      // where Node read the request's headers.
      expect(answer, raw).toMatch(new RegExp(`\r\nx-request-id: ${problem.requestId}\r\n`, 'i'));
      ids.add(problem.requestId);
    }
    expect(ids).toContain('mine-417');
    expect(ids.size).toBe(cases.length);
  });

  // Node refuses a body Fastify was reading (here a bad chunk size): the request had the caller's id, in its request
  // line too, so its answer must carry that id, not a new one nothing else names.
  it('answers a body Node refuses with the id of the request it belonged to', async () => {
    const { port } = new URL(running.url);
    const answer = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: mine-chunk\r\n' +
            'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        );
        setTimeout(() => socket.write('zz\r\n'), 300);
      });
      socket.on('data', (data: Buffer) => (received += data.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(answer).toMatch(/\r\nx-request-id: mine-chunk\r\n/i);
    expect(answer).toMatch(/"requestId":"mine-chunk"/);
  });

  it('answers the next request on a connection whose compressed body no route read, instead of hanging', async () => {
    // A GET's or HEAD's body is never read; gzip-encoded, it was still piped into the decompressor, which nothing
    // drained: the rest of the body stayed in the socket and the next request on that keep-alive connection was never
    // read. Bodies refused unread (415, or the 404 of no route) are checked alongside.
    const body = gzipSync(randomBytes(256 * 1024));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, headers: Record<string, string | number>, data?: Buffer) =>
      new Promise<string>((resolve, reject) => {
        const request = httpRequest(`${running.url}${path}`, { method, headers, agent }, (response) => {
          response.resume();
          response.on('end', () => resolve(`${response.statusCode} ${response.headers.connection}`));
        });
        request.setTimeout(5_000, () => request.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
        request.on('error', reject);
        request.end(data);
      });
    const gzipped = { 'content-encoding': 'gzip', 'content-length': body.length };
    try {
      const cases: [string, string, Record<string, string>, number][] = [
        ['GET', '/v1/plans', { 'content-type': 'application/json' }, 200],
        ['HEAD', '/health/live', {}, 200],
        ['POST', '/v1/auth/logout', { 'content-type': 'text/plain' }, 415],
        ['POST', '/v1/no-such-route', { 'content-type': 'text/plain' }, 404],
      ];
      for (const [method, path, headers, status] of cases) {
        expect(await send(method, path, { ...headers, ...gzipped }, body), `${method} ${path}`).toBe(`${status} close`);
        // A request without a body keeps its connection.
        expect(await send('GET', '/health/live', {}), `after ${method} ${path}`).toBe('200 keep-alive');
      }
    } finally {
      agent.destroy();
    }
  });

  it('answers a body above the configured limit with a 413 problem', async () => {
    const response = await post('/v1/anything', JSON.stringify({ bio: 'x'.repeat(4096) }));
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(await response.json()).toMatchObject({ status: 413, title: 'Payload Too Large' });
  });

  it('marks every reply nosniff and not to be framed: JSON, problems, probes and the Swagger UI page', async () => {
    for (const path of ['/v1/plans', '/v1/no-such-thing?<script>', '/health/live', '/docs', '/docs/openapi.json']) {
      const response = await fetch(`${running.url}${path}`);
      await response.arrayBuffer();
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      expect(response.headers.get('content-security-policy'), path).toBe("frame-ancestors 'none'");
    }
  });

  it('propagates a well-formed x-request-id and replaces a hostile one', async () => {
    const kept = await fetch(`${running.url}/health/live`, { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-abc.123');

    for (const hostile of ['has spaces and <html>', 'x'.repeat(200)]) {
      const replaced = await fetch(`${running.url}/health/live`, { headers: { 'x-request-id': hostile } });
      expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers 408 to a request head still trickling in after REQUEST_TIMEOUT_MS, and closes the connection', async () => {
    // Node checked its timeouts every 30 s: such a head held its connection for up to 33 s here (until 2026-12-06).
    const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    const started = Date.now();
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
    socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const trickle = setInterval(() => socket.write('a'), 200);
    try {
      const ms = await closed;
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      expect(ms).toBeGreaterThanOrEqual(2_900);
      expect(ms).toBeLessThan(5_000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  }, 10_000);

  it('sets a keep-alive timeout above a typical load balancer idle timeout (60 s)', async () => {
    const response = await fetch(`${running.url}/health/live`);
    expect(response.headers.get('keep-alive')).toBe('timeout=65');
  });

  describe('compression', () => {
    // The OpenAPI document is well above the 1 KB threshold; /health/live is far below it.
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<{ encoding?: string; vary?: string }>((resolve, reject) => {
        const req = httpRequest(`${running.url}${path}`, { headers }, (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ encoding: res.headers['content-encoding'], vary: res.headers.vary?.toString() }),
          );
        });
        req.on('error', reject);
        req.end();
      });

    it('uses brotli when offered, gzip otherwise', async () => {
      expect((await get('/docs/openapi.json', { 'accept-encoding': 'gzip, br' })).encoding).toBe('br');
      expect((await get('/docs/openapi.json', { 'accept-encoding': 'gzip' })).encoding).toBe('gzip');
    });

    it('sends no coding the client refuses, also when it accepts any other (*)', async () => {
      const offered = async (acceptEncoding: string) =>
        (await get('/docs/openapi.json', { 'accept-encoding': acceptEncoding })).encoding;
      expect(await offered('gzip;q=0, *')).toBe('br');
      expect(await offered('br;q=0, *')).toBe('gzip');
      expect(await offered('GZIP;q=0, br;q=0, *')).toBeUndefined();
    });

    it('leaves small responses uncompressed', async () => {
      expect((await get('/health/live', { 'accept-encoding': 'gzip, br' })).encoding).toBeUndefined();
    });

    it('honours x-no-compression', async () => {
      const result = await get('/docs/openapi.json', { 'accept-encoding': 'gzip, br', 'x-no-compression': '1' });
      expect(result.encoding).toBeUndefined();
    });
  });
});
