import parser from 'cron-parser';
import { isIP } from 'node:net';
import { z } from 'zod';
import { passwordCharacters } from '../auth/dto/password-rules.js';
import { checkAccountEmail } from '../users/account-email.js';
import { redisUrlProblem } from './redis-url.js';

// 0 asks the OS for a free port (used by tests).
const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().positive();
/**
 * The longest delay Node's timers hold, about 24.8 days. A longer one fires after 1 ms (TimeoutOverflowWarning): a
 * SHUTDOWN_GRACE_MS of 2147483648 forced exit 1 at the first SIGTERM, and a REDIS_COMMAND_TIMEOUT_MS as large failed
 * Redis commands with "Command timed out" at once.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A duration in milliseconds that reaches a timer, at least `min`. */
const milliseconds = (min = 1) =>
  z
    .number()
    .int()
    .min(min)
    .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} (about 24.8 days), the longest delay a Node timer holds`);

/**
 * A number as an env file writes it, in decimal digits, checked by `schema`. Until 2026-12-03 these were
 * z.coerce.number(), which takes whatever Number() does: PORT=0x10 listened on port 16, and a limit of 1e3 meant 1,000.
 */
function decimal(schema: z.ZodNumber) {
  return z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, { message: 'must be a number in decimal digits', abort: true })
    .transform(Number)
    .pipe(schema);
}
const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** `true`/`1`, `false`/`0`, or proxy addresses and CIDR ranges (`10.0.0.0/8,127.0.0.1`). */
function parseTrustProxy(value: string, ctx: z.RefinementCtx): boolean | string[] {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  const entries = value.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || rest.length > 0) {
      ctx.addIssue({ code: 'custom', message: `must be true, false or addresses/CIDRs; "${entry}" is neither` });
    }
  }
  return entries;
}

function accountEmail(value: string, ctx: z.RefinementCtx): string {
  const { email, problems } = checkAccountEmail(value);
  if (problems.length > 0) {
    ctx.addIssue({ code: 'custom', message: `is not an address members can log in with (${problems.join('; ')})` });
  }
  return email;
}

/** `*`, or a comma-separated list of origins (`https://app.example.com`), each without a path. */
function parseOrigins(value: string, ctx: z.RefinementCtx): '*' | string[] {
  if (value.trim() === '*') return '*';
  const origins = value.split(',').map((entry) => entry.trim());
  for (const origin of origins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      ctx.addIssue({
        code: 'custom',
        message: `must be * or origins like https://app.example.com; "${origin}" is not`,
      });
    }
  }
  return origins;
}

/** Local-only signing key; production refuses to start without JWT_SECRET, and with this one (see below). */
export const DEVELOPMENT_JWT_SECRET = 'vesta-development-secret-never-use-in-production';

/**
 * Why `value` cannot be a production secret, or undefined. The repository publishes values that pass the length
 * check: secret.example.yaml's CHANGE-ME placeholders (JWT_SECRET and PAYMENT_WEBHOOK_SECRET 42 characters, the
 * admin password 23), docker-compose.yml's old key and the development key above. Applied as they are, anyone could
 * sign an admin token or a payment event, or log in as the first admin. A key of few distinct characters
 * ('x' repeated, spaces) is no more secret. Only production refuses them: local and test runs may use anything.
 */
function publishedSecretProblem(value: string, minDistinct: number): string | undefined {
  // At the start, as every published placeholder has it, and as a word: a chosen passphrase such as 'exchange-meeting'
  // or "you can't change me" is not taken for one.
  if (/^\s*change[-_ ]?me\b/i.test(value) || value === DEVELOPMENT_JWT_SECRET) {
    return 'is a placeholder published in this repository: in production use a random value (openssl rand -base64 48)';
  }
  const distinct = new Set(value).size;
  if (distinct < minDistinct) {
    return `has only ${distinct} distinct characters: in production use a random value (openssl rand -base64 48)`;
  }
  return undefined;
}

/** Adds `problem(value)`, when there is one, as the variable's issue. */
function checkedBy(problem: (value: string) => string | undefined) {
  return (value: string, ctx: z.RefinementCtx): void => {
    const message = problem(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message });
  };
}

/**
 * Every environment variable the process reads, with its default. Values arrive as strings;
 * the schema coerces and bounds them so a typo fails start-up instead of a request.
 */
export const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    ROLE: z.enum(['api', 'worker', 'all']).default('all'),
    PORT: decimal(port).default(3000),
    METRICS_PORT: decimal(port).default(9464),
    // Tracing is on only when a collector is named (OTLP over HTTP; /v1/traces is appended).
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    OTEL_SERVICE_NAME: z.string().min(1).max(100).default('vesta-api'),
    // The SDK's own (it reads both itself); here only to refuse what it would silently replace with its default and
    // trace every request: an unknown sampler, or a ratio such as "0,1" or "10%". Ratio samplers read
    // OTEL_TRACES_SAMPLER_ARG, a share from 0 to 1.
    OTEL_TRACES_SAMPLER: z
      .enum([
        'always_on',
        'always_off',
        'traceidratio',
        'parentbased_always_on',
        'parentbased_always_off',
        'parentbased_traceidratio',
      ])
      .optional(),
    // Read as the SDK reads it (Number), so that ".5" and "1e-1", which it takes, are taken here too.
    OTEL_TRACES_SAMPLER_ARG: z
      .string()
      .trim()
      .min(1, 'must be a number from 0 to 1')
      .transform(Number)
      .pipe(z.number({ error: 'must be a number from 0 to 1' }).min(0).max(1))
      .optional(),
    // Per-request HTTP metrics (the rest of /metrics stays); off only to measure their cost.
    HTTP_METRICS_ENABLED: booleanFlag.default(true),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // Whose X-Forwarded-For to believe: false (nobody), true (any peer), or a comma-separated list of proxy
    // addresses/CIDRs.
    TRUST_PROXY: z.string().default('false').transform(parseTrustProxy),
    // Browser origins allowed to call the API: * (any; safe since auth is a bearer token, never a cookie)
    // or a comma-separated list of origins. Preflights are cached for CORS_MAX_AGE_S (the report: one day).
    CORS_ORIGINS: z.string().default('*').transform(parseOrigins),
    CORS_MAX_AGE_S: decimal(z.number().int().min(0).max(86_400)).default(86_400),

    BODY_LIMIT_BYTES: decimal(positiveInt.max(50 * 1024 * 1024)).default(1024 * 1024),
    // Above the load balancer's idle timeout (AWS ALB: 60 s by default), so the LB closes idle
    // connections first and never reuses one the server already dropped. Raise it to match an LB
    // with a longer timeout (GCP's HTTP(S) LB keeps backend connections for 600 s).
    KEEP_ALIVE_TIMEOUT_MS: decimal(milliseconds()).default(65_000),
    // At most 10 minutes: an upload may take this plus HANDLER_TIMEOUT_MS, which must stay well inside the hour after
    // which the media cleanup deletes a write still pending as abandoned (ABANDONED_AFTER_MS), file and all.
    REQUEST_TIMEOUT_MS: decimal(positiveInt.max(600_000)).default(30_000),
    // Longest a request may wait for its answer before it gets a 503 problem, so a hung database never holds a
    // client; an upload gets REQUEST_TIMEOUT_MS more to send its file. Below the report's 30 s proxy read timeout.
    HANDLER_TIMEOUT_MS: decimal(positiveInt.max(300_000)).default(10_000),
    COMPRESSION_THRESHOLD_BYTES: decimal(z.number().int().min(0)).default(1024),

    SHUTDOWN_DRAIN_MS: decimal(milliseconds(0)).default(5_000),
    SHUTDOWN_GRACE_MS: decimal(milliseconds()).default(25_000),
    // Longest one close step of a shutdown (the Bull queues, a Redis connection, MongoDB) may take before it is
    // abandoned, so a dependency that hangs cannot hold the exit until SHUTDOWN_GRACE_MS forces it.
    SHUTDOWN_STEP_TIMEOUT_MS: decimal(milliseconds()).default(3_000),

    MONGODB_URI: z
      .string()
      // The driver's own check of the rest is in main.ts (mongo-uri.ts).
      .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
      .optional(),
    MONGODB_MAX_POOL_SIZE: decimal(positiveInt.max(500)).default(10),
    MONGODB_SERVER_SELECTION_TIMEOUT_MS: decimal(milliseconds()).default(5_000),
    MONGODB_SOCKET_TIMEOUT_MS: decimal(milliseconds()).default(45_000),
    MONGODB_WAIT_QUEUE_TIMEOUT_MS: decimal(milliseconds()).optional(),
    MONGODB_READ_PREFERENCE: z
      .enum(['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'])
      .default('primary'),

    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, { message: 'must start with redis:// or rediss://', abort: true })
      .superRefine(checkedBy(redisUrlProblem))
      .optional(),
    REDIS_CONNECT_TIMEOUT_MS: decimal(milliseconds()).default(2_000),
    REDIS_COMMAND_TIMEOUT_MS: decimal(milliseconds()).default(1_000),
    // Namespaces every key (and Bull queue) so several environments can share one Redis.
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[\w.:-]{1,64}$/, 'must be 1-64 letters, digits, dots, colons, dashes or underscores')
      .default('vesta:'),

    // Unset: 1500, or half of HANDLER_TIMEOUT_MS when that is less (app-config.ts).
    HEALTH_CHECK_TIMEOUT_MS: decimal(positiveInt.max(10_000)).optional(),

    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    JWT_ACCESS_TTL_S: decimal(positiveInt.max(24 * 3600)).default(900),
    // Checked and normalised as register and login check an email: an address login refuses could never sign in.
    ADMIN_EMAIL: z.string().transform(accountEmail).optional(),
    // Counted as new passwords are: in characters after normalisation (NFKC), the form that is hashed.
    ADMIN_PASSWORD: z
      .string()
      .max(128)
      .refine((password) => passwordCharacters(password) >= 12, 'must be at least 12 characters')
      .optional(),
    // Password hashing (argon2id, 64 MiB and ~100 ms each) runs on libuv's threadpool, which zlib, fs and DNS share: at
    // most this many hashes at once, this many callers waiting, none longer than this; the rest get a quick 503.
    PASSWORD_HASH_CONCURRENCY: decimal(positiveInt.max(1_024)).default(2),
    PASSWORD_HASH_QUEUE_LIMIT: decimal(z.number().int().min(0).max(10_000)).default(32),
    // Unset: 2000, or half of HANDLER_TIMEOUT_MS when that is less (app-config.ts).
    PASSWORD_HASH_MAX_WAIT_MS: decimal(milliseconds()).optional(),
    // Node's own (read by libuv when the pool starts); here only to check PASSWORD_HASH_CONCURRENCY against it. libuv
    // caps the pool at 1024 threads, so a larger value would pass the check with a pool that is in fact smaller.
    UV_THREADPOOL_SIZE: decimal(positiveInt.max(1_024)).default(4),

    VIEW_FLUSH_INTERVAL_MS: decimal(milliseconds(100)).default(5_000),
    // Each instance adds up views in memory and sends them to Redis this often, in one round trip.
    VIEW_BUFFER_MS: decimal(positiveInt.min(10).max(60_000)).default(1_000),

    // Uploads: the largest file accepted, and how long clients and CDNs may keep a download (files never change).
    MEDIA_MAX_BYTES: decimal(positiveInt.max(100 * 1024 * 1024)).default(10 * 1024 * 1024),
    // Per member: how many files and how many bytes in all.
    MEDIA_QUOTA_FILES: decimal(positiveInt).default(100),
    MEDIA_QUOTA_BYTES: decimal(positiveInt).default(200 * 1024 * 1024),
    // Unset: 30 days in production, 0 otherwise, as the Vesta report caches static files (app-config.ts).
    MEDIA_CACHE_MAX_AGE_S: decimal(z.number().int().min(0).max(31_536_000)).optional(),
    // How long a download may take to send once it has started; then its connection is closed.
    MEDIA_DOWNLOAD_TIMEOUT_MS: decimal(positiveInt.max(3_600_000)).default(600_000),
    // How often a worker removes what aborted uploads and deletions left behind.
    MEDIA_CLEANUP_INTERVAL_MS: decimal(milliseconds(1_000)).default(3_600_000),
    // Payment provider webhooks: HMAC-SHA256 key, and how old a signed timestamp may be (replay window).
    PAYMENT_WEBHOOK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    PAYMENT_WEBHOOK_TOLERANCE_S: decimal(positiveInt.max(3_600)).default(300),
    // Unset: 5000, or half of HANDLER_TIMEOUT_MS when that is less (app-config.ts).
    PAYMENT_TIMEOUT_MS: decimal(milliseconds()).optional(),
    // How often a worker ends subscriptions whose paid period is over (expiry, failed renewal).
    SUBSCRIPTION_SWEEP_INTERVAL_MS: decimal(milliseconds(1_000)).default(60_000),

    // Backups: where they are written (a PersistentVolume in Kubernetes), when (cron, UTC), how long they are kept,
    // and whether each new one is restored into a scratch database to prove it.
    BACKUP_DIR: z.string().min(1).default('./backups'),
    BACKUP_CRON: z
      .string()
      .regex(/^\S+( \S+){4,5}$/, 'must be a cron expression of 5 or 6 fields')
      .refine(firesSomeday, 'must be a cron expression that fires (each field in its range, a day the month has)')
      .default('0 3 * * *'),
    BACKUP_SCHEDULE_ENABLED: booleanFlag.default(true),
    BACKUP_RETENTION_DAYS: decimal(positiveInt.max(3_650)).default(30),
    BACKUP_VERIFY: booleanFlag.default(true),
    // The backup lock is a lease its holder renews every quarter of this; a holder that died (killed, crashed)
    // leaves a lock that another run takes over this long after the last renewal at most.
    BACKUP_LOCK_LEASE_MS: decimal(positiveInt.min(1_000).max(3_600_000)).default(60_000),

    CACHE_L1_ENABLED: booleanFlag.default(true),
    CACHE_L1_MAX_BYTES: decimal(positiveInt).default(50 * 1024 * 1024),
    // A cache read that waits longer than this for Redis is treated as a miss (fail open).
    CACHE_L2_TIMEOUT_MS: decimal(positiveInt.max(5_000)).default(50),
    // Spread expiries of entries written together by up to this fraction of their TTL.
    CACHE_TTL_JITTER: decimal(z.number().min(0).max(0.5)).default(0.1),
    // Fail-safe: an entry stays this long past its TTL, to answer when its reload fails or is slow (0: off).
    CACHE_GRACE_S: decimal(z.number().int().min(0).max(86_400)).default(3_600),
    // How long a request that has such an entry waits for the reload before it gets the entry. Unset: 250, or half of
    // HANDLER_TIMEOUT_MS when that is less (app-config.ts).
    CACHE_SOFT_TIMEOUT_MS: decimal(z.number().int().min(0).max(10_000)).optional(),
    CACHE_WARM_INTERVAL_MS: decimal(milliseconds(1_000)).default(300_000),
    // Cache-Control max-age of public catalogue data; the Vesta report uses 1 h in production.
    HTTP_PUBLIC_MAX_AGE_S: decimal(z.number().int().min(0).max(86_400)).optional(),

    // Rate limits, THROTTLE_<TIER>_LIMIT requests per THROTTLE_<TIER>_TTL_S seconds (the Vesta report: 100 per
    // 15 minutes per client). Counts live in Redis, shared by all instances; while Redis does not answer, each instance
    // counts in its own memory (decision 0030).
    // Off only in an emergency, or to measure what limiting costs (npm run bench does).
    THROTTLE_ENABLED: booleanFlag.default(true),
    THROTTLE_ANONYMOUS_LIMIT: decimal(positiveInt).default(100),
    THROTTLE_ANONYMOUS_TTL_S: decimal(positiveInt).default(900),
    THROTTLE_USER_LIMIT: decimal(positiveInt).default(1_000),
    THROTTLE_USER_TTL_S: decimal(positiveInt).default(900),
    // Login and register per client address; failed logins per email from one address (strict: whoever passes it
    // locks only themself out), and per email over all addresses (high: distributed guessing, not one typo-prone
    // member).
    THROTTLE_CREDENTIALS_LIMIT: decimal(positiveInt).default(10),
    THROTTLE_CREDENTIALS_TTL_S: decimal(positiveInt).default(900),
    THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: decimal(positiveInt).default(5),
    THROTTLE_CREDENTIALS_ACCOUNT_TTL_S: decimal(positiveInt).default(900),
    // Search, nearby and advanced search together, per caller, on top of the anonymous or user tier: 300 per 15 min
    // lets a member pan a map for minutes on end, and caps how fast one account can page through every member.
    THROTTLE_SEARCH_LIMIT: decimal(positiveInt).default(300),
    THROTTLE_SEARCH_TTL_S: decimal(positiveInt).default(900),
    THROTTLE_CREDENTIALS_GLOBAL_LIMIT: decimal(positiveInt).default(100),
    THROTTLE_CREDENTIALS_GLOBAL_TTL_S: decimal(positiveInt).default(900),
    // A limiter check that waits longer than this for Redis is counted in this instance's memory instead.
    THROTTLE_REDIS_TIMEOUT_MS: decimal(positiveInt.max(5_000)).default(50),
    // Clients those in-memory counts hold at most (about 400 bytes each); the least recently seen is forgotten first.
    // They reserve about 28 bytes a client at start, used or not: 10 million kept 280 MB on every pod, 1 billion
    // aborted the process at start (V8 out of memory). A million is 400 MB at the cap, as much as a pod can spare.
    THROTTLE_LOCAL_MAX_KEYS: decimal(
      positiveInt.max(
        1_000_000,
        'must be at most 1000000 (about 400 MB of counts at the cap, 28 MB reserved at start)',
      ),
    ).default(100_000),

    // Thresholds of the monitoring summary (the Vesta report's defaults). Memory is V8 heap in use.
    MONITOR_MEMORY_WARN_MB: decimal(positiveInt).default(800),
    MONITOR_MEMORY_CRITICAL_MB: decimal(positiveInt).default(900),
    // Above this, readiness fails: the pod gets no new requests until its heap falls back. Kubernetes restarts a pod
    // only for a failing liveness probe, never for readiness, so one that stays above it stays out of service until
    // someone restarts it (alert VestaPodsNotReady); the name is the Vesta report's.
    MONITOR_MEMORY_RESTART_MB: decimal(positiveInt).default(1_024),
    MONITOR_CPU_WARN_PERCENT: decimal(z.number().positive().max(100)).default(70),
    MONITOR_CPU_CRITICAL_PERCENT: decimal(z.number().positive().max(100)).default(85),
    MONITOR_ERROR_RATE_WARN_PERCENT: decimal(z.number().positive().max(100)).default(5),
    // Overload protection: past either limit new requests get a quick 503 instead of queueing. 0 turns the
    // event-loop check off (tests, whose harness shares the loop).
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: decimal(milliseconds(0)).default(1_000),
    OVERLOAD_MAX_HEAP_MB: decimal(positiveInt).default(1_536),
  })
  .superRefine((env, ctx) => {
    // 0 asks the OS for a free port each, so only two fixed equal ports collide (EADDRINUSE at listen).
    if (env.PORT !== 0 && env.METRICS_PORT === env.PORT) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: `must differ from PORT (both ${env.PORT})` });
    }
    if (env.SHUTDOWN_GRACE_MS <= env.SHUTDOWN_DRAIN_MS) {
      ctx.addIssue({ code: 'custom', path: ['SHUTDOWN_GRACE_MS'], message: 'must be greater than SHUTDOWN_DRAIN_MS' });
    }
    if (env.SHUTDOWN_STEP_TIMEOUT_MS >= env.SHUTDOWN_GRACE_MS - env.SHUTDOWN_DRAIN_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['SHUTDOWN_STEP_TIMEOUT_MS'],
        message: 'must be less than SHUTDOWN_GRACE_MS minus SHUTDOWN_DRAIN_MS',
      });
    }
    if (!(
      env.MONITOR_MEMORY_WARN_MB < env.MONITOR_MEMORY_CRITICAL_MB &&
      env.MONITOR_MEMORY_CRITICAL_MB < env.MONITOR_MEMORY_RESTART_MB
    )) {
      ctx.addIssue({
        code: 'custom',
        path: ['MONITOR_MEMORY_CRITICAL_MB'],
        message: 'must lie between MONITOR_MEMORY_WARN_MB and MONITOR_MEMORY_RESTART_MB',
      });
    }
    // Past OVERLOAD_MAX_HEAP_MB every request but the probes gets a 503; readiness must fail first, or the pod stays in
    // the Service answering nothing else.
    if (env.OVERLOAD_MAX_HEAP_MB <= env.MONITOR_MEMORY_RESTART_MB) {
      ctx.addIssue({
        code: 'custom',
        path: ['OVERLOAD_MAX_HEAP_MB'],
        message: `must be greater than MONITOR_MEMORY_RESTART_MB (${env.MONITOR_MEMORY_RESTART_MB})`,
      });
    }
    if (env.MONITOR_CPU_WARN_PERCENT >= env.MONITOR_CPU_CRITICAL_PERCENT) {
      ctx.addIssue({
        code: 'custom',
        path: ['MONITOR_CPU_CRITICAL_PERCENT'],
        message: 'must be greater than MONITOR_CPU_WARN_PERCENT',
      });
    }
    if (env.PASSWORD_HASH_CONCURRENCY >= env.UV_THREADPOOL_SIZE) {
      ctx.addIssue({
        code: 'custom',
        path: ['PASSWORD_HASH_CONCURRENCY'],
        message: `must be less than UV_THREADPOOL_SIZE (${env.UV_THREADPOOL_SIZE}), or compression, files and DNS wait`,
      });
    }
    if (env.MONGODB_WAIT_QUEUE_TIMEOUT_MS !== undefined && env.MONGODB_WAIT_QUEUE_TIMEOUT_MS > env.HANDLER_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['MONGODB_WAIT_QUEUE_TIMEOUT_MS'],
        message: 'must be at most HANDLER_TIMEOUT_MS, or work waits on after its request was answered 503',
      });
    }
    if (env.PASSWORD_HASH_MAX_WAIT_MS !== undefined && env.PASSWORD_HASH_MAX_WAIT_MS >= env.HANDLER_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PASSWORD_HASH_MAX_WAIT_MS'],
        message: 'must be less than HANDLER_TIMEOUT_MS, or a waiting login gets the deadline 503 instead',
      });
    }
    // The probes are requests too: past the deadline they get its bare 503, not the list of failing dependencies.
    if (env.HEALTH_CHECK_TIMEOUT_MS !== undefined && env.HEALTH_CHECK_TIMEOUT_MS >= env.HANDLER_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HEALTH_CHECK_TIMEOUT_MS'],
        message: 'must be less than HANDLER_TIMEOUT_MS, or readiness answers without naming what failed',
      });
    }
    if (env.PAYMENT_TIMEOUT_MS !== undefined && env.PAYMENT_TIMEOUT_MS >= env.HANDLER_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PAYMENT_TIMEOUT_MS'],
        message:
          'must be less than HANDLER_TIMEOUT_MS, or a change waits on the processor after its request was answered',
      });
    }
    // Past the deadline the request gets its 503, so a wait as long would never answer with the expired entry kept for
    // exactly this: a slow database.
    if (env.CACHE_SOFT_TIMEOUT_MS !== undefined && env.CACHE_SOFT_TIMEOUT_MS >= env.HANDLER_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['CACHE_SOFT_TIMEOUT_MS'],
        message: 'must be less than HANDLER_TIMEOUT_MS, or a request holding an expired entry gets a 503 instead of it',
      });
    }
    if (Boolean(env.ADMIN_EMAIL) !== Boolean(env.ADMIN_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_PASSWORD'], message: 'and ADMIN_EMAIL must be set together' });
    }
    // In production a forgotten variable must not silently point at localhost.
    if (env.NODE_ENV !== 'production') return;
    for (const key of ['MONGODB_URI', 'REDIS_URL', 'JWT_SECRET'] as const) {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required in production' });
    }
    // Keys are checked for randomness too; a password only for the placeholder, as members' passwords are not.
    const secrets = [
      ['JWT_SECRET', env.JWT_SECRET, 8],
      ['PAYMENT_WEBHOOK_SECRET', env.PAYMENT_WEBHOOK_SECRET, 8],
      ['ADMIN_PASSWORD', env.ADMIN_PASSWORD, 1],
    ] as const;
    for (const [key, value, minDistinct] of secrets) {
      const message = value === undefined ? undefined : publishedSecretProblem(value, minDistinct);
      if (message !== undefined) ctx.addIssue({ code: 'custom', path: [key], message });
    }
  });

export type Env = z.infer<typeof envSchema>;

/**
 * Whether cron-parser, which Bull schedules with, finds a next firing: a value out of range ("0 25 * * *") or a day no
 * month has ("0 3 31 2 *") passed the field count, and then failed when a worker scheduled it, after the working
 * schedule had been removed.
 */
function firesSomeday(cron: string): boolean {
  try {
    parser.parseExpression(cron, { utc: true }).next();
    return true;
  } catch {
    return false;
  }
}
