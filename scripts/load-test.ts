/**
 * `npm run load-test -- --scenario <name> [--target URL] [--metrics URL] [--scale 0.1] [--out dir]` (`--help`): the
 * Vesta report's load tests against a running API. Exit code 0 only when every threshold holds; writes
 * report.json, report.md and report.html. See README ("Load testing") and docs/performance.md.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from './load-test/config.js';
import { ServerSampler, Timeline } from './load-test/measure.js';
import { makeFolder } from '../src/common/make-folder.js';
import { markdown, summarise, writeReports } from './load-test/report.js';
import { parseOptions, USAGE, UsageError } from './load-test/options.js';
import { runPhases } from './load-test/run.js';
import { prepareTraffic } from './load-test/traffic.js';

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const scenario = loadScenario(options.config, options.scenario, options.scale);
  const target = options.target;
  const started = new Date();
  const out =
    options.out ?? join('load-test-results', `${scenario.name}-${started.toISOString().replace(/[:.]/g, '-')}`);
  // Made before the run: a folder that cannot be made would otherwise fail the tool only at the end, after minutes of
  // load, with nothing printed.
  let made: string | undefined;
  try {
    made = await makeFolder(out);
  } catch (error) {
    throw new UsageError(`--out must be a folder that can be created (got "${out}": ${(error as Error).message})`);
  }
  let timeline: Timeline;
  let sampler: ServerSampler | undefined;
  try {
    process.stderr.write(`Preparing ${options.members} members against ${target} ...\n`);
    const traffic = await prepareTraffic(target, scenario.mix, options.members);
    // The run's clock starts after the preparation, which is not part of the load.
    timeline = new Timeline();
    sampler = options.metrics === undefined ? undefined : new ServerSampler(options.metrics, timeline);
    sampler?.start();
    process.stderr.write(
      `Running ${scenario.name}: ${scenario.phases.map((p) => `${p.name} ${p.rate}/s × ${p.durationS} s`).join(', ')}\n`,
    );
    try {
      await runPhases(target, scenario, traffic, timeline);
    } finally {
      await sampler?.stop();
      // After the last sample: the deletions are no part of the load.
      await traffic.removeAll();
    }
  } catch (error) {
    // A run that could not start or finish leaves no empty results folder behind.
    if (made) rmSync(made, { recursive: true, force: true });
    throw error;
  }
  const server = sampler ? { samples: sampler.samples, problem: sampler.problem } : 'skipped';
  const summary = summarise(scenario, target, started, timeline.seconds, server, options.memoryLimitMb);
  // The summary first: should writing the files fail after all (a full disk), the run's figures are still printed.
  process.stdout.write(`${markdown(summary)}\n`);
  writeReports(out, summary, timeline.seconds, sampler?.samples ?? []);
  process.stdout.write(`Reports: ${out}/report.{json,md,html}\n`);
  for (const check of summary.checks.filter((c) => c.pass === false)) {
    process.stderr.write(`FAIL ${check.name}: ${check.measured} (limit ${check.limit})\n`);
  }
  return summary.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const { message, cause } = error as Error;
    // fetch() says only "fetch failed"; its cause names the address and the reason (ECONNREFUSED and the like).
    process.stderr.write(`${message}${cause instanceof Error ? `: ${cause.message}` : ''}\n`);
    if (error instanceof UsageError) process.stderr.write('Run npm run load-test -- --help for the options.\n');
    process.exit(2);
  },
);
