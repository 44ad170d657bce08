import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { AppProcess } from '../support/app-process.js';
import { testEnv } from '../support/test-env.js';

interface ExportedSpan {
  scope: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

const SERVER = 2;

/** A span's string attribute: server spans are named by their method alone ("GET"), their path is in url.path. */
const attribute = (span: ExportedSpan, key: string) =>
  (span as ExportedSpan & { attributes?: { key: string; value: { stringValue?: string } }[] }).attributes?.find(
    (a) => a.key === key,
  )?.value.stringValue;

/** An OTLP/HTTP collector that keeps every span it receives (the exporter sends JSON, gzipped when large). */
async function startCollector(): Promise<{ server: Server; url: string; spans: ExportedSpan[]; paths: Set<string> }> {
  const spans: ExportedSpan[] = [];
  const paths = new Set<string>();
  const server = createServer((request, response) => {
    paths.add(request.url ?? '');
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const payload = JSON.parse(body.toString('utf8')) as {
        resourceSpans: { scopeSpans: { scope: { name: string }; spans: Omit<ExportedSpan, 'scope'>[] }[] }[];
      };
      for (const resource of payload.resourceSpans)
        for (const scoped of resource.scopeSpans)
          for (const span of scoped.spans) spans.push({ ...span, scope: scoped.scope.name });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, paths };
}

describe('OpenTelemetry tracing', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let app: AppProcess;
  let url: string;

  beforeAll(async () => {
    collector = await startCollector();
    ({ app, url } = await AppProcess.boot((port) =>
      testEnv({
        PORT: String(port),
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        // The request lines are read for their trace ids.
        LOG_LEVEL: 'info',
      }),
    ));
  });

  afterAll(async () => {
    app.signal('SIGTERM');
    await app.exited;
    await new Promise((resolve) => collector.server.close(resolve));
  });

  it('exports one trace per request with its MongoDB and Redis calls inside, and no probe spans', async () => {
    const member = await registerAccount(url);
    const profile = await createProfile(url, member);
    // A kubelet's two probes, answered before the read: their spans, had they any, would be exported with it or before.
    for (const probe of ['/health/live', '/health/ready']) expect((await fetch(`${url}${probe}`)).status).toBe(200);
    const response = await fetch(`${url}/v1/profiles/${profile.id}`);
    expect(response.status).toBe(200);

    const deadline = Date.now() + 10_000;
    const serverSpanOfRead = () =>
      collector.spans.find(
        (span) =>
          span.kind === SERVER &&
          attribute(span, 'url.path') === `/v1/profiles/${profile.id}` &&
          spanTrace(span).some(isMongo),
      );
    const spanTrace = (root: ExportedSpan) => collector.spans.filter((span) => span.traceId === root.traceId);
    const isMongo = (span: ExportedSpan) => span.scope === '@opentelemetry/instrumentation-mongodb';
    while (!serverSpanOfRead() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));

    const root = serverSpanOfRead();
    expect(root, 'an HTTP server span whose trace holds a MongoDB span').toBeDefined();
    const scopes = new Set(spanTrace(root!).map((span) => span.scope));
    expect(scopes).toContain('@opentelemetry/instrumentation-http');
    expect(scopes).toContain('@opentelemetry/instrumentation-mongodb');
    expect(scopes).toContain('@opentelemetry/instrumentation-ioredis');
    // Readiness was polled while the app started: probes are not traced.
    // By path: a span's name is its method alone, so a test of the name could never find one.
    const probeSpans = collector.spans.filter(
      (span) => span.kind === SERVER && /^\/health\//.test(attribute(span, 'url.path') ?? ''),
    );
    expect(probeSpans.map((span) => attribute(span, 'url.path'))).toEqual([]);
    // Traces only: no OTLP metrics or logs from the SDK's defaults.
    expect(collector.paths).toEqual(new Set(['/v1/traces']));
  });

  it("writes the trace and span ids of a request's server span into its request log line", async () => {
    const member = await registerAccount(url);
    const response = await fetch(`${url}/v1/profiles/me`, { headers: { authorization: `Bearer ${member.token}` } });
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();

    const requestLine = () =>
      app.logLines().find((line) => line.msg === 'request completed' && line.reqId === requestId);
    const serverSpan = (traceId: unknown) =>
      collector.spans.find((span) => span.kind === SERVER && span.traceId === traceId);
    const deadline = Date.now() + 10_000;
    while (!(requestLine() && serverSpan(requestLine()!.trace_id)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const line = requestLine();
    expect(line, 'the request line (lines are flushed at least once a second)').toBeDefined();
    expect(line!.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const span = serverSpan(line!.trace_id);
    expect(span, 'the exported server span of that trace').toBeDefined();
    expect(attribute(span!, 'url.path')).toBe('/v1/profiles/me');
    expect(line!.span_id).toBe(span!.spanId);
  });

  it('exports no token, password or email a client put in the URL, and still the span of the request', async () => {
    const member = await registerAccount(url);
    const email = encodeURIComponent(member.email);
    const password = encodeURIComponent(member.password);
    const sent = [
      `/v1/profiles/me?access_token=${member.token}`,
      `/v1/${member.token}`,
      `/v1/auth/login?email=${email}&password=${password}`,
    ];
    for (const path of sent) expect((await fetch(`${url}${path}`)).status, path).toBeGreaterThanOrEqual(400);

    const redacted = () => collector.spans.filter((span) => span.kind === SERVER && attribute(span, 'url.query'));
    const deadline = Date.now() + 10_000;
    while (redacted().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(redacted().map((span) => attribute(span, 'url.query'))).toEqual(
      expect.arrayContaining(['access_token=[redacted]', 'email=[redacted]&password=[redacted]']),
    );
    const exported = JSON.stringify(collector.spans);
    for (const secret of [member.token, member.password, password, member.email, email]) {
      expect(exported).not.toContain(secret);
    }
  });
});
