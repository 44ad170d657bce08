import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { freePort } from '../support/ports.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testConfig } from '../support/test-env.js';

interface RuleFile {
  spec: { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] };
}
interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}
interface QueryAnswer {
  status: string;
  error?: string;
  data?: { result: unknown[] };
}

const ruleFile = parseAllDocuments(readFileSync('k8s/base/prometheusrule.yaml', 'utf8'))[0].toJS() as RuleFile;
const dashboard = JSON.parse(readFileSync('k8s/base/dashboards/vesta-api.json', 'utf8')) as Dashboard;
const adapter = parse(readFileSync('k8s/monitoring/prometheus-adapter-rules.yaml', 'utf8')) as {
  rules: { metricsQuery: string }[];
  externalRules: { metricsQuery: string }[];
};

/** Panels whose queries must return series after a few seconds of traffic (the rest may be empty, not invalid). */
const PANELS_WITH_DATA = [
  'Requests per second by route',
  'Error ratio (5xx)',
  'Latency p50 / p95 / p99 (without media transfers)',
  'CPU per pod (share of one core)',
  'Heap and resident memory per pod',
  'Event-loop lag p99 per pod',
  'Cache hit ratio by tier, API pods (objective above 90 %, critical below 80 %)',
  'Cache L1 per pod: size (left), evictions and clears per minute (right; see Caching in operations.md)',
  'API pods deaf to cache invalidations (see VestaCacheInvalidationDeaf)',
  'Queue depth by queue and state',
  'MongoDB pool connections',
  'API replicas vs request rate',
  'Password hashing: running and waiting per pod, refusals per second',
];

/** Namespaces scraped from the app without one of the cache's counters, and the counter they leave out. */
const ONE_SIDED_CACHES = { 'vesta-all-hits': 'cache_misses_total', 'vesta-all-misses': 'cache_hits_total' };
const HIT_RATIO_PANEL = 'Cache hit ratio by tier, API pods (objective above 90 %, critical below 80 %)';

// A real Prometheus scraping the running app, as the ServiceMonitor would (job vesta-api, a pod label).
describe('dashboard, alert and adapter queries against a real Prometheus', () => {
  let running: RunningApp;
  let prometheus: ChildProcess;
  let promUrl: string;
  const dir = mkdtempSync(join(tmpdir(), 'vesta-prometheus-'));

  /** Evaluates `expr` now, or at `time` (Unix seconds), so that two queries can read the same instant. */
  const query = async (expr: string, time?: number): Promise<QueryAnswer> => {
    const at = time === undefined ? '' : `&time=${time}`;
    const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}${at}`);
    return (await response.json()) as QueryAnswer;
  };
  const fill = (expr: string, namespace = 'vesta') =>
    expr.replaceAll('$__rate_interval', '20s').replaceAll('$namespace', namespace);

  beforeAll(async () => {
    running = await startApp(testConfig({ ROLE: 'all', VIEW_FLUSH_INTERVAL_MS: '500' }));
    const metricsPort = new URL(running.metricsUrl).port;
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: ruleFile.spec.groups }, { lineWidth: 0 }));
    writeFileSync(
      join(dir, 'prometheus.yaml'),
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(dir, 'rules.yaml')],
        scrape_configs: [
          {
            job_name: 'vesta-api',
            static_configs: [
              { targets: [`127.0.0.1:${metricsPort}`], labels: { namespace: 'vesta', pod: 'vesta-api-test' } },
            ],
          },
          // The same pod seen as two more installs: one whose reads all hit the cache, one whose reads all miss.
          ...Object.entries(ONE_SIDED_CACHES).map(([namespace, dropped]) => ({
            job_name: namespace,
            static_configs: [{ targets: [`127.0.0.1:${metricsPort}`], labels: { namespace, pod: 'vesta-api-test' } }],
            relabel_configs: [{ target_label: 'job', replacement: 'vesta-api' }],
            metric_relabel_configs: [{ source_labels: ['__name__'], regex: dropped, action: 'drop' }],
          })),
        ],
      }),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      requiredEnv('PROMETHEUS_BIN'),
      [
        `--config.file=${join(dir, 'prometheus.yaml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    // Traffic for the panels: reads that hit and miss the cache, a 404, searches, and the kubelet's probes. Until
    // the namespace vesta has a rate: the installs scraped from the same pod may have theirs a scrape earlier.
    const VESTA_REQUEST_RATE = 'sum(rate(http_requests_total{namespace="vesta",job="vesta-api"}[20s]))';
    const member = await registerAccount(running.url);
    const profile = await createProfile(running.url, member);
    const deadline = Date.now() + 30_000;
    for (let round = 0; Date.now() < deadline; round += 1) {
      await Promise.all([
        fetch(`${running.url}/v1/profiles/${profile.id}`, { headers: member.auth }).then((r) => r.arrayBuffer()),
        fetch(`${running.url}/v1/locations/cities`).then((r) => r.arrayBuffer()),
        fetch(`${running.url}/v1/nowhere`).then((r) => r.arrayBuffer()),
        fetch(`${running.url}/health/live`).then((r) => r.arrayBuffer()),
        fetch(`${running.url}/health/ready`).then((r) => r.arrayBuffer()),
      ]);
      if (round % 20 === 0) {
        const answer = await query(VESTA_REQUEST_RATE).catch(() => undefined);
        if (answer?.data?.result.length) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }, 60_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses every dashboard query, and the panels that should show data do', async () => {
    // A title here that no panel has would leave that panel unchecked.
    expect(PANELS_WITH_DATA.filter((title) => !dashboard.panels.some((panel) => panel.title === title))).toEqual([]);
    for (const panel of dashboard.panels) {
      let series = 0;
      for (const target of panel.targets) {
        const answer = await query(fill(target.expr));
        expect(answer.status, `${panel.title}: ${answer.error}`).toBe('success');
        series += answer.data!.result.length;
      }
      // Some targets read kube-state-metrics, absent here; the panel still shows the app's own series.
      if (PANELS_WITH_DATA.includes(panel.title)) expect(series, panel.title).toBeGreaterThan(0);
    }
  });

  it('reads only the namespace picked in the dashboard: one without pods shows nothing in any panel', async () => {
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const answer = await query(fill(target.expr, 'vesta-elsewhere'));
        expect(answer.status, `${panel.title}: ${answer.error}`).toBe('success');
        expect(answer.data!.result, `${panel.title}: ${target.expr}`).toEqual([]);
      }
    }
  });

  it('shows a hit ratio of 1 where every read hits the cache and 0 where every read misses, not nothing', async () => {
    const member = await registerAccount(running.url);
    const panel = dashboard.panels.find((p) => p.title === HIT_RATIO_PANEL)!;
    const ratio = async (namespace: string) => {
      const values: Record<string, number> = {};
      for (const target of panel.targets) {
        const answer = await query(fill(target.expr, namespace));
        expect(answer.status, answer.error).toBe('success');
        for (const series of answer.data!.result as { metric: { tier?: string }; value: [number, string] }[]) {
          values[series.metric.tier ?? 'all'] = Number(series.value[1]);
        }
      }
      return values;
    };
    // Reads that keep both rates above 0 while the test waits: the cities hit the cache, profiles that do not exist
    // miss both tiers.
    let seen: Record<string, Record<string, number>> = {};
    for (const until = Date.now() + 15_000; Date.now() < until;) {
      await fetch(`${running.url}/v1/locations/cities`).then((r) => r.arrayBuffer());
      await fetch(`${running.url}/v1/profiles/${new ObjectId().toHexString()}`, { headers: member.auth });
      seen = { hits: await ratio('vesta-all-hits'), misses: await ratio('vesta-all-misses') };
      if (seen.hits.all === 1 && seen.misses.all === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(seen.hits.all).toBe(1);
    expect(seen.hits.l1).toBeGreaterThan(0);
    expect(seen.misses).toEqual({ all: 0 });
  });

  it('loads and evaluates every alert and recording rule without errors', async () => {
    const expected = ruleFile.spec.groups.flatMap((group) => group.rules.map((rule) => rule.alert ?? rule.record));
    const deadline = Date.now() + 10_000;
    let rules: { name: string; health: string; lastError?: string }[];
    do {
      const answer = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      rules = answer.data.groups.flatMap((group) => group.rules);
      if (rules.length === expected.length && rules.every((rule) => rule.health === 'ok')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    } while (Date.now() < deadline);
    expect(rules.map((rule) => rule.name).sort()).toEqual([...expected].sort());
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).toBe('ok');
    // The recording rules the alerts read produce series (once a rule round has seen two scrapes).
    for (const expr of ['vesta:http_requests:rate5m', 'vesta:http_errors:ratio_rate5m']) {
      let found = 0;
      for (const until = Date.now() + 10_000; found === 0 && Date.now() < until;) {
        found = (await query(expr)).data!.result.length;
        if (found === 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(found, expr).toBeGreaterThan(0);
    }
  });

  it('leaves out the probes by the route labels the app gives them', async () => {
    const routes = async (selector: string) => {
      const answer = await query(`count by (route) (http_requests_total{job="vesta-api"${selector}})`);
      expect(answer.status, answer.error).toBe('success');
      return (answer.data!.result as { metric: { route: string } }[]).map((series) => series.metric.route).sort();
    };
    expect(await routes(',route=~"/health/.*"')).toEqual(['/health/live', '/health/ready']);
    const kept = await routes(',route!~"/health/.*"');
    expect(kept).toContain('/v1/locations/cities');
    expect(kept.filter((route) => route.includes('health'))).toEqual([]);
  });

  it('gives the HPAs a per-pod request rate and the queue backlog through the adapter’s queries', async () => {
    const expr = adapter.rules[0].metricsQuery
      .replace('<<.Series>>', 'http_requests_total')
      .replace('<<.LabelMatchers>>', 'namespace="vesta",pod=~"vesta-api-.*"')
      .replace('<<.GroupBy>>', 'pod');
    // Every query below reads the same instant, so that their values can be compared exactly.
    const at = Date.now() / 1000;
    const valueOf = async (expr: string) => {
      const answer = await query(expr, at);
      expect(answer.status, `${expr}: ${answer.error}`).toBe('success');
      const result = answer.data!.result as { metric: Record<string, string>; value: [number, string] }[];
      expect(result, expr).toHaveLength(1);
      return { labels: result[0].metric, value: Number(result[0].value[1]) };
    };
    const rate = await valueOf(expr);
    expect(rate.labels.pod).toBe('vesta-api-test');
    expect(rate.value).toBeGreaterThan(0);
    // The probes are left out: the kubelet's requests say nothing about load. The traffic above had some.
    const probes = await valueOf('sum by (pod) (rate(http_requests_total{namespace="vesta",route=~"/health/.*"}[2m]))');
    const all = await valueOf('sum by (pod) (rate(http_requests_total{namespace="vesta"}[2m]))');
    expect(probes.value).toBeGreaterThan(0);
    expect(rate.value).toBeCloseTo(all.value - probes.value, 6);

    // The backlog is the jobs waiting, not those delayed, running or failed; the app has some of those.
    const waiting = await valueOf(
      adapter.externalRules[0].metricsQuery
        .replace('<<.Series>>', 'queue_jobs')
        .replace('<<.LabelMatchers>>', 'namespace="vesta"'),
    );
    expect(waiting.labels).toEqual({ namespace: 'vesta' });
    expect((await valueOf('sum(queue_jobs{namespace="vesta",state!="waiting"})')).value).toBeGreaterThan(0);
    expect(waiting.value).toBe((await valueOf('sum(queue_jobs{namespace="vesta",state="waiting"})')).value);
  });
});
