import { parseArgs } from 'node:util';

export const USAGE = `Usage: npm run load-test -- [options]

Runs one of the Vesta report's load tests against a running API (README, "Load testing").

  --scenario NAME        a scenario of --config: smoke, basic, stress or spike (default basic)
  --target URL           the API (default http://127.0.0.1:3000)
  --metrics URL|none     its Prometheus metrics (default port 9464 of --target's host, http://HOST:9464/metrics);
                         none skips the CPU and memory checks, which otherwise fail when no sample could be read
  --config FILE          the scenario file (default scripts/load-test/scenarios.json)
  --scale N              multiplies every phase's duration, e.g. 0.1 for a quick run (default 1)
  --members N            accounts signed up, each with a profile (default 20)
  --memory-limit-mb N    the server's memory limit; the memory threshold is a share of it (default 1024)
  --out DIR              where the reports go (default load-test-results/<scenario>-<time>)
  --help                 this text

Exit code 0 when every threshold holds, 1 when one does not, 2 when the run could not start or finish.`;

/** A bad command line: printed with a pointer to --help, before anything is sent to the target. */
export class UsageError extends Error {}

export interface Options {
  scenario: string;
  target: string;
  /** undefined for --metrics none: the server's CPU and memory are not checked. */
  metrics?: string;
  config: string;
  scale: number;
  members: number;
  memoryLimitMb: number;
  out?: string;
}

function number(name: string, text: string, valid: (value: number) => boolean, expected: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !valid(value)) {
    throw new UsageError(`--${name} must be ${expected} (got "${text}")`);
  }
  return value;
}

function httpUrl(name: string, text: string): string {
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
    throw new UsageError(`--${name} must be an http:// or https:// URL (got "${text}")`);
  }
  return text;
}

/** An http(s) URL of a server itself: the scenario's paths (/v1/...) are sent as they are, so a path here is refused. */
function origin(name: string, text: string): string {
  const url = new URL(httpUrl(name, text));
  if (url.pathname !== '/' || url.search)
    throw new UsageError(`--${name} must name the server only, without a path (got "${text}"; try "${url.origin}")`);
  return url.origin;
}

/**
 * The metrics server of the target's host, on the API's default METRICS_PORT. Until 2026-12-05 it was 127.0.0.1
 * whatever the target, so a run against another host checked the CPU and memory of whatever answered locally.
 */
function defaultMetrics(target: string): string {
  const url = new URL('/metrics', target);
  url.protocol = 'http:';
  url.port = '9464';
  return url.href;
}

/** The command line checked up front, so a typo fails at once rather than after the members are signed up. */
export function parseOptions(args: string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        help: { type: 'boolean', short: 'h' },
        scenario: { type: 'string', default: 'basic' },
        target: { type: 'string', default: 'http://127.0.0.1:3000' },
        metrics: { type: 'string' },
        config: { type: 'string', default: 'scripts/load-test/scenarios.json' },
        scale: { type: 'string', default: '1' },
        members: { type: 'string', default: '20' },
        'memory-limit-mb': { type: 'string', default: '1024' },
        out: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const target = origin('target', values.target);
  return {
    scenario: values.scenario,
    target,
    metrics: values.metrics === 'none' ? undefined : httpUrl('metrics', values.metrics ?? defaultMetrics(target)),
    config: values.config,
    scale: number('scale', values.scale, (v) => v > 0, 'a number above 0'),
    members: number('members', values.members, (v) => Number.isInteger(v) && v >= 1, 'a whole number of at least 1'),
    memoryLimitMb: number('memory-limit-mb', values['memory-limit-mb'], (v) => v > 0, 'a number above 0'),
    out: values.out,
  };
}
