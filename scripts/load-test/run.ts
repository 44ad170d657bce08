import autocannon from 'autocannon';
import type { Scenario } from './config.js';
import { type Timeline } from './measure.js';
import type { Traffic } from './traffic.js';

/** autocannon's per-request timeout; a request without a response by then fails with this message. */
const REQUEST_TIMEOUT_S = 10;
const TIMED_OUT = 'request timed out';

/**
 * Runs the scenario's phases one after another at the scenario's arrival rate (autocannon's overallRate), recording
 * every response by second. autocannon keeps one request in flight per connection, so a server slower than a
 * connection's share of the rate lowers the rate sent; the report's "requests answered" check catches that.
 */
export async function runPhases(
  target: string,
  scenario: Scenario,
  traffic: Traffic,
  timeline: Timeline,
): Promise<void> {
  for (const phase of scenario.phases) {
    timeline.mark(phase.name);
    if (phase.rate === 0) {
      const until = timeline.now() + phase.durationS;
      while (timeline.now() < until) {
        timeline.mark(phase.name);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      continue;
    }
    let finished!: (error?: Error) => void;
    const done = new Promise<void>((resolve, reject) => (finished = (error) => (error ? reject(error) : resolve())));
    const instance = autocannon(
      {
        url: target,
        connections: Math.min(scenario.connections, Math.max(1, phase.rate)),
        overallRate: phase.rate,
        duration: phase.durationS,
        timeout: REQUEST_TIMEOUT_S,
        requests: [
          {
            setupRequest: (request: autocannon.Request) => {
              const next = traffic.next();
              return { ...request, method: next.method, path: next.path, headers: next.headers, body: next.body };
            },
          },
        ],
      },
      (error: Error | null) => finished(error ?? undefined),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) =>
      timeline.response(phase.name, statusCode, responseTime),
    );
    instance.on('reqError', (error: Error) =>
      timeline.failure(phase.name, error.message === TIMED_OUT ? REQUEST_TIMEOUT_S * 1000 : undefined),
    );
    await done;
  }
}
