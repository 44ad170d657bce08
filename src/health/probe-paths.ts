/**
 * The orchestrator's probes: logged at debug, never traced, never refused under overload. Kept free
 * of imports, since tracing.ts reads it before the application loads.
 */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health/live', '/health/ready']);

/** Whether a request URL (its query ignored: a probe may carry one) is one of the probes. */
export function isProbe(url: string): boolean {
  const query = url.indexOf('?');
  return PROBE_PATHS.has(query === -1 ? url : url.slice(0, query));
}
