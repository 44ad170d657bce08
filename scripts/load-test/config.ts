import { readFileSync } from 'node:fs';

export interface Thresholds {
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  errorRate: number;
  rateLimitedRate: number;
  cpuPercent: number;
  memoryPercent: number;
  /** Share of the requests the phases schedule (rate × duration) that must get a response, whatever its status. */
  answeredRate: number;
}

/** The requests a scenario mixes: the one list the Mix type and the scenario file's check both come from. */
const MIX_NAMES = ['profileRead', 'search', 'nearby', 'cities', 'profileUpdate', 'login', 'mediaDownload'] as const;

export type Mix = Record<(typeof MIX_NAMES)[number], number>;

export interface Phase {
  name: string;
  /** Requests per second across all connections; 0 is a pause. */
  rate: number;
  durationS: number;
}

export interface Scenario {
  name: string;
  connections: number;
  phases: Phase[];
  thresholds: Thresholds;
  mix: Mix;
  /** Latency must be back under the p95 threshold within `withinS` seconds after `afterPhase` ends. */
  recovery?: { afterPhase: string; withinS: number };
}

const THRESHOLD_NAMES: (keyof Thresholds)[] = [
  'p95Ms',
  'p99Ms',
  'maxMs',
  'errorRate',
  'rateLimitedRate',
  'cpuPercent',
  'memoryPercent',
  'answeredRate',
];

interface ConfigFile {
  defaults: { thresholds: Thresholds; mix: Mix };
  scenarios: Record<
    string,
    Omit<Scenario, 'name' | 'thresholds' | 'mix'> & { thresholds?: Partial<Thresholds>; mix?: Partial<Mix> }
  >;
}

/** Reads a scenario from the config file, defaults filled in and phase durations scaled. */
export function loadScenario(file: string, name: string, scale: number): Scenario {
  const config = JSON.parse(readFileSync(file, 'utf8')) as ConfigFile;
  // Own keys only: "constructor" or "toString" would otherwise find a built-in of every object.
  const scenario = Object.hasOwn(config.scenarios, name) ? config.scenarios[name] : undefined;
  if (!scenario)
    throw new Error(`No scenario "${name}" in ${file}; there are ${Object.keys(config.scenarios).join(', ')}`);
  if (!(Number.isInteger(scenario.connections) && scenario.connections > 0))
    throw new Error(`${file}: scenario "${name}" needs "connections", a whole number of at least 1`);
  for (const phase of scenario.phases ?? []) {
    const valid =
      phase.rate >= 0 && Number.isFinite(phase.rate) && phase.durationS > 0 && Number.isFinite(phase.durationS);
    if (!valid)
      throw new Error(
        `${file}: phase "${phase.name}" of scenario "${name}" needs a rate of 0 or more and a durationS above 0`,
      );
  }
  if (!scenario.phases?.length) throw new Error(`${file}: scenario "${name}" has no phases`);
  const thresholds = { ...config.defaults.thresholds, ...scenario.thresholds };
  // A scenario file written before a threshold existed would otherwise compare against undefined and fail obscurely.
  const missing = THRESHOLD_NAMES.filter((key) => typeof thresholds[key] !== 'number');
  if (missing.length > 0) throw new Error(`${file}: scenario "${name}" has no threshold ${missing.join(', ')}`);
  const mix = { ...config.defaults.mix, ...scenario.mix };
  // Checked here, before anything is sent: a name the traffic does not know (a typo such as "profileReads") made no
  // request at all, and the tool counted each of its turns as a failed request of the target's, an error rate that
  // was the file's doing.
  const unknown = Object.keys(mix).filter((kind) => !(MIX_NAMES as readonly string[]).includes(kind));
  if (unknown.length > 0)
    throw new Error(
      `${file}: scenario "${name}" mixes unknown requests ${unknown.join(', ')}; known: ${MIX_NAMES.join(', ')}`,
    );
  const weights = Object.values(mix) as unknown[];
  if (!weights.every((weight) => typeof weight === 'number' && weight >= 0 && Number.isFinite(weight)))
    throw new Error(`${file}: scenario "${name}" needs a mix of weights of 0 or more`);
  if (!(weights as number[]).some((weight) => weight > 0))
    throw new Error(`${file}: scenario "${name}" has a mix whose weights are all 0`);
  return {
    ...scenario,
    name,
    phases: scenario.phases.map((phase) => ({ ...phase, durationS: Math.max(1, Math.round(phase.durationS * scale)) })),
    thresholds,
    mix,
  };
}
