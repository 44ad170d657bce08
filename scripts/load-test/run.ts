import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { Scenario } from './config.js';
import { type Timeline } from './measure.js';
import type { RequestSpec, Traffic } from './traffic.js';

/** How long a request may take, counted from when it was due; then it fails as timed out, with this as its latency. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Runs the scenario's phases one after another at a constant arrival rate (open loop): request i of a phase is due at
 * i / rate seconds into it, whatever the server does, over a pool of the scenario's connections, and its latency is
 * counted from when it was due, so time spent waiting for a free connection counts too. A phase ends on time; the
 * requests still waiting then are awaited (each at most REQUEST_TIMEOUT_MS from when it was due) and count where they
 * were due. (autocannon, used before 2026-12-05, sent each second's requests in one burst, dropped those still waiting
 * when a phase ended, and counted each reconnection to a target that was down as a request.)
 */
export async function runPhases(
  target: string,
  scenario: Scenario,
  traffic: Traffic,
  timeline: Timeline,
): Promise<void> {
  const pool = new Pool(new URL(target).origin, {
    connections: scenario.connections,
    connect: { timeout: REQUEST_TIMEOUT_MS },
  });
  // Only those still waiting: a long run at 500 req/s would otherwise hold every request it sent.
  const pending = new Set<Promise<void>>();
  try {
    for (const phase of scenario.phases) {
      timeline.mark(phase.name);
      const start = performance.now();
      const count = Math.round(phase.rate * phase.durationS);
      for (let i = 0; i < count; i += 1) {
        const due = start + (i * 1000) / phase.rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const sent = send(pool, traffic.next(), due, phase.name, timeline).finally(() => pending.delete(sent));
        pending.add(sent);
      }
      for (let left = start + phase.durationS * 1000 - performance.now(); left > 0;) {
        timeline.mark(phase.name);
        await sleep(Math.min(250, left));
        left = start + phase.durationS * 1000 - performance.now();
      }
    }
    await Promise.all(pending);
  } finally {
    await pool.destroy();
  }
}

/** One request, answered whole (its body read) or failed; filed under the phase and the second it was due in. */
async function send(pool: Pool, request: RequestSpec, due: number, phase: string, timeline: Timeline): Promise<void> {
  const signal = AbortSignal.timeout(Math.max(1, Math.round(due + REQUEST_TIMEOUT_MS - performance.now())));
  try {
    const response = await pool.request({
      path: request.path,
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
    });
    for await (const _chunk of response.body);
    timeline.response(phase, response.statusCode, performance.now() - due);
  } catch {
    timeline.failure(phase, signal.aborted ? REQUEST_TIMEOUT_MS : performance.now() - due);
  }
}
