import { z } from 'zod';

// 0 asks the OS for a free port (used by tests).
const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/**
 * Every environment variable the process reads, with its default. Values arrive as strings;
 * the schema coerces and bounds them so a typo fails start-up instead of a request.
 */
export const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    ROLE: z.enum(['api', 'worker', 'all']).default('all'),
    PORT: port.default(3000),
    METRICS_PORT: port.default(9464),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    TRUST_PROXY: booleanFlag.default(false),

    BODY_LIMIT_BYTES: positiveInt.max(50 * 1024 * 1024).default(1024 * 1024),
    // Above the load balancer's idle timeout (AWS ALB: 60 s by default), so the LB closes idle
    // connections first and never reuses one the server already dropped. Raise it to match an LB
    // with a longer timeout (GCP's HTTP(S) LB keeps backend connections for 600 s).
    KEEP_ALIVE_TIMEOUT_MS: positiveInt.default(65_000),
    REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
    COMPRESSION_THRESHOLD_BYTES: z.coerce.number().int().min(0).default(1024),

    SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).default(5_000),
    SHUTDOWN_GRACE_MS: positiveInt.default(25_000),

    MONGODB_URI: z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
      .optional(),
    MONGODB_MAX_POOL_SIZE: positiveInt.max(500).default(10),
    MONGODB_SERVER_SELECTION_TIMEOUT_MS: positiveInt.default(5_000),
    MONGODB_SOCKET_TIMEOUT_MS: positiveInt.default(45_000),
    MONGODB_READ_PREFERENCE: z
      .enum(['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'])
      .default('primary'),

    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional(),
    REDIS_CONNECT_TIMEOUT_MS: positiveInt.default(2_000),
    REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(1_000),
    // Namespaces every key (and Bull queue) so several environments can share one Redis.
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[\w.:-]{1,64}$/, 'must be 1-64 letters, digits, dots, colons, dashes or underscores')
      .default('vesta:'),

    HEALTH_CHECK_TIMEOUT_MS: positiveInt.max(10_000).default(1_500),

    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    JWT_ACCESS_TTL_S: positiveInt.max(24 * 3600).default(900),
    ADMIN_EMAIL: z.email().optional(),
    ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(128).optional(),

    VIEW_FLUSH_INTERVAL_MS: positiveInt.min(100).default(5_000),
    // Each instance adds up views in memory and sends them to Redis this often, in one round trip.
    VIEW_BUFFER_MS: positiveInt.min(10).max(60_000).default(1_000),

    CACHE_L1_ENABLED: booleanFlag.default(true),
    CACHE_L1_MAX_BYTES: positiveInt.default(50 * 1024 * 1024),
    // A cache read that waits longer than this for Redis is treated as a miss (fail open).
    CACHE_L2_TIMEOUT_MS: positiveInt.max(5_000).default(50),
    // Spread expiries of entries written together by up to this fraction of their TTL.
    CACHE_TTL_JITTER: z.coerce.number().min(0).max(0.5).default(0.1),
    CACHE_WARM_INTERVAL_MS: positiveInt.min(1_000).default(300_000),
    // Cache-Control max-age of public catalogue data; the Vesta report uses 1 h in production.
    HTTP_PUBLIC_MAX_AGE_S: z.coerce.number().int().min(0).max(86_400).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.SHUTDOWN_GRACE_MS <= env.SHUTDOWN_DRAIN_MS) {
      ctx.addIssue({ code: 'custom', path: ['SHUTDOWN_GRACE_MS'], message: 'must be greater than SHUTDOWN_DRAIN_MS' });
    }
    if (Boolean(env.ADMIN_EMAIL) !== Boolean(env.ADMIN_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_PASSWORD'], message: 'and ADMIN_EMAIL must be set together' });
    }
    // In production a forgotten variable must not silently point at localhost.
    if (env.NODE_ENV !== 'production') return;
    for (const key of ['MONGODB_URI', 'REDIS_URL', 'JWT_SECRET'] as const) {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required in production' });
    }
  });

export type Env = z.infer<typeof envSchema>;
