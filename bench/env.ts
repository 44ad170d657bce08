/**
 * A whole-number setting of the benchmarks, from the environment; `fallback` when unset or empty. scripts/bench.sh
 * checks these variables before it builds anything and lets an empty one through as unset, so it must read as unset
 * here too: Number('') is 0, which measured runs of about a second reported as "0 s per run" (BENCH_DURATION_S=),
 * and failed after the seeding and every server had started (BENCH_ROUNDS=).
 */
export function countFromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  // Checked again for a run without bench.sh (node dist-bench/bench/bench.js), which would otherwise go on with NaN.
  if (!/^[1-9][0-9]*$/.test(text)) throw new Error(`${name} must be a whole number of at least 1 (got "${text}")`);
  return Number(text);
}
