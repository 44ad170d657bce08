import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BackupMetrics } from './backup-metrics.js';
import type { BackupRun } from './backup-runs.js';
import type { BackupService } from './backup.service.js';

/** The sample lines of a scrape (comments left out), as Prometheus would store them. */
async function scrape(
  lastSucceeded: BackupRun | null,
  lastVerified: BackupRun | null = lastSucceeded?.verify ? lastSucceeded : null,
): Promise<Record<string, number>> {
  const registry = new Registry();
  const runs = {
    lastSucceeded: () => Promise.resolve(lastSucceeded),
    lastVerified: () => Promise.resolve(lastVerified),
  };
  const backups = { runs } as unknown as BackupService;
  new BackupMetrics(backups, registry).onApplicationBootstrap();
  const text = await registry.metrics();
  const samples = text.split('\n').filter((line) => line && !line.startsWith('#'));
  return Object.fromEntries(samples.map((line) => [line.split(' ')[0], Number(line.split(' ')[1])]));
}

const finishedAt = new Date('2026-11-24T03:04:05Z');
const succeeded: BackupRun = {
  _id: '20261124T030000Z-3fa1',
  trigger: 'schedule',
  status: 'succeeded',
  startedAt: new Date('2026-11-24T03:00:00Z'),
  finishedAt,
  durationMs: 245_000,
  sizeBytes: 1234,
};

describe('BackupMetrics', () => {
  it('exports no series before the first successful backup, so absent() alerts and no verify alert fires', async () => {
    expect(await scrape(null)).toEqual({});
  });

  it('leaves out what the run did not do: no verify (BACKUP_VERIFY=false) is not a failed verify', async () => {
    expect(await scrape(succeeded)).toEqual({
      backup_last_success_timestamp_seconds: finishedAt.getTime() / 1000,
      backup_last_duration_seconds: 245,
      backup_last_size_bytes: 1234,
    });
  });

  it("reports the last ended verification while the next backup's runs, so a failed one's alert does not resolve", async () => {
    const at = finishedAt;
    const failedBefore = {
      ...succeeded,
      _id: '20261123T030000Z-0a1b',
      verify: { status: 'failed' as const, at, durationMs: 1 },
    };
    // Written, being verified: no outcome, no retention yet.
    expect(await scrape(succeeded, failedBefore)).toMatchObject({ backup_last_verify_success: 0 });
    // Written without verification (BACKUP_VERIFY=false): retention ran at once; nothing to report.
    const unverified = { ...succeeded, retention: { status: 'done' as const, at } };
    expect(await scrape(unverified, failedBefore)).not.toHaveProperty('backup_last_verify_success');
  });

  // Killed every night (OOM, the CronJob's deadline, a node drain), the verification after each backup records nothing:
  // backup_last_verify_success keeps the last one that ended, and only its time shows that none has ended since.
  it('reports when the verification that backup_last_verify_success reports ended, however old', async () => {
    const verifiedAt = new Date('2026-11-20T03:10:00Z');
    const passedLongAgo = {
      ...succeeded,
      _id: '20261120T030000Z-0a1b',
      verify: { status: 'passed' as const, at: verifiedAt, durationMs: 1 },
      retention: { status: 'done' as const, at: verifiedAt },
    };
    // The last backup has no outcome and no retention (its verification runs, or was killed): the one before's.
    expect(await scrape(succeeded, passedLongAgo)).toMatchObject({
      backup_last_verify_success: 1,
      backup_last_verify_timestamp_seconds: verifiedAt.getTime() / 1000,
    });
    // Its own outcome once it has one, failed or passed, not the older one's.
    const at = new Date('2026-11-24T03:30:00Z');
    for (const status of ['failed', 'passed'] as const) {
      const verified = { ...succeeded, verify: { status, at, durationMs: 1 } };
      expect(await scrape(verified, verified)).toMatchObject({
        backup_last_verify_success: Number(status === 'passed'),
        backup_last_verify_timestamp_seconds: at.getTime() / 1000,
      });
    }
  });

  // Each case beside the same runs with the last backup still being verified, where the time is there: absent because
  // of the case, not because the gauge is missing.
  it('leaves the verification time out where backup_last_verify_success is left out', async () => {
    const at = new Date('2026-11-20T03:10:00Z');
    const verifiedBefore = {
      ...succeeded,
      _id: '20261120T030000Z-0a1b',
      verify: { status: 'passed' as const, at, durationMs: 1 },
    };
    const timeOf = async (last: BackupRun, verified: BackupRun | null) => {
      const samples = await scrape(last, verified);
      expect('backup_last_verify_timestamp_seconds' in samples).toBe('backup_last_verify_success' in samples);
      return samples.backup_last_verify_timestamp_seconds;
    };
    expect(await timeOf(succeeded, verifiedBefore)).toBe(at.getTime() / 1000);
    // Verification off (BACKUP_VERIFY=false): retention ran at once after the last backup, with no outcome.
    const unverified = { ...succeeded, retention: { status: 'done' as const, at: finishedAt } };
    expect(await timeOf(unverified, verifiedBefore)).toBeUndefined();
    // Before the first verification has ended: no outcome, no retention, no verified run.
    expect(await timeOf(succeeded, null)).toBeUndefined();
  });

  it('leaves out a verification time edited by hand into no date, and still answers the scrape', async () => {
    const at = new Date('2026-11-24T03:30:00Z');
    const verified = { ...succeeded, verify: { status: 'passed' as const, at, durationMs: 1 } };
    expect(await scrape(verified)).toMatchObject({ backup_last_verify_timestamp_seconds: at.getTime() / 1000 });
    const edited = { ...verified, verify: { ...verified.verify, at: at.toISOString() } } as unknown as BackupRun;
    const samples = await scrape(edited);
    expect(samples).toMatchObject({ backup_last_verify_success: 1 });
    expect(samples).not.toHaveProperty('backup_last_verify_timestamp_seconds');
  });

  it('reports a failed verification and retention as 0, a passed one as 1', async () => {
    const at = finishedAt;
    expect(
      await scrape({
        ...succeeded,
        verify: { status: 'failed', at, durationMs: 1 },
        retention: { status: 'done', at },
      }),
    ).toMatchObject({ backup_last_verify_success: 0, backup_last_retention_success: 1 });
    expect(
      await scrape({
        ...succeeded,
        verify: { status: 'passed', at, durationMs: 1 },
        retention: { status: 'failed', at },
      }),
    ).toMatchObject({ backup_last_verify_success: 1, backup_last_retention_success: 0 });
  });
});
