/**
 * The orchestrator's probes: logged at debug, never traced, never refused under overload. Kept free
 * of imports, since tracing.ts reads it before the application loads.
 */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health/live', '/health/ready']);
