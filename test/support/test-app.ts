import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app.factory.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { MetricsServer } from '../../src/metrics/metrics-server.js';
import { login, type Account } from '../factories/accounts.js';
import { testConfig } from './test-env.js';

export interface RunningApp {
  app: NestFastifyApplication;
  /** Base URL of the public listener, e.g. http://127.0.0.1:41234 */
  url: string;
  metricsUrl: string;
  close(): Promise<void>;
}

/** Boots the production wiring (createApp) on free ports, as main.ts does. */
export async function startApp(config: AppConfig): Promise<RunningApp> {
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = await app.getUrl();
  const metricsPort = app.get(MetricsServer).port;
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    close: () => app.close(),
  };
}

/** An app whose first admin comes from ADMIN_EMAIL / ADMIN_PASSWORD, and that admin logged in. */
export async function startAppWithAdmin(
  label: string,
  overrides: Record<string, string> = {},
): Promise<{ running: RunningApp; admin: Account }> {
  const email = `${label}-${Date.now()}@example.test`;
  const password = 'an-admin-password-long-enough';
  const running = await startApp(testConfig({ ADMIN_EMAIL: email, ADMIN_PASSWORD: password, ...overrides }));
  const token = await login(running.url, email, password);
  return { running, admin: { email, password, token, userId: '', auth: { authorization: `Bearer ${token}` } } };
}

export interface AppWithRedis {
  config: AppConfig;
  running: RunningApp;
  /** A client of the test's own on the app's Redis; keys need the app's prefix (`config.redis.keyPrefix`). */
  redis: Redis;
  /** Stops the app, then removes every key under its prefix and closes the client. */
  close(): Promise<void>;
}

/** An app under test (testConfig with `overrides`) and a Redis client beside it, for tests on its keys. */
export async function startAppWithRedis(overrides: Record<string, string> = {}): Promise<AppWithRedis> {
  const config = testConfig(overrides);
  const running = await startApp(config);
  const redis = new Redis(config.redis.url);
  const close = async () => {
    await running.close();
    const keys = await redis.keys(`${config.redis.keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  };
  return { config, running, redis, close };
}
