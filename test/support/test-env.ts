import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';

/** The database of this Vitest worker, so parallel test files never share collections. */
export function workerMongoUri(suffix = ''): string {
  const uri = new URL(requiredEnv('MONGODB_URI'));
  uri.pathname = `/vesta_test_w${process.env.VITEST_POOL_ID ?? '0'}${suffix}`;
  return uri.toString();
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see test/support/global-setup.ts)`);
  return value;
}

/** Environment for an app under test: real services, OS-chosen ports, quiet logs. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    MONGODB_URI: workerMongoUri(),
    REDIS_URL: requiredEnv('REDIS_URL'),
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    SHUTDOWN_DRAIN_MS: '0',
    // Each app gets its own Redis namespace (views, queues), so parallel files never share keys.
    REDIS_KEY_PREFIX: `vesta-test-${process.env.VITEST_POOL_ID ?? '0'}-${randomUUID().slice(0, 8)}:`,
    // Tests flush views explicitly; the schedule would race them.
    ROLE: 'api',
    // Several apps and the test code share one event loop per test file, on a shared 2-core machine: a
    // second-long stall there is the test harness, not overload. Off, not just high: after a stall that left
    // @fastify/under-pressure no sample, it reads the delay as Infinity and refuses everything for a second
    // (seen in CI on registering an account). The overload test uses the heap limit.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Never a scheduled backup in the middle of a test (worker apps would otherwise add the 03:00 schedule).
    BACKUP_SCHEDULE_ENABLED: 'false',
    BACKUP_DIR: join(tmpdir(), `vesta-test-backups-${process.pid}`),
    // Many tests send hundreds of requests from one address; the rate-limit tests set their own limits.
    THROTTLE_ANONYMOUS_LIMIT: '1000000',
    THROTTLE_USER_LIMIT: '1000000',
    THROTTLE_CREDENTIALS_LIMIT: '1000000',
    THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '1000000',
    THROTTLE_SEARCH_LIMIT: '1000000',
    THROTTLE_CREDENTIALS_GLOBAL_LIMIT: '1000000',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  return loadConfig(testEnv(overrides));
}
