import { DEVELOPMENT_JWT_SECRET, envSchema, type Env } from './env.schema.js';

export type NodeEnv = Env['NODE_ENV'];
export type ProcessRole = Env['ROLE'];
export type ReadPreference = Env['MONGODB_READ_PREFERENCE'];

/** The one typed configuration object, grouped by concern. */
export interface AppConfig {
  env: NodeEnv;
  role: ProcessRole;
  log: { level: Env['LOG_LEVEL'] };
  http: {
    port: number;
    /** Fastify's trustProxy: nobody, any peer, or these proxy addresses/CIDRs. */
    trustProxy: boolean | string[];
    bodyLimitBytes: number;
    keepAliveTimeoutMs: number;
    requestTimeoutMs: number;
    /** Deadline of a request's answer (request-deadlines.ts). */
    handlerTimeoutMs: number;
    compressionThresholdBytes: number;
    cors: { origins: '*' | string[]; maxAgeS: number };
  };
  shutdown: { drainMs: number; graceMs: number; stepTimeoutMs: number };
  mongo: {
    uri: string;
    maxPoolSize: number;
    serverSelectionTimeoutMs: number;
    socketTimeoutMs: number;
    /** The longest an operation waits for a pooled connection before it fails (503); at most the request deadline. */
    waitQueueTimeoutMs: number;
    /** Of the list queries that tolerate lag only; every other read goes to the primary (mongoose-options.ts). */
    listReadPreference: ReadPreference;
  };
  redis: { url: string; connectTimeoutMs: number; commandTimeoutMs: number; keyPrefix: string };
  metrics: { port: number; httpEnabled: boolean };
  /** OpenTelemetry traces, exported to `endpoint` when it is set. */
  tracing: { endpoint?: string; serviceName: string };
  health: { checkTimeoutMs: number };
  auth: {
    jwtSecret: string;
    accessTokenTtlS: number;
    /** The first admin, created at start when both variables are set. */
    admin?: { email: string; password: string };
    /** The bound on concurrent password hashes (password-hashing-admission.ts). */
    passwordHashing: { concurrency: number; queueLimit: number; maxWaitMs: number };
  };
  queues: { viewFlushIntervalMs: number; viewBufferMs: number; subscriptionSweepIntervalMs: number };
  cache: {
    l1Enabled: boolean;
    l1MaxBytes: number;
    l2TimeoutMs: number;
    ttlJitter: number;
    graceMs: number;
    softTimeoutMs: number;
    warmIntervalMs: number;
    publicMaxAgeS: number;
  };
  /** `timeoutMs`: the longest a call to the payment processor is waited for (bounded-payment-provider.ts). */
  payments: { webhookSecret?: string; webhookToleranceS: number; timeoutMs: number };
  media: {
    maxBytes: number;
    cacheMaxAgeS: number;
    /** How long a streamed answer may take to send (request-deadlines.ts). */
    downloadTimeoutMs: number;
    quotaFiles: number;
    quotaBytes: number;
    cleanupIntervalMs: number;
  };
  backup: {
    dir: string;
    cron: string;
    scheduleEnabled: boolean;
    retentionDays: number;
    verify: boolean;
    lockLeaseMs: number;
  };
  throttle: {
    enabled: boolean;
    anonymous: RateLimit;
    user: RateLimit;
    /** Login, register and password change, per client address. */
    credentials: RateLimit;
    /** Failed logins per account (email) from one client address. */
    credentialsAccount: RateLimit;
    /** Search, nearby and advanced search together, per account or client address. */
    search: RateLimit;
    /** Failed logins per account (email) over all client addresses. */
    credentialsGlobal: RateLimit;
    redisTimeoutMs: number;
    /** Clients counted in memory at most while Redis does not answer. */
    localMaxKeys: number;
  };
  monitoring: {
    memoryMb: { warn: number; critical: number; restart: number };
    cpuPercent: { warn: number; critical: number };
    errorRatePercent: { warn: number };
  };
  overload: { maxEventLoopDelayMs: number; maxHeapBytes: number };
}

export interface RateLimit {
  limit: number;
  windowS: number;
}

/** Values never echoed in start-up errors: secrets, and URIs and endpoints that may embed credentials. */
const SECRET_NAME = /SECRET|PASSWORD|URI|URL|ENDPOINT/;

/** Thrown when the environment is invalid; its message is the single line printed at start-up. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates `env` (normally `process.env`) and builds the typed configuration. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const set = stripEmpty(env);
  const parsed = envSchema.safeParse(set);
  const problems = (parsed.error?.issues ?? []).map((issue) => {
    const name = issue.path.join('.') || 'environment';
    const got = typeof issue.path[0] === 'string' && !SECRET_NAME.test(issue.path[0]) ? env[issue.path[0]] : undefined;
    return `${name} ${issue.message}${got === undefined ? '' : ` (got "${got}")`}`;
  });
  problems.push(...unknownThrottleTiers(set));
  if (!parsed.success || problems.length > 0) throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  return toAppConfig(parsed.data);
}

const THROTTLE_TIER_VARIABLE = /^THROTTLE_(\w+)_(LIMIT|TTL_S)$/;

/**
 * Unknown variables are ignored, but one shaped like a rate-limit tier's (a typo, or a tier that does not exist such as
 * THROTTLE_LOGIN_LIMIT) would be taken for a limit in force while limiting nothing.
 */
function unknownThrottleTiers(env: Record<string, string>): string[] {
  const known = Object.keys(envSchema.shape);
  const tiers = known.flatMap((name) => THROTTLE_TIER_VARIABLE.exec(name)?.[1] ?? []);
  const tierList = [...new Set(tiers)].join(', ');
  return Object.keys(env)
    .filter((name) => THROTTLE_TIER_VARIABLE.test(name) && !known.includes(name))
    .map((name) => `${name} is not a rate-limit tier (tiers: ${tierList})`);
}

function toAppConfig(env: Env): AppConfig {
  return {
    env: env.NODE_ENV,
    role: env.ROLE,
    log: { level: env.LOG_LEVEL },
    http: {
      port: env.PORT,
      trustProxy: env.TRUST_PROXY,
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      handlerTimeoutMs: env.HANDLER_TIMEOUT_MS,
      compressionThresholdBytes: env.COMPRESSION_THRESHOLD_BYTES,
      cors: { origins: env.CORS_ORIGINS, maxAgeS: env.CORS_MAX_AGE_S },
    },
    shutdown: {
      drainMs: env.SHUTDOWN_DRAIN_MS,
      graceMs: env.SHUTDOWN_GRACE_MS,
      stepTimeoutMs: env.SHUTDOWN_STEP_TIMEOUT_MS,
    },
    mongo: {
      uri: env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/vesta',
      maxPoolSize: env.MONGODB_MAX_POOL_SIZE,
      serverSelectionTimeoutMs: env.MONGODB_SERVER_SELECTION_TIMEOUT_MS,
      socketTimeoutMs: env.MONGODB_SOCKET_TIMEOUT_MS,
      waitQueueTimeoutMs: env.MONGODB_WAIT_QUEUE_TIMEOUT_MS ?? env.HANDLER_TIMEOUT_MS,
      listReadPreference: env.MONGODB_READ_PREFERENCE,
    },
    redis: {
      url: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      connectTimeoutMs: env.REDIS_CONNECT_TIMEOUT_MS,
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
      keyPrefix: env.REDIS_KEY_PREFIX,
    },
    metrics: { port: env.METRICS_PORT, httpEnabled: env.HTTP_METRICS_ENABLED },
    tracing: { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: env.OTEL_SERVICE_NAME },
    health: {
      checkTimeoutMs:
        env.HEALTH_CHECK_TIMEOUT_MS ?? Math.max(1, Math.min(1_500, Math.floor(env.HANDLER_TIMEOUT_MS / 2))),
    },
    auth: {
      jwtSecret: env.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET,
      accessTokenTtlS: env.JWT_ACCESS_TTL_S,
      admin:
        env.ADMIN_EMAIL && env.ADMIN_PASSWORD ? { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD } : undefined,
      passwordHashing: {
        concurrency: env.PASSWORD_HASH_CONCURRENCY,
        queueLimit: env.PASSWORD_HASH_QUEUE_LIMIT,
        maxWaitMs:
          env.PASSWORD_HASH_MAX_WAIT_MS ?? Math.max(1, Math.min(2_000, Math.floor(env.HANDLER_TIMEOUT_MS / 2))),
      },
    },
    queues: {
      viewFlushIntervalMs: env.VIEW_FLUSH_INTERVAL_MS,
      viewBufferMs: env.VIEW_BUFFER_MS,
      subscriptionSweepIntervalMs: env.SUBSCRIPTION_SWEEP_INTERVAL_MS,
    },
    cache: {
      l1Enabled: env.CACHE_L1_ENABLED,
      l1MaxBytes: env.CACHE_L1_MAX_BYTES,
      l2TimeoutMs: env.CACHE_L2_TIMEOUT_MS,
      ttlJitter: env.CACHE_TTL_JITTER,
      graceMs: env.CACHE_GRACE_S * 1_000,
      softTimeoutMs: env.CACHE_SOFT_TIMEOUT_MS ?? Math.min(250, Math.floor(env.HANDLER_TIMEOUT_MS / 2)),
      warmIntervalMs: env.CACHE_WARM_INTERVAL_MS,
      publicMaxAgeS: env.HTTP_PUBLIC_MAX_AGE_S ?? (env.NODE_ENV === 'production' ? 3_600 : 0),
    },
    media: {
      maxBytes: env.MEDIA_MAX_BYTES,
      cacheMaxAgeS: env.MEDIA_CACHE_MAX_AGE_S ?? (env.NODE_ENV === 'production' ? 2_592_000 : 0),
      downloadTimeoutMs: env.MEDIA_DOWNLOAD_TIMEOUT_MS,
      quotaFiles: env.MEDIA_QUOTA_FILES,
      quotaBytes: env.MEDIA_QUOTA_BYTES,
      cleanupIntervalMs: env.MEDIA_CLEANUP_INTERVAL_MS,
    },
    backup: {
      dir: env.BACKUP_DIR,
      cron: env.BACKUP_CRON,
      scheduleEnabled: env.BACKUP_SCHEDULE_ENABLED,
      retentionDays: env.BACKUP_RETENTION_DAYS,
      verify: env.BACKUP_VERIFY,
      lockLeaseMs: env.BACKUP_LOCK_LEASE_MS,
    },
    payments: {
      webhookSecret: env.PAYMENT_WEBHOOK_SECRET,
      webhookToleranceS: env.PAYMENT_WEBHOOK_TOLERANCE_S,
      timeoutMs: env.PAYMENT_TIMEOUT_MS ?? Math.max(1, Math.min(5_000, Math.floor(env.HANDLER_TIMEOUT_MS / 2))),
    },
    throttle: {
      enabled: env.THROTTLE_ENABLED,
      anonymous: { limit: env.THROTTLE_ANONYMOUS_LIMIT, windowS: env.THROTTLE_ANONYMOUS_TTL_S },
      user: { limit: env.THROTTLE_USER_LIMIT, windowS: env.THROTTLE_USER_TTL_S },
      credentials: { limit: env.THROTTLE_CREDENTIALS_LIMIT, windowS: env.THROTTLE_CREDENTIALS_TTL_S },
      credentialsAccount: {
        limit: env.THROTTLE_CREDENTIALS_ACCOUNT_LIMIT,
        windowS: env.THROTTLE_CREDENTIALS_ACCOUNT_TTL_S,
      },
      search: { limit: env.THROTTLE_SEARCH_LIMIT, windowS: env.THROTTLE_SEARCH_TTL_S },
      credentialsGlobal: {
        limit: env.THROTTLE_CREDENTIALS_GLOBAL_LIMIT,
        windowS: env.THROTTLE_CREDENTIALS_GLOBAL_TTL_S,
      },
      redisTimeoutMs: env.THROTTLE_REDIS_TIMEOUT_MS,
      localMaxKeys: env.THROTTLE_LOCAL_MAX_KEYS,
    },
    monitoring: {
      memoryMb: {
        warn: env.MONITOR_MEMORY_WARN_MB,
        critical: env.MONITOR_MEMORY_CRITICAL_MB,
        restart: env.MONITOR_MEMORY_RESTART_MB,
      },
      cpuPercent: { warn: env.MONITOR_CPU_WARN_PERCENT, critical: env.MONITOR_CPU_CRITICAL_PERCENT },
      errorRatePercent: { warn: env.MONITOR_ERROR_RATE_WARN_PERCENT },
    },
    overload: {
      maxEventLoopDelayMs: env.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapBytes: env.OVERLOAD_MAX_HEAP_MB * 1024 * 1024,
    },
  };
}

/** `PORT=` (set but empty) means "use the default", as most shells and manifests intend. */
function stripEmpty(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''),
  );
}
