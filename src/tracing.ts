import { register } from 'node:module';
import type { IncomingMessage } from 'node:http';
import type { AppConfig } from './config/app-config.js';
import { isProbe } from './health/probe-paths.js';
import { loggableUrl } from './logging/loggable-url.js';

/**
 * Starts OpenTelemetry tracing (HTTP server and client, MongoDB, Redis; trace ids in log lines) when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, and returns the function that flushes and stops it. Without
 * an endpoint nothing of OpenTelemetry is even loaded, so tracing costs nothing when off.
 *
 * It must run before the application's modules load: instrumentations patch modules as they are
 * imported, which is why main.ts imports the app only after this. The loader hook covers packages
 * imported from our ES modules; require() calls inside CommonJS packages are patched either way.
 */
export async function startTracing({
  endpoint,
  serviceName,
}: AppConfig['tracing']): Promise<(() => Promise<void>) | undefined> {
  if (!endpoint) return undefined;
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [
    { NodeSDK },
    { OTLPTraceExporter },
    { HttpInstrumentation },
    { MongoDBInstrumentation },
    { IORedisInstrumentation },
    { PinoInstrumentation },
  ] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-mongodb'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-pino'),
  ]);
  const sdk = new NodeSDK({
    serviceName,
    // Traces only: metrics are Prometheus' (/metrics) and logs go to stdout. Left unset, the SDK would
    // start OTLP metric and log exporters of its own from the same endpoint.
    metricReaders: [],
    logRecordProcessors: [],
    traceExporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }),
    instrumentations: [
      // Probes arrive every few seconds from every kubelet; tracing them would drown real traffic.
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request: IncomingMessage) => isProbe(request.url ?? ''),
        // The path and query of a request as the request log has them: a token, password or email a client put in
        // the URL is not sent to the collector either (the instrumentation redacts only AWS and GCS signatures).
        // Incoming requests only: those have a `url`; the API's own outgoing calls carry no credentials in theirs.
        requestHook: (span, request) => {
          if (!('url' in request) || request.url === undefined) return;
          const url = loggableUrl(request.url);
          const queryStart = url.indexOf('?');
          span.setAttribute('url.path', queryStart === -1 ? url : url.slice(0, queryStart));
          if (queryStart !== -1) span.setAttribute('url.query', url.slice(queryStart + 1));
        },
      }),
      new MongoDBInstrumentation(),
      new IORedisInstrumentation(),
      // Every log line written while a span is active carries its trace_id and span_id, so a request's line leads to
      // its trace and back. The lines stay on stdout: sending them as OTLP log records too is off, as above.
      new PinoInstrumentation({ disableLogSending: true }),
    ],
  });
  sdk.start();
  return () => sdk.shutdown();
}
