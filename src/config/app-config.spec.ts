import { describe, expect, it } from 'vitest';
import { CredentialsDto } from '../auth/dto/credentials.dto.js';
import { RequestValidationPipe } from '../common/pipes/request-validation.pipe.js';
import { ABANDONED_AFTER_MS } from '../media/media-cleanup.js';
import { ConfigError, loadConfig } from './app-config.js';

/** What `openssl rand -base64 24` gives: a production signing key. */
const PRODUCTION_KEY = 'q3Vw9Zk1LmT0bXr7YcN2pHs8FdJ4gA6e';
/** The least a production start needs: real service addresses and a secret of its own. */
const PRODUCTION = {
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb+srv://cluster.example/vesta',
  REDIS_URL: 'rediss://cache.example:6380',
  JWT_SECRET: PRODUCTION_KEY,
};

describe('loadConfig', () => {
  it('works locally with no variables set, using the documented defaults', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3000);
    expect(config.metrics.port).toBe(9464);
    expect(config.mongo).toMatchObject({
      uri: 'mongodb://127.0.0.1:27017/vesta',
      maxPoolSize: 10,
      serverSelectionTimeoutMs: 5_000,
      socketTimeoutMs: 45_000,
      waitQueueTimeoutMs: 10_000,
      listReadPreference: 'primary',
    });
    expect(config.http.keepAliveTimeoutMs).toBeGreaterThan(60_000);
  });

  it('coerces and groups values by concern', () => {
    const config = loadConfig({
      PORT: '8080',
      TRUST_PROXY: 'true',
      MONGODB_READ_PREFERENCE: 'secondaryPreferred',
      SHUTDOWN_DRAIN_MS: '0',
    });
    expect(config.http).toMatchObject({ port: 8080, trustProxy: true });
    expect(config.mongo.listReadPreference).toBe('secondaryPreferred');
    expect(config.shutdown.drainMs).toBe(0);
  });

  it('reads TRUST_PROXY as a flag or a list of proxy addresses and ranges', () => {
    expect(loadConfig({ TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).http.trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ]);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY must be true, false or addresses/);
    expect(() => loadConfig({ TRUST_PROXY: 'yes' })).toThrow(/TRUST_PROXY/);
  });

  it('reads CORS_ORIGINS as * or a list of bare origins', () => {
    expect(loadConfig({}).http.cors).toEqual({ origins: '*', maxAgeS: 86_400 });
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).http.cors.origins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://app.example.com/login' })).toThrow(/CORS_ORIGINS must be \*/);
    expect(() => loadConfig({ CORS_ORIGINS: 'app.example.com' })).toThrow(/CORS_ORIGINS/);
  });

  it('requires the monitoring thresholds in order', () => {
    expect(() => loadConfig({ MONITOR_MEMORY_CRITICAL_MB: '700' })).toThrow(/MONITOR_MEMORY_CRITICAL_MB/);
    expect(() => loadConfig({ MONITOR_CPU_WARN_PERCENT: '90' })).toThrow(/MONITOR_CPU_CRITICAL_PERCENT/);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '' }).http.port).toBe(3000);
  });

  it('rejects an invalid value with one line naming the variable and the value', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^Invalid configuration: PORT .*\(got "eighty"\)$/);
    expect(() => loadConfig({ MONGODB_READ_PREFERENCE: 'fastest' })).toThrow(/MONGODB_READ_PREFERENCE/);
    expect(() => loadConfig({ MONGODB_URI: 'postgres://x' })).toThrow(/MONGODB_URI must start with mongodb/);
  });

  it('rejects a duration longer than a Node timer holds, which would fire after 1 ms instead', () => {
    // setTimeout(fn, 2 ** 31) runs fn at once: a forced exit at the first SIGTERM, Redis commands timed out at once.
    for (const name of [
      'SHUTDOWN_GRACE_MS',
      'REDIS_COMMAND_TIMEOUT_MS',
      'KEEP_ALIVE_TIMEOUT_MS',
      'CACHE_WARM_INTERVAL_MS',
    ]) {
      expect(() => loadConfig({ [name]: '2147483648' }), name).toThrow(
        new RegExp(`^Invalid configuration: ${name} must be at most 2147483647 .*\\(got "2147483648"\\)$`),
      );
    }
    expect(loadConfig({ SHUTDOWN_GRACE_MS: '2147483647' }).shutdown.graceMs).toBe(2_147_483_647);
  });

  it('refuses a trace sampler or ratio the OpenTelemetry SDK would replace with tracing every request', () => {
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio ' })).toThrow(
      /^Invalid configuration: OTEL_TRACES_SAMPLER .*\(got "parentbased_traceidratio "\)$/,
    );
    for (const ratio of ['0,1', '10%', '1.5', ' ']) {
      expect(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: ratio }), ratio).toThrow(
        /^Invalid configuration: OTEL_TRACES_SAMPLER_ARG /,
      );
    }
    for (const ratio of ['0.1', '.5', '1e-1', '0', '1']) {
      expect(
        () => loadConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio }),
        ratio,
      ).not.toThrow();
    }
  });

  it('rejects a backup schedule that would never fire, before a worker replaces the working one with it', () => {
    for (const cron of ['0 25 * * *', '0 3 31 2 *', '61 * * * *']) {
      expect(() => loadConfig({ BACKUP_CRON: cron }), cron).toThrow(
        /^Invalid configuration: BACKUP_CRON must be a cron/,
      );
    }
    expect(loadConfig({ BACKUP_CRON: '30 2 * * 0' }).backup.cron).toBe('30 2 * * 0');
  });

  it('rejects an overload heap limit at or below the readiness one, which would leave a refusing pod in service', () => {
    expect(() => loadConfig({ OVERLOAD_MAX_HEAP_MB: '512' })).toThrow(
      /OVERLOAD_MAX_HEAP_MB must be greater than MONITOR_MEMORY_RESTART_MB \(1024\)/,
    );
    expect(loadConfig({ OVERLOAD_MAX_HEAP_MB: '1025' }).overload.maxHeapBytes).toBe(1025 * 1024 * 1024);
  });

  it('rejects a Redis URL its client could not use, saying why, before anything connects', () => {
    const refusals: [Record<string, string>, RegExp][] = [
      [{ REDIS_URL: 'redis://127.0.0.1:notaport' }, /^Invalid configuration: REDIS_URL is not a valid URL$/],
      [{ REDIS_URL: 'redis://127.0.0.1:6379/abc' }, /^Invalid configuration: REDIS_URL .*database number/],
    ];
    for (const [env, message] of refusals) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message);
    const accepted = {
      MONGODB_URI: 'mongodb://vesta:s%40cret@db-0:27017,db-1:27017/vesta?replicaSet=rs0&w=majority',
      REDIS_URL: 'rediss://:s%40cret@redis.internal:6380/9',
    };
    expect(loadConfig(accepted).mongo.uri).toBe(accepted.MONGODB_URI);
    expect(loadConfig(accepted).redis.url).toBe(accepted.REDIS_URL);
    expect(loadConfig({ MONGODB_URI: 'mongodb+srv://cluster0.example.net/vesta' }).mongo.uri).toMatch(/^mongodb\+srv/);
  });

  it('refuses a THROTTLE_<TIER> variable of a tier that does not exist, which would otherwise limit nothing', () => {
    expect(() => loadConfig({ THROTTLE_LOGIN_LIMIT: '5' })).toThrow(
      /^Invalid configuration: THROTTLE_LOGIN_LIMIT is not a rate-limit tier \(tiers: ANONYMOUS, USER, .*SEARCH.*\)$/,
    );
    expect(() => loadConfig({ THROTTLE_ANONYMOS_TTL_S: '60', PORT: 'x' })).toThrow(
      /^Invalid configuration: PORT .*; THROTTLE_ANONYMOS_TTL_S is not a rate-limit tier/,
    );
    expect(loadConfig({ THROTTLE_LOGIN_LIMIT: '' }).throttle.anonymous.limit).toBe(100);
  });

  it('refuses a REQUEST_TIMEOUT_MS that would let an upload outlast the cleanup of abandoned writes', () => {
    const longest = loadConfig({ REQUEST_TIMEOUT_MS: '600000', HANDLER_TIMEOUT_MS: '300000' }).http;
    expect(longest.requestTimeoutMs + longest.handlerTimeoutMs).toBeLessThan(ABANDONED_AFTER_MS);
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: '600001' })).toThrow(/^Invalid configuration: REQUEST_TIMEOUT_MS/);
  });

  it('refuses METRICS_PORT equal to PORT, which could only fail to listen', () => {
    expect(() => loadConfig({ PORT: '8080', METRICS_PORT: '8080' })).toThrow(
      /^Invalid configuration: METRICS_PORT must differ from PORT \(both 8080\)/,
    );
    expect(loadConfig({ PORT: '0', METRICS_PORT: '0' }).metrics.port).toBe(0);
  });

  it('refuses a THROTTLE_LOCAL_MAX_KEYS whose in-memory counts could not fit a pod', () => {
    // The counts reserve about 28 bytes a client at start and hold about 400 a client at the cap: 1e9 aborted the
    // process at start with a V8 heap-out-of-memory trace, 1e7 kept 280 MB reserved on every pod.
    expect(() => loadConfig({ THROTTLE_LOCAL_MAX_KEYS: '1000000000' })).toThrow(
      /^Invalid configuration: THROTTLE_LOCAL_MAX_KEYS .*1000000/,
    );
    expect(loadConfig({ THROTTLE_LOCAL_MAX_KEYS: '1000000' }).throttle.localMaxKeys).toBe(1_000_000);
  });

  it('takes numbers only in decimal digits, which Number() alone would read otherwise', () => {
    for (const [name, value] of [
      ['PORT', '0x10'],
      ['THROTTLE_ANONYMOUS_LIMIT', '1e3'],
      ['CACHE_TTL_JITTER', '.1'],
      ['HANDLER_TIMEOUT_MS', '-5'],
    ]) {
      expect(() => loadConfig({ [name]: value }), name).toThrow(
        `Invalid configuration: ${name} must be a number in decimal digits (got "${value}")`,
      );
    }
    expect(loadConfig({ PORT: ' 8080 ', CACHE_TTL_JITTER: '0.25' })).toMatchObject({
      http: { port: 8080 },
      cache: { ttlJitter: 0.25 },
    });
  });

  it('rejects a short JWT secret and an admin email without its password', () => {
    expect(() => loadConfig({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET must be at least 32 characters$/);
    expect(() => loadConfig({ MONGODB_URI: 'mongo://admin:hunter2@db' })).not.toThrow(/hunter2/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector:hunter2@otel' })).toThrow(/^(?!.*hunter2)/);
    expect(() => loadConfig({ ADMIN_EMAIL: 'admin@example.com' })).toThrow(
      /ADMIN_PASSWORD and ADMIN_EMAIL must be set together/,
    );
    // Twelve code points as sent, six characters once normalised.
    expect(() => loadConfig({ ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: 'e\u0301'.repeat(6) })).toThrow(
      /ADMIN_PASSWORD must be at least 12 characters/,
    );
    expect(loadConfig({ ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: 'a-long-password' }).auth.admin).toEqual({
      email: 'admin@example.com',
      password: 'a-long-password',
    });
  });

  it('takes the ADMIN_EMAIL addresses login takes, normalised as accounts store them, and refuses the others', async () => {
    const admin = (email: string) => loadConfig({ ADMIN_EMAIL: email, ADMIN_PASSWORD: 'a-long-password' }).auth.admin;
    const login = (email: string) =>
      new RequestValidationPipe({ transform: true }).transform(
        { email, password: 'a-long-password' },
        { type: 'body', metatype: CredentialsDto },
      );
    const accepted = ['admin@b\u00fccher.example', ' Ops-Lead@Example.COM ', 'jose\u0301@example.com'];
    const refused = [`${'a'.repeat(65)}@example.com`, 'admin@x-.io', 'ad\u200bmin@example.com', 'admin@localhost'];
    for (const email of accepted) {
      const { email: stored } = (await login(email)) as CredentialsDto;
      expect(admin(email)?.email, email).toBe(stored);
    }
    expect(admin('admin@b\u00fccher.example')?.email).toBe('admin@xn--bcher-kva.example');
    for (const email of refused) {
      await expect(login(email), email).rejects.toThrow();
      expect(() => admin(email), email).toThrow(
        /^Invalid configuration: ADMIN_EMAIL is not an address members can log in with \(email must .*\) \(got ".*"\)$/,
      );
    }
  });

  it('requires the shutdown grace period to outlast the drain', () => {
    expect(() => loadConfig({ SHUTDOWN_DRAIN_MS: '5000', SHUTDOWN_GRACE_MS: '5000' })).toThrow(
      /SHUTDOWN_GRACE_MS must be greater than SHUTDOWN_DRAIN_MS/,
    );
  });

  it('keeps one shutdown close step shorter than the time the grace period leaves after the drain', () => {
    const shutdown = { SHUTDOWN_DRAIN_MS: '5000', SHUTDOWN_GRACE_MS: '25000' };
    expect(loadConfig({ ...shutdown, SHUTDOWN_STEP_TIMEOUT_MS: '3000' }).shutdown.stepTimeoutMs).toBe(3000);
    expect(() => loadConfig({ ...shutdown, SHUTDOWN_STEP_TIMEOUT_MS: '20000' })).toThrow(
      /SHUTDOWN_STEP_TIMEOUT_MS must be less than SHUTDOWN_GRACE_MS minus SHUTDOWN_DRAIN_MS/,
    );
  });

  it('bounds the health checks below the request deadline', () => {
    expect(loadConfig({ HEALTH_CHECK_TIMEOUT_MS: '9999' }).health.checkTimeoutMs).toBe(9_999);
    expect(() => loadConfig({ HEALTH_CHECK_TIMEOUT_MS: '10000' })).toThrow(
      /HEALTH_CHECK_TIMEOUT_MS must be less than HANDLER_TIMEOUT_MS/,
    );
    // Unset, it follows a shorter deadline down.
    expect(loadConfig({}).health.checkTimeoutMs).toBe(1_500);
    expect(loadConfig({ HANDLER_TIMEOUT_MS: '1000' }).health.checkTimeoutMs).toBe(500);
  });

  it('bounds the wait for a reload below the request deadline, so a slow database gets the expired entry', () => {
    expect(loadConfig({ CACHE_SOFT_TIMEOUT_MS: '9999' }).cache.softTimeoutMs).toBe(9_999);
    expect(() => loadConfig({ HANDLER_TIMEOUT_MS: '2000', CACHE_SOFT_TIMEOUT_MS: '5000' })).toThrow(
      /CACHE_SOFT_TIMEOUT_MS must be less than HANDLER_TIMEOUT_MS/,
    );
    // Unset, it follows a shorter deadline down.
    expect(loadConfig({}).cache.softTimeoutMs).toBe(250);
    expect(loadConfig({ HANDLER_TIMEOUT_MS: '300' }).cache.softTimeoutMs).toBe(150);
  });

  it('bounds the wait for the payment processor below the request deadline', () => {
    expect(loadConfig({}).payments.timeoutMs).toBe(5_000);
    expect(loadConfig({ HANDLER_TIMEOUT_MS: '4000' }).payments.timeoutMs).toBe(2_000);
    expect(loadConfig({ PAYMENT_TIMEOUT_MS: '8000' }).payments.timeoutMs).toBe(8_000);
    expect(() => loadConfig({ PAYMENT_TIMEOUT_MS: '10000' })).toThrow(
      /PAYMENT_TIMEOUT_MS must be less than HANDLER_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ PAYMENT_TIMEOUT_MS: '0' })).toThrow(/PAYMENT_TIMEOUT_MS/);
  });

  it('bounds password hashing below the threadpool and its wait below the request deadline', () => {
    expect(loadConfig({}).auth.passwordHashing).toEqual({ concurrency: 2, queueLimit: 32, maxWaitMs: 2_000 });
    // Unset, the wait follows a shorter deadline down, so a waiting login is refused before the deadline answers it.
    expect(loadConfig({ HANDLER_TIMEOUT_MS: '1000' }).auth.passwordHashing.maxWaitMs).toBe(500);
    // The deadline by default, so a shorter deadline does not make the default refused.
    expect(loadConfig({ HANDLER_TIMEOUT_MS: '3000' }).mongo.waitQueueTimeoutMs).toBe(3_000);
    expect(
      loadConfig({ PASSWORD_HASH_CONCURRENCY: '6', UV_THREADPOOL_SIZE: '8', PASSWORD_HASH_QUEUE_LIMIT: '0' }).auth
        .passwordHashing,
    ).toMatchObject({ concurrency: 6, queueLimit: 0 });

    expect(() => loadConfig({ PASSWORD_HASH_CONCURRENCY: '4' })).toThrow(
      /PASSWORD_HASH_CONCURRENCY must be less than UV_THREADPOOL_SIZE \(4\), or compression, files and DNS wait/,
    );
    expect(() => loadConfig({ PASSWORD_HASH_CONCURRENCY: '0' })).toThrow(/PASSWORD_HASH_CONCURRENCY/);
    expect(() => loadConfig({ PASSWORD_HASH_QUEUE_LIMIT: '-1' })).toThrow(/PASSWORD_HASH_QUEUE_LIMIT/);
    expect(() => loadConfig({ PASSWORD_HASH_MAX_WAIT_MS: '10000' })).toThrow(
      /PASSWORD_HASH_MAX_WAIT_MS must be less than HANDLER_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ PASSWORD_HASH_MAX_WAIT_MS: 'soon' })).toThrow(/PASSWORD_HASH_MAX_WAIT_MS/);
    expect(() => loadConfig({ MONGODB_WAIT_QUEUE_TIMEOUT_MS: '10001' })).toThrow(
      /MONGODB_WAIT_QUEUE_TIMEOUT_MS must be at most HANDLER_TIMEOUT_MS/,
    );
    // libuv's own ceiling: a pool asked for more has 1024 threads, which a concurrency of 1024 would fill.
    expect(() => loadConfig({ UV_THREADPOOL_SIZE: '2000', PASSWORD_HASH_CONCURRENCY: '1024' })).toThrow(
      /UV_THREADPOOL_SIZE/,
    );
  });

  it('names every invalid variable at once', () => {
    expect(() => loadConfig({ PORT: '-1', LOG_LEVEL: 'loud' })).toThrow(/PORT .*; LOG_LEVEL/);
  });

  it('requires real service addresses in production instead of defaulting to localhost', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /MONGODB_URI is required in production; REDIS_URL is required in production; JWT_SECRET/,
    );
    const config = loadConfig(PRODUCTION);
    expect(config.mongo.uri).toBe('mongodb+srv://cluster.example/vesta');
  });

  it('caches media downloads for 30 days in production only, as the Vesta report caches static files', () => {
    expect(loadConfig(PRODUCTION).media.cacheMaxAgeS).toBe(2_592_000);
    expect(loadConfig({}).media.cacheMaxAgeS).toBe(0);
    expect(loadConfig({ NODE_ENV: 'test' }).media.cacheMaxAgeS).toBe(0);
    expect(loadConfig({ MEDIA_CACHE_MAX_AGE_S: '600' }).media.cacheMaxAgeS).toBe(600);
    expect(loadConfig({ ...PRODUCTION, MEDIA_CACHE_MAX_AGE_S: '0' }).media.cacheMaxAgeS).toBe(0);
  });

  it('has clients keep public catalogue data 1 h in production only; L1 holds 50 MiB, Redis gets 50 ms', () => {
    expect(loadConfig(PRODUCTION).cache.publicMaxAgeS).toBe(3_600);
    expect(loadConfig({}).cache.publicMaxAgeS).toBe(0);
    expect(loadConfig({ ...PRODUCTION, HTTP_PUBLIC_MAX_AGE_S: '60' }).cache.publicMaxAgeS).toBe(60);
    expect(loadConfig({}).cache).toMatchObject({ l1Enabled: true, l1MaxBytes: 50 * 1024 * 1024, l2TimeoutMs: 50 });
    expect(loadConfig({ CACHE_L1_MAX_BYTES: '1048576', CACHE_L2_TIMEOUT_MS: '20' }).cache).toMatchObject({
      l1MaxBytes: 1_048_576,
      l2TimeoutMs: 20,
    });
  });

  it('refuses in production the secrets the repository publishes, which anyone could sign or log in with', () => {
    // k8s/base/secret.example.yaml as it stands, docker-compose.yml's old key, the source's development key.
    const published = {
      JWT_SECRET: 'CHANGE-ME-to-at-least-32-random-characters',
      PAYMENT_WEBHOOK_SECRET: 'CHANGE-ME-to-at-least-32-random-characters',
      ADMIN_EMAIL: 'admin@example.com',
      ADMIN_PASSWORD: 'CHANGE-ME-long-password',
    };
    // Each named, none repeated.
    const refused = /JWT_SECRET is a placeholder.*; PAYMENT_WEBHOOK_SECRET is a placeholder.*; ADMIN_PASSWORD is a pl/;
    expect(() => loadConfig({ ...PRODUCTION, ...published })).toThrow(refused);
    expect(() => loadConfig({ ...PRODUCTION, ...published })).not.toThrow(/CHANGE-ME/);
    for (const key of [
      'change-me-local-compose-secret-32-chars-min',
      'vesta-development-secret-never-use-in-production',
      'x'.repeat(32),
      ' '.repeat(40),
    ]) {
      expect(() => loadConfig({ ...PRODUCTION, JWT_SECRET: key })).toThrow(/JWT_SECRET (is a placeholder|has only)/);
    }
    // Outside production the same values still start a local or test instance.
    expect(() => loadConfig({ ...published, NODE_ENV: 'development' })).not.toThrow();
    for (const password of ['our-exchange-meeting-2026', "you can't change me 2026!"]) {
      const admin = { ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: password };
      expect(loadConfig({ ...PRODUCTION, ...admin }).auth.admin?.password).toBe(password);
    }
    expect(loadConfig({ ...PRODUCTION, PAYMENT_WEBHOOK_SECRET: PRODUCTION_KEY }).payments.webhookSecret).toBe(
      PRODUCTION_KEY,
    );
  });
});
