import { createRequire } from 'node:module';

/** One metric family as parse-prometheus-text-format returns it (it drops the labels of histogram samples). */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string }[];
}

// A CommonJS package without typings.
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => MetricFamily[];

/** Parses Prometheus exposition text with a real parser; throws on text it cannot read. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  return new Map(parse(text).map((family) => [family.name, family]));
}

/** Exposed series: every sample line (a histogram has one per bucket, plus _sum and _count). */
export function seriesCount(text: string): number {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
}

/** The value of one series scraped from a /metrics endpoint (0 while it has no samples). */
export async function scrapedValue(metricsUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const series = parsePrometheusText(text)
    .get(name)
    ?.metrics.find((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value));
  return Number(series?.value ?? 0);
}
