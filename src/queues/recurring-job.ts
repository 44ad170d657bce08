import type { Logger } from '@nestjs/common';
import type { Job, JobInformation, Queue } from 'bull';
import { withTimeout } from '../common/with-timeout.js';

/** Bounds scheduling at start and the schedule check before each firing, well inside Bull's 30 s job lock. */
const SCHEDULE_TIMEOUT_MS = 5_000;

export interface RecurringJob {
  name: string;
  /** Every so many milliseconds, or on a cron schedule (UTC). */
  everyMs?: number;
  cron?: string;
  /** Gets the run's job: `job.timestamp` is when the schedule fired. */
  handler: (job: Job) => Promise<unknown>;
  /** Also run once now; instances starting within a minute of each other share one run. */
  runAtStart?: boolean;
  /** A run that fails is tried again, `attempts` times in all, `delayMs` apart. Without it, the next firing retries. */
  retry?: { attempts: number; delayMs: number };
}

/**
 * Processes `job.name` on this instance and makes sure the repeatable schedule exists. Bull keeps
 * one repeatable job per name and interval across all instances, and each run goes to one worker.
 * Scheduling is not awaited by start-up: with Redis down the process still starts, and the next
 * instance to start with Redis up adds the schedule.
 */
export function runRecurring(
  queue: Queue,
  job: RecurringJob,
  logger: Logger,
  { checkEveryMs = SCHEDULE_CHECK_MS }: { checkEveryMs?: number } = {},
): void {
  const handler = async (run: Job) => ((await isStrayFiring(queue, run, logger)) ? undefined : job.handler(run));
  processJobs(queue, job.name, handler, logger);
  const scheduling = schedule(queue, job);
  const jobs: Promise<unknown>[] = [scheduling];
  if (job.runAtStart) jobs.push(addStartupRun(queue, job.name));
  void withTimeout(Promise.all(jobs), SCHEDULE_TIMEOUT_MS).catch((error: unknown) =>
    logger.warn(`Could not schedule ${job.name}: ${(error as Error).message}`),
  );
  keepScheduled(queue, job, logger, checkEveryMs, scheduling);
}

/** How often each worker checks that its jobs still have a schedule in Redis. */
const SCHEDULE_CHECK_MS = 60_000;

/**
 * Adds the schedule again when Redis holds none for the job: Redis came back without its data (a restart without
 * persistence, a failover to an empty replica), or was down when this worker started. Until 2026-12-03 no flush,
 * warm run, sweep, cleanup or backup then happened until a worker restarted, and nothing said so. Only a missing
 * schedule is added: one of another interval or cron was put there by a worker started since (the last to start
 * decides) and stays. Missing means missing at two checks in a row: a worker starting with other settings removes
 * the old schedule before adding its own, and a check that fell in that gap put the old one back beside the new
 * (seen in CI on 2026-12-06), so the job ran on both until the next restart. Failures are not logged: Redis down is
 * already said by the start-up warning and the other Redis users, and the next check tries again.
 *
 * That rule holds once this worker's own schedule went in at start (`scheduling`). When it failed (Redis could not be
 * reached for longer than Bull's client retries a command, about 4 minutes), the schedule found is one this worker
 * was started to replace: until 2026-12-08 it stayed, so a rollout during a Redis outage kept the old interval or
 * BACKUP_CRON until some worker restarted. The checks then put this worker's in place, as its start would have.
 */
function keepScheduled(
  queue: Queue,
  job: RecurringJob,
  logger: Pick<Logger, 'warn'>,
  everyMs: number,
  scheduling: Promise<void>,
): void {
  let checking = false;
  let missingBefore = false;
  let placed = false;
  scheduling.then(
    () => (placed = true),
    () => undefined,
  );
  const check = async () => {
    // Also while the start-up scheduling still waits for an answer: adding the same schedule twice adds it once.
    if (!placed) {
      await schedule(queue, job);
      placed = true;
      logger.warn(`The schedule of ${job.name} is in place now that Redis answers`);
      return;
    }
    const missing = !(await queue.getRepeatableJobs()).some((other) => other.name === job.name);
    const missingTwice = missing && missingBefore;
    missingBefore = missing;
    if (!missingTwice) return;
    await schedule(queue, job);
    logger.warn(`The schedule of ${job.name} was missing from Redis; added it again`);
  };
  const timer = setInterval(() => {
    // Bull sets `closing` once the queue closes (shutdown): nothing to keep scheduled any more.
    if ((queue as Queue & { closing?: unknown }).closing) return clearInterval(timer);
    if (checking) return;
    checking = true;
    void withTimeout(check(), SCHEDULE_TIMEOUT_MS)
      .catch(() => undefined)
      .finally(() => (checking = false));
  }, everyMs);
  timer.unref();
}

/**
 * Removes the schedule of `name` (a worker started with that job switched off), so no run of an earlier
 * configuration fires or waits in the queue for a processor. Not awaited by start-up, like runRecurring.
 */
export function stopRecurring(queue: Queue, name: string, logger: Logger): void {
  void withTimeout(removeSchedules(queue, name), SCHEDULE_TIMEOUT_MS).catch((error: unknown) =>
    logger.warn(`Could not remove the schedule of ${name}: ${(error as Error).message}`),
  );
}

const TZ = 'Etc/UTC';

/**
 * A repeatable job's key includes its interval or cron, so Bull would keep the schedule of a worker started with an
 * earlier BACKUP_CRON or interval beside the new one, and run the job on both. The last worker to start decides.
 * Other schedules go before this one is added: two workers starting at once with different settings then leave one
 * or both, never neither (removing after adding, each could remove the other's).
 */
async function schedule(queue: Queue, job: RecurringJob): Promise<void> {
  // Bull gives each firing the options of the one before, so retry settings are part of the schedule's identity
  // (its job id, in the key) and a schedule made with other ones is replaced like one with another cron. No ':' in
  // it: Bull reads a schedule's key back by splitting it at ':' (name:id:endDate:tz:cron or every).
  const jobId = job.retry ? `${job.name}-retry-${job.retry.attempts}x${job.retry.delayMs}ms` : job.name;
  await removeSchedules(
    queue,
    job.name,
    (other) =>
      other.id === jobId && (job.cron ? other.cron === job.cron && other.tz === TZ : other.every === job.everyMs),
  );
  const repeat = job.cron ? { cron: job.cron, tz: TZ } : { every: job.everyMs! };
  const retry = job.retry && { attempts: job.retry.attempts, backoff: { type: 'fixed', delay: job.retry.delayMs } };
  await queue.add(job.name, {}, { repeat, jobId, removeOnComplete: true, removeOnFail: 100, ...retry });
}

async function removeSchedules(queue: Queue, name: string, keep: (job: JobInformation) => boolean = () => false) {
  const others = (await queue.getRepeatableJobs()).filter((other) => other.name === name && !keep(other));
  if (!others.length) return;
  await Promise.all(others.map((other) => queue.removeRepeatableByKey(other.key)));
  await removeNextFirings(queue, name, new Set(others.map((other) => other.key)));
}

/**
 * removeRepeatableByKey also deletes the schedule's next firing, already waiting in the delayed set, but finds it
 * only by an id computed from the key as Bull reads it back. For keys it misreads (schedules made with a ':' in their
 * job id, as the backup's was until 2026-12-03) the firing stayed: a changed BACKUP_CRON backed up once more at the
 * old time, and a schedule switched off fired once more. Those firings are found by the key they were made from. A
 * firing already being retried (attempts made) is left to finish its tries.
 */
async function removeNextFirings(queue: Queue, name: string, keys: ReadonlySet<string>): Promise<void> {
  // A job removed between Bull's two reads comes back as null, whatever its types say.
  const firings = (await queue.getDelayed()).filter(
    (job: Job | null): job is Job => job?.name === name && job.attemptsMade === 0 && keys.has(scheduledBy(job) ?? ''),
  );
  await Promise.all(firings.map((job) => job.remove()));
}

/** The key of the repeatable schedule a firing was made by (Bull sets it on each one), none for other runs. */
const scheduledBy = (job: Job) => job.opts.repeat?.key;

/**
 * True for a firing whose schedule is gone, which is then completed without running: removing a schedule cannot
 * always take its next firing with it. removeNextFirings misses one that a removal raced from the delayed set into
 * the waiting list, or that waited already (stopRecurring on a worker started with the job off), and versions
 * before 2026-12-03 left the firings of the backup's ':' schedule in a Redis that may still hold them. Runs enqueued
 * at start and by hand have no schedule and always run. A firing being retried (attempts made) finishes its tries,
 * as removeNextFirings leaves it to. getRepeatableJobs reads the queue's whole schedule set, but a queue holds one
 * kind of job and so one or two schedules: about as cheap as a ZSCORE, without depending on Bull's key names. If
 * Redis fails or does not answer in time the firing runs: it came out of that Redis, so it most likely belongs to a
 * live schedule, and skipping could silently drop the day's backup, while each recurring job tolerates a run more
 * (a flush, warm, sweep or cleanup finds less or nothing to do; a stray backup firing makes one backup more).
 */
async function isStrayFiring(queue: Queue, job: Job, logger: Pick<Logger, 'log' | 'warn'>): Promise<boolean> {
  const key = scheduledBy(job);
  if (key === undefined || job.attemptsMade > 0) return false;
  try {
    const schedules = await withTimeout(queue.getRepeatableJobs(), SCHEDULE_TIMEOUT_MS);
    if (schedules.some((schedule) => schedule.key === key)) return false;
  } catch (error) {
    const reason = (error as Error).message;
    logger.warn(`${queue.name} job ${job.name} ${job.id} runs unchecked: its schedule could not be read: ${reason}`);
    return false;
  }
  logger.log(`${queue.name} job ${job.name} ${job.id} skipped: its schedule ${key} no longer exists`);
  return true;
}

/** The reason Bull gives a job its stalled-job check fails (moveUnlockedJobsToWait). */
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/**
 * Processes `name` jobs on this instance, one at a time, if `name` is the only job processed on `queue`: Bull runs
 * as many jobs of a queue at once as processors are registered on it, and each takes whichever job comes next, of
 * any name. So each kind of job has a queue of its own. Bull's promise settles only when processing
 * ends, and rejects when the queue closes while Redis is away ("Connection is closed."): left unhandled,
 * that rejection would crash the process, so it is logged instead. A job that fails is logged too: Bull
 * keeps only the reason in Redis, and a flush or warm run failing every interval would otherwise leave
 * nothing in the worker's log.
 */
export function processJobs<T>(
  queue: Queue<T>,
  name: string,
  handler: (job: Job<T>) => Promise<unknown>,
  logger: Pick<Logger, 'warn' | 'error'>,
): void {
  const logged = async (job: Job<T>) => {
    try {
      return await handler(job);
    } catch (error) {
      const attempt = `attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1}`;
      logger.error(`${queue.name} job ${name} ${job.id} failed (${attempt}): ${(error as Error).message}`);
      throw error;
    }
  };
  // A job whose worker stopped renewing its lock (killed, or its event loop blocked past the lock) is run again, or
  // failed past its stall limit, by whichever worker's check finds it. Bull says so only in events: without these
  // lines a job that ran twice, or once on a worker that then lost it, left nothing in the logs.
  queue.on('stalled', (job: Job<T>) =>
    logger.warn(`${queue.name} job ${job.name} ${job.id} stalled: its worker stopped renewing its lock`),
  );
  queue.on('lock-extension-failed', (job: Job<T>, error: Error) =>
    logger.warn(`${queue.name} job ${job.name} ${job.id} lost its lock (${error.message}): another worker may run it`),
  );
  // Past its stall limit the check fails the job without running the handler, which logs every other failure. The job
  // is null when it was removed on failing.
  queue.on('failed', (job: Job<T> | null, error: Error) => {
    if (error.message !== STALLED_TOO_OFTEN) return;
    logger.error(`${queue.name} job ${job?.name ?? name} ${job?.id ?? '(removed)'} failed: it stalled too often`);
  });
  queue
    .process(name, 1, logged)
    .catch((error: unknown) => logger.warn(`Processing of ${name} jobs stopped: ${(error as Error).message}`));
}

const STARTUP_WINDOW_MS = 60_000;

/** The first instance to start in a window claims it (SET NX) and enqueues the run; the others skip. */
async function addStartupRun(queue: Queue, name: string): Promise<unknown> {
  // Under the queue's own key space (prefix:queue:…), so environments sharing a Redis do not collide.
  // toKey is Bull's public Queue method, missing from its type definitions.
  const claimKey = (queue as Queue & { toKey(type: string): string }).toKey(`${name}:startup-claim`);
  const claimed = await queue.client.set(claimKey, String(Date.now()), 'PX', STARTUP_WINDOW_MS, 'NX');
  return claimed ? queue.add(name, {}, { removeOnComplete: 100, removeOnFail: 100 }) : undefined;
}
