/**
 * `npm run load-test -- --scenario <name> [--target URL] [--metrics URL] [--scale 0.1] [--out dir]`: the
 * Vesta report's load tests against a running API. Exit code 0 only when every threshold holds; writes
 * report.json, report.md and report.html. See README ("Load testing") and docs/performance.md.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadScenario } from './load-test/config.js';
import { ServerSampler, Timeline } from './load-test/measure.js';
import { markdown, summarise, writeReports } from './load-test/report.js';
import { runPhases } from './load-test/run.js';
import { prepareTraffic } from './load-test/traffic.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'basic' },
      target: { type: 'string', default: 'http://127.0.0.1:3000' },
      metrics: { type: 'string', default: 'http://127.0.0.1:9464/metrics' },
      config: { type: 'string', default: 'scripts/load-test/scenarios.json' },
      scale: { type: 'string', default: '1' },
      members: { type: 'string', default: '20' },
      'memory-limit-mb': { type: 'string', default: '1024' },
      out: { type: 'string' },
    },
  });
  const scenario = loadScenario(values.config, values.scenario, Number(values.scale));
  const target = values.target.replace(/\/$/, '');
  const started = new Date();
  const out =
    values.out ?? join('load-test-results', `${scenario.name}-${started.toISOString().replace(/[:.]/g, '-')}`);
  process.stderr.write(`Preparing ${values.members} members against ${target} ...\n`);
  const traffic = await prepareTraffic(target, scenario.mix, Number(values.members));
  const timeline = new Timeline();
  const sampler = new ServerSampler(values.metrics, timeline);
  sampler.start();
  process.stderr.write(
    `Running ${scenario.name}: ${scenario.phases.map((p) => `${p.name} ${p.rate}/s × ${p.durationS} s`).join(', ')}\n`,
  );
  try {
    await runPhases(target, scenario, traffic, timeline);
  } finally {
    await sampler.stop();
  }
  const summary = summarise(
    scenario,
    target,
    started,
    timeline.seconds,
    sampler.samples,
    Number(values['memory-limit-mb']),
  );
  writeReports(out, summary, timeline.seconds, sampler.samples);
  process.stdout.write(`${markdown(summary)}\nReports: ${out}/report.{json,md,html}\n`);
  for (const check of summary.checks.filter((c) => c.pass === false)) {
    process.stderr.write(`FAIL ${check.name}: ${check.measured} (limit ${check.limit})\n`);
  }
  return summary.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  },
);
