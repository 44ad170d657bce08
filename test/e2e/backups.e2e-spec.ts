import { getQueueToken } from '@nestjs/bull';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Job, Queue } from 'bull';
import { mongo, type Connection } from 'mongoose';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, cp, mkdir, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupIntegrityError, TargetNotEmptyError } from '../../src/backup/dump-restorer.js';
import {
  BackupRunningError,
  BackupService,
  FailedVerificationError,
  VerificationInterruptedError,
} from '../../src/backup/backup.service.js';
import { SCHEDULED_BACKUP_ATTEMPTS } from '../../src/backup/backup.scheduler.js';
import type { BackupStorage } from '../../src/backup/backup-storage.js';
import { withStorage } from '../support/storage-swap.js';
import { loadConfig } from '../../src/config/app-config.js';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig, testEnv, workerMongoUri } from '../support/test-env.js';

const ADMIN = { email: `backups-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
const { EJSON } = mongo.BSON;
type KeyedDocument = { _id: string; [field: string]: unknown };

/** Every document of every collection, in canonical Extended JSON (types included), sorted by _id. */
async function snapshot(db: mongo.Db): Promise<Record<string, string[]>> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const result: Record<string, string[]> = {};
  for (const name of names.filter((n) => !n.startsWith('system.'))) {
    const docs = await db.collection(name).find({}).toArray();
    result[name] = docs.map((doc) => EJSON.stringify(doc, { relaxed: false })).sort();
  }
  return result;
}

describe('backups', () => {
  let running: RunningApp;
  let url: string;
  let backups: BackupService;
  let db: mongo.Db;
  let dir: string;
  let adminAuth: { authorization: string };

  beforeAll(async () => {
    dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    running = await startApp(testConfig({ BACKUP_DIR: dir, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }));
    url = running.url;
    backups = running.app.get(BackupService);
    db = running.app.get<Connection>(getConnectionToken()).db!;
    adminAuth = { authorization: `Bearer ${await login(url, ADMIN.email, ADMIN.password)}` };
  });

  afterAll(async () => {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = async (account: Account, bytes: Buffer) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), 'p.png');
    const response = await fetch(`${url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };

  it('round-trips profiles, subscriptions and media through backup, drop and restore, byte for byte', async () => {
    const member = await registerAccount(url);
    const media = pngStructure(700_000); // three GridFS chunks
    const mediaId = await upload(member, media);
    await createProfile(url, member, { photoIds: [mediaId] });
    const subscribed = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
    });
    expect(subscribed.status).toBe(201);

    const run = await backups.run('cli');
    expect(run.status).toBe('succeeded');
    expect(run.verify?.status).toBe('passed');
    const metrics = await (await fetch(`${running.metricsUrl}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(gauge('backup_last_success_timestamp_seconds')).toBeCloseTo(run.finishedAt!.getTime() / 1000, 0);
    expect(gauge('backup_last_size_bytes')).toBe(run.sizeBytes);
    expect(gauge('backup_last_verify_success')).toBe(1);
    expect(gauge('backup_last_verify_timestamp_seconds')).toBeCloseTo(run.verify!.at.getTime() / 1000, 0);
    // mongodump's layout, which mongorestore --gzip --dir reads.
    for (const file of [
      'profiles.bson.gz',
      'profiles.metadata.json.gz',
      'media.chunks.bson.gz',
      'subscriptions.bson.gz',
    ]) {
      await access(join(dir, run._id, db.databaseName, file));
    }
    const manifest = JSON.parse(await readFile(join(dir, run._id, 'manifest.json'), 'utf8')) as {
      collections: { name: string; documents: number }[];
    };
    expect(manifest.collections.find((c) => c.name === 'media.chunks')?.documents).toBeGreaterThanOrEqual(3);

    const before = await snapshot(db);
    // The backups' own records are not in a backup.
    delete before.backup_runs;
    delete before.backup_lock;
    await db.dropDatabase();
    const restored = await backups.restore(run._id, db.databaseName, { drop: false });
    expect(restored.profiles).toBeGreaterThanOrEqual(1);
    const after = await snapshot(db);
    expect(after.backup_runs).toBeUndefined();
    // The restore's own lock, taken in this database and released: an empty collection.
    expect(after.backup_lock).toEqual([]);
    delete after.backup_lock;
    expect(after).toEqual(before);
    const indexes = await db.collection('profiles').indexes();
    expect(indexes.some((index) => index.unique && index.key.userId === 1)).toBe(true);
    const download = await fetch(`${url}/v1/media/${mediaId}`);
    expect(Buffer.from(await download.arrayBuffer()).equals(media)).toBe(true);
  });

  it('writes a backup (emails, password hashes, birth dates, photos) that only its owner can read', async () => {
    await createProfile(url, await registerAccount(url));
    const run = await backups.run('cli');
    expect(run.status).toBe('succeeded');
    const backup = join(dir, run._id);
    const entries = await readdir(backup, { recursive: true, withFileTypes: true });
    expect(entries.some((entry) => entry.isFile() && entry.name === 'users.bson.gz')).toBe(true);
    // The backup's own folder keeps everyone else out of what is below it; each file is private too.
    const paths = [backup, ...entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))];
    const open: string[] = [];
    for (const path of paths) {
      const mode = (await stat(path)).mode & 0o777;
      if (mode & 0o077) open.push(`${path}: ${mode.toString(8)}`);
    }
    expect(open).toEqual([]);
  });

  it('refuses a non-empty target without --drop, and a damaged or truncated file before touching the target', async () => {
    const run = await backups.run('cli');
    expect(run.status).toBe('succeeded');
    const target = running.app.get<Connection>(getConnectionToken()).getClient().db(`${db.databaseName}_target`);
    await target.collection('sentinel').insertOne({ keep: true });
    await expect(backups.restore(run._id, target.databaseName, { drop: false })).rejects.toThrow(TargetNotEmptyError);

    for (const damage of ['flip', 'truncate'] as const) {
      // Under an id of the form the service gives: the listing ignores other names.
      const copy = `${run._id.slice(0, -7)}${damage === 'flip' ? '9Z-0f11' : '9Z-07c0'}`;
      await cp(join(dir, run._id), join(dir, copy), { recursive: true });
      const file = join(dir, copy, db.databaseName, 'profiles.bson.gz');
      // Half of it: a fixed length left the file whole when it was no longer (an empty collection gzips to 20 bytes).
      if (damage === 'truncate') await truncate(file, Math.floor((await stat(file)).size / 2));
      else {
        const bytes = await readFile(file);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        await writeFile(file, bytes);
      }
      const manifestPath = join(dir, copy, 'manifest.json');
      await writeFile(manifestPath, (await readFile(manifestPath, 'utf8')).replace(run._id, copy));
      const attempt = backups.restore(copy, target.databaseName, { drop: true });
      await expect(attempt).rejects.toThrow(BackupIntegrityError);
      await expect(attempt).rejects.toThrow(/profiles\.bson\.gz/);
      expect(await target.collection('sentinel').countDocuments()).toBe(1);
      await rm(join(dir, copy), { recursive: true });
    }
    await target.dropDatabase();
  });

  it('refuses a backup whose verification failed before reading it, until told to go ahead or verified again', async () => {
    // Its data files read back damaged during the verification alone: they check out now, as the files of a backup
    // whose verification stopped at a duplicate key do.
    const run = await withStorage(
      backups,
      (real) => ({
        open: (id, path) =>
          path.endsWith('.bson.gz') ? Readable.from([Buffer.from('not gzip')]) : real.open(id, path),
      }),
      () => backups.run('cli'),
    );
    expect(run.verify?.status).toBe('failed');
    const target = running.app.get<Connection>(getConnectionToken()).getClient().db(`${db.databaseName}_unverified`);
    await target.collection('sentinel').insertOne({ keep: true });

    const attempt = backups.restore(run._id, target.databaseName, { drop: true });
    await expect(attempt).rejects.toThrow(FailedVerificationError);
    await expect(attempt).rejects.toThrow(
      `Backup ${run._id} failed its verification at ${run.verify?.at.toISOString()}`,
    );
    expect(await target.collection('sentinel').countDocuments()).toBe(1);

    const restored = await backups.restore(run._id, target.databaseName, {
      drop: true,
      despiteFailedVerification: true,
    });
    expect(restored.users).toBeGreaterThan(0);
    expect(await target.collection('sentinel').countDocuments()).toBe(0);

    expect((await backups.verifyHoldingLock(run._id)).status).toBe('passed');
    await target.collection('sentinel').insertOne({ keep: true });
    await backups.restore(run._id, target.databaseName, { drop: true });
    expect(await target.collection('sentinel').countDocuments()).toBe(0);
    await target.dropDatabase();
  });

  it('says a restore that failed while writing left its target partly restored, and frees the lock', async () => {
    const run = await backups.run('cli');
    expect(run.status).toBe('succeeded');
    const target = running.app.get<Connection>(getConnectionToken()).getClient().db(`${db.databaseName}_partial`);
    // The files check out, then the volume fails while the restore reads them again: their second opening errors.
    const opened = new Map<string, number>();
    const attempt = withStorage(
      backups,
      (real) => ({
        open: (id, path) => {
          opened.set(path, (opened.get(path) ?? 0) + 1);
          if (!path.endsWith('users.bson.gz') || opened.get(path) === 1) return real.open(id, path);
          return new Readable({ read: () => void 0 }).destroy(new Error('EIO: i/o error, read'));
        },
      }),
      () => backups.restore(run._id, target.databaseName, { drop: false }),
    );
    await expect(attempt).rejects.toThrow(
      `EIO: i/o error, read; ${target.databaseName} may be partly restored: run the restore again with --drop`,
    );
    await target.dropDatabase();
    expect((await backups.run('cli')).status).toBe('succeeded'); // the lock was released
  });

  it('fails a backup that hits a full disk loudly, leaving no draft, no listed backup and older backups intact', async () => {
    const before = await backups.storage.list();
    expect(before.length).toBeGreaterThan(0);
    // The disk fills up after two files: the third write fails as ENOSPC would.
    const real = backups.storage;
    let files = 0;
    const full: typeof real = Object.create(real) as typeof real;
    full.begin = async (id) => {
      const draft = await real.begin(id);
      return {
        ...draft,
        create: async (path) => {
          files += 1;
          if (files > 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return draft.create(path);
        },
      };
    };
    Object.defineProperty(backups, 'storage', { value: full, configurable: true });
    try {
      const run = await backups.run('cli');
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/ENOSPC/);
    } finally {
      Object.defineProperty(backups, 'storage', { value: real, configurable: true });
    }
    expect(await backups.storage.list()).toEqual(before);
    expect((await readdir(dir)).filter((entry) => entry.startsWith('.draft-'))).toEqual([]);
    expect((await backups.run('cli')).status).toBe('succeeded'); // the lock was released
  });

  it('removes the draft a killed backup left, even when no backup has succeeded since', async () => {
    // A worker killed mid-backup (out of memory, SIGKILL) leaves its draft. Removed only after a backup that succeeds
    // and verifies, drafts of backups killed night after night filled the volume, and a full volume then failed every
    // backup, so nothing ever removed them.
    const abandoned = join(dir, '.draft-20000104T030000Z-dead');
    await mkdir(join(abandoned, 'vesta'), { recursive: true });
    await writeFile(join(abandoned, 'vesta', 'profiles.bson.gz'), Buffer.alloc(1024));
    // Last night's: begun a few seconds less than a day before tonight's backup.
    const lastNight = new Date(Date.now() - 86_400_000 + 10_000);
    await utimes(abandoned, lastNight, lastNight);
    const run = await withStorage(
      backups,
      (real) => ({
        begin: async (id) => {
          const draft = await real.begin(id);
          return {
            ...draft,
            create: () =>
              Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })),
          };
        },
      }),
      () => backups.run('cli'),
    );
    expect(run.status).toBe('failed');
    expect((await readdir(dir)).filter((entry) => entry.startsWith('.draft-'))).toEqual([]);
  });

  it('keeps backups younger than the retention period, and always the newest one', async () => {
    const fake = async (id: string, daysAgo: number | 'unreadable') => {
      await mkdir(join(dir, id), { recursive: true });
      const finishedAt =
        daysAgo === 'unreadable' ? 'last Tuesday' : new Date(Date.now() - daysAgo * 86_400_000).toISOString();
      await writeFile(
        join(dir, id, 'manifest.json'),
        JSON.stringify({
          id,
          database: 'vesta',
          appVersion: '0.1.0',
          startedAt: finishedAt,
          finishedAt,
          collections: [],
        }),
      );
    };
    await fake('20000101T000000Z-0001', 40);
    await fake('20000101T000001Z-0002', 20);
    // A manifest whose age cannot be read (damaged, or edited by hand) is kept, as a missing one is.
    await fake('20000101T000002Z-0003', 'unreadable');
    const newest = '20000101T000003Z-0004';
    await fake(newest, 0);
    const removed = await backups.applyRetention(newest);
    expect(removed).toEqual(['20000101T000000Z-0001']);
    const remaining = await backups.storage.list();
    expect(remaining).toContain('20000101T000001Z-0002');
    // Far in the future every backup is past retention: only the one to keep, and the one of unknown age, stay.
    await backups.applyRetention(newest, Date.now() + 365 * 86_400_000);
    expect(await backups.storage.list()).toEqual(['20000101T000002Z-0003', newest]);
    await Promise.all(['20000101T000002Z-0003', newest].map((id) => rm(join(dir, id), { recursive: true })));
  });

  /** A finished backup from `daysAgo` days ago, as retention sees it. */
  const oldBackup = async (id: string, daysAgo: number) => {
    await mkdir(join(dir, id), { recursive: true });
    const finishedAt = new Date(Date.now() - daysAgo * 86_400_000).toISOString();
    await writeFile(
      join(dir, id, 'manifest.json'),
      JSON.stringify({
        id,
        database: 'vesta',
        appVersion: '0.1.0',
        startedAt: finishedAt,
        finishedAt,
        collections: [],
      }),
    );
  };

  it('removes no old backup when the new one fails verification', async () => {
    const old = '20000102T000000Z-0a01';
    await oldBackup(old, 400);
    // The new backup's data files read back damaged, so restoring it into the scratch database fails.
    const run = await withStorage(
      backups,
      (real) => ({
        open: (id, path) =>
          id !== old && path.endsWith('.bson.gz') ? Readable.from([Buffer.from('not gzip')]) : real.open(id, path),
      }),
      () => backups.run('cli'),
    );
    expect(run.verify?.status).toBe('failed');
    expect(run.retention).toBeUndefined();
    expect(await backups.storage.list()).toContain(old);
    // The next verified backup applies retention again.
    const next = await backups.run('cli');
    expect(next).toMatchObject({ status: 'succeeded', verify: { status: 'passed' }, retention: { status: 'done' } });
    expect(next.retention?.removed).toContain(old);
    expect(await backups.storage.list()).not.toContain(old);
  });

  it('keeps a verified backup succeeded when retention fails, and records the failure', async () => {
    const old = '20000103T000000Z-0a02';
    await oldBackup(old, 400);
    const run = await withStorage(
      backups,
      () => ({ remove: () => Promise.reject(new Error('EACCES: permission denied, rmdir')) }),
      () => backups.run('cli'),
    );
    expect(run).toMatchObject({ status: 'succeeded', verify: { status: 'passed' } });
    expect(run.retention).toMatchObject({ status: 'failed', error: expect.stringMatching(/EACCES/) as unknown });
    expect(run.error).toBeUndefined();
    await backups.storage.remove(old);
  });

  it('refuses a restore while a backup holds the lock, and keeps the backup records on --drop', async () => {
    const run = await backups.run('cli');
    expect(run.status).toBe('succeeded');
    // Written after the backup: a restore with --drop removes it, a refused one must not.
    const probe = db.collection('restore_probe');
    await probe.insertOne({ after: run._id });
    expect(await backups.runs.tryLock('a-running-backup')).toBe(true);
    try {
      const attempt = backups.restore(run._id, db.databaseName, { drop: true });
      await expect(attempt).rejects.toThrow(BackupRunningError);
      expect(await probe.countDocuments()).toBe(1);
    } finally {
      await backups.runs.unlock('a-running-backup');
    }
    await backups.restore(run._id, db.databaseName, { drop: true });
    expect(await probe.countDocuments()).toBe(0);
    expect(await backups.runs.find(run._id)).toMatchObject({ status: 'succeeded' });
    // The lock is free again: a backup can start.
    expect((await backups.run('cli')).status).toBe('succeeded');
  });

  it('refuses a backup with 503 naming the cause, recording no run, where BACKUP_DIR cannot be written', async () => {
    const file = join(tmpdir(), `vesta-not-a-folder-${randomUUID()}`);
    await writeFile(file, '');
    try {
      const before = (await backups.runs.recent(100)).length;
      const answer = await withStorage(
        backups,
        () => ({ root: join(file, 'backups') }) as Partial<BackupStorage>,
        () => fetch(`${url}/v1/admin/backups`, { method: 'POST', headers: adminAuth }),
      );
      expect(answer.status).toBe(503);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await answer.json()) as { detail: string };
      expect(problem.detail).toMatch(/\(BACKUP_DIR\) is not writable: ENOTDIR$/);
      expect((await backups.runs.recent(100)).length).toBe(before);
    } finally {
      await rm(file, { force: true });
    }
  });

  it('starts one backup for concurrent triggers (202 and 409), lists it, and is for admins only', async () => {
    const member = await registerAccount(url);
    expect((await fetch(`${url}/v1/admin/backups`, { method: 'POST', headers: member.auth })).status).toBe(403);
    const answers = await Promise.all(
      [1, 2, 3].map(() => fetch(`${url}/v1/admin/backups`, { method: 'POST', headers: adminAuth })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409]);
    const started = (await answers.find((a) => a.status === 202)!.json()) as { id: string; status: string };
    expect(started.status).toBe('running');
    const conflict = (await answers.find((a) => a.status === 409)!.json()) as { status: number; detail: string };
    expect(conflict.status).toBe(409);
    // Whose lease it is (the backup that started) and until when.
    expect(conflict.detail).toMatch(
      new RegExp(`^A backup or a restore is already running \\(the lock is held by ${started.id} until \\d{4}-\\d\\d-`),
    );
    const deadline = Date.now() + 30_000;
    let listed: { id: string; status: string; sizeBytes?: number; documents?: number; verify?: object } | undefined;
    do {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const list = (await (await fetch(`${url}/v1/admin/backups`, { headers: adminAuth })).json()) as {
        items: NonNullable<typeof listed>[];
      };
      listed = list.items.find((item) => item.id === started.id);
      // Verification follows the backup; wait for it too, so the lock is free for the next test.
    } while (!listed?.verify && Date.now() < deadline);
    expect(listed).toMatchObject({ status: 'succeeded', verify: { status: 'passed' } });
    expect(listed!.sizeBytes).toBeGreaterThan(0);
    expect(listed!.documents).toBeGreaterThan(0);
  });
});

describe('the backup lock, a lease', () => {
  let running: RunningApp;
  let backups: BackupService;
  let db: mongo.Db;

  beforeAll(async () => {
    running = await startApp(testConfig({ BACKUP_DIR: join(tmpdir(), `vesta-backups-${randomUUID()}`) }));
    backups = running.app.get(BackupService);
    db = running.app.get<Connection>(getConnectionToken()).db!;
  });

  afterAll(async () => {
    await db.collection('backup_lock').deleteMany({});
    await db.collection<KeyedDocument>('backup_runs').deleteMany({ _id: { $in: ['live-holder', 'dead-holder'] } });
    await running.close();
  });

  const holderOf = async (runId: string, leaseLeftMs: number) => {
    await db.collection<KeyedDocument>('backup_runs').insertOne({
      _id: runId,
      trigger: 'api',
      status: 'running',
      startedAt: new Date(Date.now() - 600_000),
    });
    await db
      .collection<KeyedDocument>('backup_lock')
      .insertOne({ _id: 'backup', runId, until: new Date(Date.now() + leaseLeftMs) });
  };

  it('is not taken over while its holder renews it', async () => {
    await holderOf('live-holder', 50_000);
    try {
      await expect(backups.run('api')).rejects.toThrow(BackupRunningError);
      expect(await backups.runs.tryLock('intruder')).toBe(false);
      expect(await db.collection('backup_lock').findOne({ _id: 'backup' as never })).toMatchObject({
        runId: 'live-holder',
      });
      expect(await backups.runs.find('live-holder')).toMatchObject({ status: 'running' });
    } finally {
      await db.collection('backup_lock').deleteMany({});
      await db.collection('backup_runs').deleteOne({ _id: 'live-holder' as never });
    }
  });

  it('is taken over once a dead holder has not renewed it for a lease, and the dead run is recorded as failed', async () => {
    await holderOf('dead-holder', -1);
    const run = await backups.run('api');
    expect(run.status).toBe('succeeded');
    const dead = await backups.runs.find('dead-holder');
    expect(dead?.status).toBe('failed');
    expect(dead?.error).toMatch(
      /^abandoned: its process stopped renewing the backup lock at .* \(killed or crashed\)$/,
    );
    expect(await db.collection('backup_lock').countDocuments()).toBe(0);
  });

  it('is taken over when its lease end is no date (edited by hand), which held it for ever', async () => {
    await db.collection<KeyedDocument>('backup_lock').insertOne({ _id: 'backup', runId: 'by-hand', until: 'tomorrow' });
    const run = await backups.run('api');
    expect(run.status).toBe('succeeded');
    expect(await db.collection('backup_lock').countDocuments()).toBe(0);
  });
});

describe('scheduled backups', () => {
  it('stops a backup whose lock was taken over: no backup is kept, none recorded as a success', async () => {
    const leaseMs = 1_000;
    const dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    const instance = await startApp(
      testConfig({
        BACKUP_DIR: dir,
        BACKUP_LOCK_LEASE_MS: String(leaseMs),
        BACKUP_VERIFY: 'false',
      }),
    );
    const service = instance.app.get(BackupService);
    const db = instance.app.get<Connection>(getConnectionToken()).db!;
    const real = service.storage;
    // A disk so slow that, while the first file waits, the holder is thought dead and its lock taken over.
    let stalled = false;
    const slow: BackupStorage = Object.create(real) as BackupStorage;
    slow.begin = async (id) => {
      const draft = await real.begin(id);
      return {
        ...draft,
        create: async (path) => {
          if (!stalled) {
            stalled = true;
            await db
              .collection<KeyedDocument>('backup_lock')
              .updateOne({ _id: 'backup' }, { $set: { runId: 'usurper', until: new Date(Date.now() + 60_000) } });
            await new Promise((resolve) => setTimeout(resolve, 2 * leaseMs));
          }
          return draft.create(path);
        },
      };
    };
    Object.defineProperty(service, 'storage', { value: slow, configurable: true });
    try {
      const run = await service.run('cli');
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/lost the backup lock \(it was taken over\)/);
      expect(await real.list()).toEqual([]);
      expect(await readdir(dir)).toEqual([]); // the draft went too
      // The lock stays the usurper's: the stopped run released only its own.
      expect(await db.collection('backup_lock').findOne({ _id: 'backup' as never })).toMatchObject({
        runId: 'usurper',
      });
    } finally {
      Object.defineProperty(service, 'storage', { value: real, configurable: true });
      await db.collection('backup_lock').deleteMany({});
      await instance.close();
    }
  });

  /** `work` on an app of its own whose backup lock lease is 1 s; the app, its lock and its backups are gone after. */
  const withShortLease = async (work: (service: BackupService, leaseMs: number) => Promise<void>) => {
    const leaseMs = 1_000;
    const dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    const instance = await startApp(
      testConfig({ BACKUP_DIR: dir, BACKUP_LOCK_LEASE_MS: String(leaseMs), BACKUP_VERIFY: 'false' }),
    );
    try {
      await work(instance.app.get(BackupService), leaseMs);
    } finally {
      await instance.app.get<Connection>(getConnectionToken()).db!.collection('backup_lock').deleteMany({});
      await instance.close();
      await rm(dir, { recursive: true, force: true });
    }
  };
  /** The service's run records, except that no renewal of the lock is ever confirmed (a database that stalls). */
  const neverRenewing = (service: BackupService, changes: Partial<BackupService['runs']> = {}) => {
    const stalling: BackupService['runs'] = Object.assign(Object.create(service.runs) as BackupService['runs'], {
      renewLock: () => new Promise<boolean>(() => undefined),
      ...changes,
    });
    Object.defineProperty(service, 'runs', { value: stalling, configurable: true });
  };

  it('counts its lease from when it asked for the lock, so a slow start leaves it no lease it does not have', () =>
    withShortLease(async (service, leaseMs) => {
      // Recording the run takes longer than the lease: the lock in the database has run out before the backup starts,
      // so it must stop at once, not a lease later.
      const runs = service.runs;
      neverRenewing(service, {
        start: async (run) => {
          await new Promise((resolve) => setTimeout(resolve, 1.5 * leaseMs));
          return runs.start(run);
        },
      });
      // A dump that takes 0.6 of a lease: done before a lease counted from the start of the backup would run out.
      const storage = service.storage;
      const slow: BackupStorage = Object.create(storage) as BackupStorage;
      slow.begin = async (id) => {
        const draft = await storage.begin(id);
        await new Promise((resolve) => setTimeout(resolve, 0.6 * leaseMs));
        return draft;
      };
      Object.defineProperty(service, 'storage', { value: slow, configurable: true });
      const run = await service.run('cli');
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/lost the backup lock \(no renewal confirmed for a whole lease\)/);
      expect(await storage.list()).toEqual([]);
    }));

  it("stops an operator's verification that loses the lock, which a backup's retention could then act on", () =>
    withShortLease(async (service, leaseMs) => {
      const run = await service.run('cli');
      expect(run.status).toBe('succeeded');
      neverRenewing(service);
      // The files take two leases to start arriving.
      const outcome = withStorage(
        service,
        (real) => ({
          open: (id, path) => {
            const late = new PassThrough();
            setTimeout(() => late.destroyed || real.open(id, path).pipe(late), 2 * leaseMs);
            return late;
          },
        }),
        () => service.verifyHoldingLock(run._id),
      );
      await expect(outcome).rejects.toThrow(VerificationInterruptedError);
      await expect(outcome).rejects.toThrow(/lost the backup lock \(no renewal confirmed for a whole lease\)/);
    }));

  it('retries a firing that met the lock of a worker killed mid-backup, and backs up once the lease has run out', async () => {
    const dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    const leaseMs = 2_000;
    const instance = await startApp(
      testConfig({
        ROLE: 'all',
        BACKUP_SCHEDULE_ENABLED: 'true',
        BACKUP_CRON: '0 0 1 1 *', // far away: the test fires it by hand
        BACKUP_VERIFY: 'false',
        BACKUP_DIR: dir,
        BACKUP_LOCK_LEASE_MS: String(leaseMs),
      }),
    );
    try {
      const db = instance.app.get<Connection>(getConnectionToken()).db!;
      const runs = instance.app.get(BackupService).runs;
      const leaseEnd = new Date(Date.now() + leaseMs);
      // A worker that renewed its lease just now and was then killed (SIGKILL: no shutdown hook released it).
      await db
        .collection<KeyedDocument>('backup_runs')
        .insertOne({ _id: 'killed-run', trigger: 'schedule', status: 'running', startedAt: new Date() });
      await db
        .collection<KeyedDocument>('backup_lock')
        .insertOne({ _id: 'backup', runId: 'killed-run', until: leaseEnd });

      // The schedule's next firing, run now (as Bull's stalled-job check re-runs a killed worker's firing).
      const queue = instance.app.get<Queue>(getQueueToken('backups'));
      // Each killed worker is one stall, which Bull allows once by default, whatever tries are left: the queue allows one
      // per try (see backup-queue-stalls.int-spec.ts).
      const { settings } = queue as Queue & { settings: { maxStalledCount: number } };
      expect(settings.maxStalledCount).toBe(SCHEDULED_BACKUP_ATTEMPTS);
      let firing: Job | undefined;
      for (const until = Date.now() + 10_000; !firing && Date.now() < until;) {
        firing = (await queue.getDelayed()).find((job) => job.name === 'backup');
        if (!firing) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await firing!.promote();

      const deadline = Date.now() + 30_000;
      let scheduled = (await runs.recent(100)).filter((run) => run.trigger === 'schedule' && run._id !== 'killed-run');
      while (!scheduled.some((run) => run.status === 'succeeded') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        scheduled = (await runs.recent(100)).filter((run) => run.trigger === 'schedule' && run._id !== 'killed-run');
      }
      expect(scheduled.map((run) => run.status)).toEqual(['succeeded']);
      // The first try met the live lease; the backup is the retry's, after the lease ran out.
      expect(scheduled[0].startedAt.getTime()).toBeGreaterThanOrEqual(leaseEnd.getTime());
      const killed = await runs.find('killed-run');
      expect(killed?.status).toBe('failed');
      expect(killed?.error).toMatch(/^abandoned/);
    } finally {
      await instance.app.get<Connection>(getConnectionToken()).db!.collection('backup_runs').deleteMany({});
      await instance.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('fire once per schedule with two worker instances sharing Redis and the backup folder', async () => {
    const dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    const env = testEnv({
      ROLE: 'all',
      BACKUP_SCHEDULE_ENABLED: 'true',
      BACKUP_CRON: '*/4 * * * * *',
      BACKUP_VERIFY: 'false',
      BACKUP_DIR: dir,
    });
    const instances = await Promise.all([startApp(loadConfig(env)), startApp(loadConfig(env))]);
    try {
      const runs = instances[0].app.get(BackupService).runs;
      const deadline = Date.now() + 30_000;
      let scheduled = (await runs.recent(100)).filter((run) => run.trigger === 'schedule');
      while (scheduled.filter((run) => run.status === 'succeeded').length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        scheduled = (await runs.recent(100)).filter((run) => run.trigger === 'schedule');
      }
      const succeeded = scheduled.filter((run) => run.status === 'succeeded');
      expect(succeeded.length).toBeGreaterThanOrEqual(2);
      // One run per firing: starts at least a few seconds apart, never two for the same firing.
      const starts = scheduled.map((run) => run.startedAt.getTime()).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i += 1) expect(starts[i] - starts[i - 1]).toBeGreaterThan(2_500);
      expect(scheduled.every((run) => run.status !== 'failed')).toBe(true);
    } finally {
      await Promise.all(instances.map((instance) => instance.close()));
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('backup CLI (dist/backup/cli.js)', () => {
  const cli = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['dist/backup/cli.js', ...args], { env }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('backs up, restores into a named database, and refuses a non-empty target without --drop', async () => {
    const dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    const env = { PATH: process.env.PATH ?? '', ...testEnv({ BACKUP_DIR: dir, LOG_LEVEL: 'warn' }) };
    const client = await mongo.MongoClient.connect(workerMongoUri());
    try {
      await client.db().collection('cli_probe').insertOne({ probe: true });
      const backup = await cli([], env);
      expect(backup.code, backup.stderr).toBe(0);
      const run = JSON.parse(backup.stdout) as { _id: string; status: string; verify: { status: string } };
      expect(run).toMatchObject({ status: 'succeeded', verify: { status: 'passed' } });
      expect((await cli(['--list'], env)).stdout).toContain(run._id);
      // The runbook lists backups to pick one, often while the database is gone: the listing needs BACKUP_DIR alone.
      const noDatabase = await cli(['--list'], { ...env, MONGODB_URI: 'mongodb://127.0.0.1:1/vesta' });
      expect(noDatabase.code, noDatabase.stderr).toBe(0);
      expect(noDatabase.stdout).toContain(run._id);

      const target = `vesta_cli_restore_${Date.now()}`;
      const restore = await cli(['--restore', run._id, '--target-db', target], env);
      expect(restore.code, restore.stderr).toBe(0);
      expect(JSON.parse(restore.stdout)).toMatchObject({ restored: run._id, into: target });
      const again = await cli(['--restore', run._id, '--target-db', target], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/restore into an empty one or pass --drop/);
      expect((await cli(['--restore', run._id, '--target-db', target, '--drop'], env)).code).toBe(0);
      expect((await cli(['--restore', 'no-such-backup', '--target-db', target], env)).stderr).toMatch(
        /No complete backup no-such-backup/,
      );
      // A mistyped id is no failed verification: no outcome on stdout, the reason on stderr, as for a restore.
      const verifyMissing = await cli(['--verify', 'no-such-backup'], env);
      expect(verifyMissing.code).toBe(1);
      expect(verifyMissing.stdout).toBe('');
      expect(verifyMissing.stderr).toMatch(/No complete backup no-such-backup/);
      expect(await client.db(target).collection('cli_probe').countDocuments({ probe: true })).toBe(1);
      await client.db(target).dropDatabase();
    } finally {
      await client.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
