/** The only place that touches `process.env` (see docs/architecture.md). */
export function processEnv(): Record<string, string | undefined> {
  return process.env;
}
