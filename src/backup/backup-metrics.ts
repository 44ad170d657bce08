import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from '../common/with-timeout.js';
import { METRICS_REGISTRY, SCRAPE_READ_TIMEOUT_MS } from '../metrics/metrics.constants.js';
import type { BackupRun } from './backup-runs.js';
import { BackupService } from './backup.service.js';

/** Read at most this often, however often Prometheus scrapes. */
const REFRESH_MS = 30_000;

/**
 * The last successful backup as gauges, read from the run records (the same for every instance,
 * whichever ran it). Alert on `time() - backup_last_success_timestamp_seconds > 26 * 3600`, on
 * `backup_last_verify_success == 0` and on `time() - backup_last_verify_timestamp_seconds > 30 * 3600` (backups made,
 * none verified: retention waits for a verification); `backup_last_retention_success == 0` means old backups pile up.
 */
@Injectable()
export class BackupMetrics implements OnApplicationBootstrap {
  private last: BackupRun | null = null;
  private lastVerified: BackupRun | null = null;
  private readAt = 0;
  private reading?: Promise<void>;

  constructor(
    private readonly backups: BackupService,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  onApplicationBootstrap(): void {
    const verified = () => this.lastVerified;
    const gauge = (name: string, help: string, value: (run: BackupRun) => number | undefined) => {
      const refresh = () => this.refresh();
      const last = () => this.last;
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          await refresh();
          const run = last();
          const current = run && value(run);
          // A record edited by hand can hold anything (text for a date or a size): set, it threw, and failed every
          // scrape of /metrics (500) while it was the last successful backup. Left out instead (logged in refresh).
          // Not reset(): an unlabelled gauge reset to 0 would read as "failed" (and as a backup in 1970), so before the
          // first backup, or for a verify that did not run (BACKUP_VERIFY=false), the series is left out instead.
          if (typeof current !== 'number' || !Number.isFinite(current)) this.remove({});
          else this.set(current);
        },
      });
    };
    gauge('backup_last_success_timestamp_seconds', 'When the last successful backup finished (Unix time)', (run) =>
      run.finishedAt instanceof Date ? run.finishedAt.getTime() / 1000 : undefined,
    );
    gauge('backup_last_duration_seconds', 'How long the last successful backup took', (run) =>
      typeof run.durationMs === 'number' ? run.durationMs / 1000 : undefined,
    );
    gauge('backup_last_size_bytes', 'Stored (compressed) size of the last successful backup', (run) => run.sizeBytes);
    gauge(
      'backup_last_verify_success',
      'Whether restoring the last successful backup passed (1) or failed (0); while it runs, the one before',
      (run) => {
        const outcome = reportedVerification(run, verified());
        return outcome && Number(outcome.status === 'passed');
      },
    );
    // The outcome above alone stayed 1 for ever when every verification after it was killed (OOM, the CronJob's
    // deadline, a node drain): it recorded nothing, retention never ran, and no alert said so until the volume filled.
    gauge(
      'backup_last_verify_timestamp_seconds',
      'When the verification backup_last_verify_success reports ended (Unix time)',
      (run) => {
        const at = reportedVerification(run, verified())?.at;
        return at instanceof Date ? at.getTime() / 1000 : undefined;
      },
    );
    gauge(
      'backup_last_retention_success',
      'Whether removing expired backups after the last successful backup worked (1) or failed (0)',
      (run) => (run.retention ? Number(run.retention.status === 'done') : undefined),
    );
  }

  private refresh(): Promise<void> {
    if (Date.now() - this.readAt < REFRESH_MS && this.reading) return this.reading;
    this.readAt = Date.now();
    const { runs } = this.backups;
    this.reading = withTimeout(Promise.all([runs.lastSucceeded(), runs.lastVerified()]), SCRAPE_READ_TIMEOUT_MS).then(
      ([run, verified]) => {
        if (run && run._id !== this.last?._id) reportUnreadable(run);
        this.last = run;
        this.lastVerified = verified;
      },
      () => undefined, // keep the last values while MongoDB does not answer
    );
    return this.reading;
  }
}

/**
 * The last verification that ended, which backup_last_verify_success and backup_last_verify_timestamp_seconds both
 * report. While the last backup is being verified (no outcome and no retention yet: retention runs once its
 * verification has passed, or at once without one), that of the backup before it: until 2026-12-06 the series was
 * absent then, and an alert on a failed verification resolved for the length of the next one each night, and fired
 * again. A verification a shutdown or a kill interrupted records nothing either: the one before is reported, however
 * old, and its time shows how old. Undefined without verification (BACKUP_VERIFY=false: retention, no outcome).
 */
function reportedVerification(run: BackupRun, verified: BackupRun | null): BackupRun['verify'] {
  return run.verify ?? (run.retention ? undefined : verified?.verify);
}

/** Logs, once per last successful run, the fields its gauges cannot show: they are left out of the scrapes. */
function reportUnreadable(run: BackupRun): void {
  const fields = run as unknown as Record<string, unknown>;
  const problems = [
    ...(fields.finishedAt !== undefined && !(fields.finishedAt instanceof Date) ? ['finishedAt is no date'] : []),
    ...(['durationMs', 'sizeBytes'] as const).flatMap((field) =>
      fields[field] !== undefined && typeof fields[field] !== 'number' ? [`${field} is no number`] : [],
    ),
  ];
  if (problems.length === 0) return;
  new Logger(BackupMetrics.name).warn(
    `Backup run ${String(run._id)} needs repair: ${problems.join('; ')}; left out of the backup metrics`,
  );
}
