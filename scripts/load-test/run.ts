import autocannon from 'autocannon';
import type { Scenario } from './config.js';
import { type Timeline } from './measure.js';
import type { Traffic } from './traffic.js';

/**
 * Runs the scenario's phases one after another at a constant arrival rate (autocannon's overallRate: a
 * slow server shows as latency, not as fewer requests sent), recording every response by second.
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
        timeout: 10,
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
    instance.on('reqError', () => timeline.failure(phase.name));
    await done;
  }
}
