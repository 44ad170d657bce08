import { HealthIndicatorService } from '@nestjs/terminus';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import type { DatabaseAnswers } from '../database/database-answers.js';
import type { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { DatabasePing } from './database-ping.js';

/** A ping whose one connection answers one command at a time, each in 5 ms. */
function pingOverOneConnection() {
  const ping = new DatabasePing(
    loadConfig({}),
    new HealthIndicatorService(),
    {} as ShutdownSteps,
    { answered: () => undefined } as unknown as DatabaseAnswers,
  );
  let commands = 0;
  let queue = Promise.resolve();
  const command = () => {
    commands += 1;
    const answer = queue.then(() => sleep(5));
    queue = answer;
    return answer;
  };
  const db = () => ({ collection: () => ({ findOne: command }) });
  Object.defineProperty(ping, 'client', { value: { connect: () => Promise.resolve(), db } });
  return { ping, commands: () => commands };
}

describe('DatabasePing', () => {
  it('answers a flood of concurrent readiness checks with one ping, so the next check is not queued behind them', async () => {
    const { ping, commands } = pingOverOneConnection();
    const flood = await Promise.all(Array.from({ length: 500 }, () => ping.check('mongodb', 1_500)));
    expect(flood.every((result) => result.mongodb.status === 'up')).toBe(true);
    expect(commands()).toBe(1);
    // A check after the flood pings again, and at once: nothing left in line.
    const next = await ping.check('mongodb', 100);
    expect(next.mongodb.status).toBe('up');
    expect(commands()).toBe(2);
  });
});
