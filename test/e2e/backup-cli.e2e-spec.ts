import { Redis } from 'ioredis';
import { mongo } from 'mongoose';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BackupManifest } from '../../src/backup/backup-manifest.js';
import { loadConfig } from '../../src/config/app-config.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { stallingMongoProxy } from '../support/stalling-proxy.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testEnv, workerMongoUri } from '../support/test-env.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (dist/backup/cli.js) as an operator would, with exactly `env`. */
const cli = (args: string[], env: Record<string, string>) =>
  new Promise<CliResult>((resolve) => {
    const fullEnv = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env };
    execFile(process.execPath, ['dist/backup/cli.js', ...args], { env: fullEnv }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

const backupId = (result: CliResult): string => {
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { _id: string })._id;
};

describe('backup CLI restores', () => {
  const dir = join(tmpdir(), `vesta-backup-cli-${randomUUID()}`);
  // One environment for the app and the CLI: same database, same Redis key prefix.
  const env = testEnv({ BACKUP_DIR: dir });
  let running: RunningApp;
  let client: mongo.MongoClient;
  let db: mongo.Db;

  beforeAll(async () => {
    running = await startApp(loadConfig(env));
    client = await mongo.MongoClient.connect(env.MONGODB_URI);
    db = client.db();
  });

  afterAll(async () => {
    await running.close();
    await client.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the restored profile, not the cached one, right after a restore', async () => {
    const member = await registerAccount(running.url);
    const profile = await createProfile(running.url, member, { displayName: 'Before' });
    const id = backupId(await cli([], env));
    const changed = await fetch(`${running.url}/v1/profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify({ displayName: 'After' }),
    });
    expect(changed.status).toBe(200);
    const read = async () =>
      ((await (await fetch(`${running.url}/v1/profiles/${profile.id}`)).json()) as { displayName: string }).displayName;
    // Well after the write's second invalidation (500 ms later), so what is read now stays cached.
    await sleep(1_500);
    const redis = new Redis(requiredEnv('REDIS_URL'));
    try {
      // It lives on in this instance's L1 only, as after an eviction: the CLI finds no key naming it, so only its
      // message to drop every L1 entry can stop it being served. (The PATCH's generations stay for the CLI to delete.)
      await redis.unlink(`${env.REDIS_KEY_PREFIX}cache:profile:${profile.id}`);
    } finally {
      redis.disconnect();
    }
    // Still cached when the restore starts (read without the database): otherwise the read after the restore would
    // pass without the CLI clearing anything. Polled: on a loaded machine a Redis timeout or reconnect can keep a
    // load out of the cache, or empty L1, for a moment.
    const databaseReads = vi.spyOn(running.app.get(ProfilesRepository), 'findById');
    await expect
      .poll(
        async () => {
          databaseReads.mockClear();
          return (await read()) === 'After' && databaseReads.mock.calls.length === 0;
        },
        { timeout: 10_000, interval: 250 },
      )
      .toBe(true);
    databaseReads.mockRestore();

    const restore = await cli(['--restore', id, '--drop'], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({ cache: { cleared: true } });
    const after = new Redis(requiredEnv('REDIS_URL'));
    try {
      expect(await after.keys(`${env.REDIS_KEY_PREFIX}cache*`)).toEqual([]);
    } finally {
      after.disconnect();
    }
    expect(await read()).toBe('Before');
  });

  it('leaves the API cache alone when restoring into another database (the runbook restores there first)', async () => {
    const member = await registerAccount(running.url);
    const profile = await createProfile(running.url, member);
    const id = backupId(await cli([], env));
    expect((await fetch(`${running.url}/v1/profiles/${profile.id}`)).status).toBe(200); // now cached
    const cached = `${env.REDIS_KEY_PREFIX}cache:profile:${profile.id}`;
    const side = client.db(`${db.databaseName}_side`);
    const redis = new Redis(requiredEnv('REDIS_URL'));
    try {
      expect(await redis.exists(cached)).toBe(1);
      const restore = await cli(['--restore', id, '--target-db', side.databaseName], env);
      expect(restore.code, restore.stderr).toBe(0);
      // The cache describes the live database, which the restore did not touch: emptying it would only send every
      // read to that database at once, and drop the stale entries that answer while it struggles.
      expect(JSON.parse(restore.stdout)).toMatchObject({
        into: side.databaseName,
        cache: { cleared: false, skipped: expect.stringMatching(/not the API's database/) as unknown },
      });
      expect(restore.stderr).not.toMatch(/cache was not cleared/);
      expect(await redis.exists(cached)).toBe(1);
    } finally {
      redis.disconnect();
      await side.dropDatabase();
    }
  });

  it('logs to stderr in the JSON lines of the API (a CronJob logs where the pods do)', async () => {
    const backup = await cli([], { ...env, LOG_LEVEL: 'info' });
    const id = backupId(backup);
    const lines = backup.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    const entries = lines.map((line) => JSON.parse(line) as { service?: string; msg?: string });
    expect(entries.every((entry) => entry.service === 'vesta-api')).toBe(true);
    expect(entries.some((entry) => entry.msg?.startsWith(`Backup ${id} written`))).toBe(true);
  });

  it('refuses to restore while a backup runs, touching nothing, and keeps the backup records on --drop', async () => {
    const id = backupId(await cli([], env));
    // Written after the backup: a restore with --drop removes it, a refused one must not.
    const probe = db.collection('restore_probe');
    await probe.insertOne({ after: id });
    // What a running backup holds (see BackupRuns.tryLock).
    const locks = db.collection<{ _id: string; runId: string; until: Date }>('backup_lock');
    await locks.insertOne({ _id: 'backup', runId: 'a-running-backup', until: new Date(Date.now() + 60_000) });
    try {
      const refused = await cli(['--restore', id, '--drop'], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/A backup or another restore is running/);
      expect(await probe.countDocuments({ after: id })).toBe(1);
      expect(await locks.findOne({ _id: 'backup' })).toMatchObject({ runId: 'a-running-backup' });
    } finally {
      await locks.deleteOne({ _id: 'backup' });
    }
    const restore = await cli(['--restore', id, '--drop'], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await probe.countDocuments()).toBe(0); // the probe proves a restore would have shown
    expect(await db.collection('backup_runs').findOne({ _id: id as never })).toMatchObject({ status: 'succeeded' });
    expect(await locks.countDocuments()).toBe(0); // released
  });

  it('refuses a backup whose verification failed, touching nothing, unless --despite-failed-verification', async () => {
    const id = backupId(await cli([], env));
    // What a failed verification records (BackupService.verify); the CLI's own backup passed it.
    const failed = { status: 'failed', at: new Date(), durationMs: 5, error: 'E11000 duplicate key error' };
    await db.collection('backup_runs').updateOne({ _id: id as never }, { $set: { verify: failed } });
    const probe = db.collection('restore_probe');
    await probe.insertOne({ after: id });

    const refused = await cli(['--restore', id, '--drop'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(`Backup ${id} failed its verification at ${failed.at.toISOString()}`);
    expect(refused.stderr).toMatch(/E11000 duplicate key error.*pass --despite-failed-verification/);
    expect(await probe.countDocuments({ after: id })).toBe(1);

    const restore = await cli(['--restore', id, '--drop', '--despite-failed-verification'], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await probe.countDocuments()).toBe(0);
  });

  it('refuses to verify while a backup runs, whose retention could remove the backup being read', async () => {
    const id = backupId(await cli([], env));
    const locks = db.collection<{ _id: string; runId: string; until: Date }>('backup_lock');
    await locks.insertOne({ _id: 'backup', runId: 'a-running-backup', until: new Date(Date.now() + 60_000) });
    try {
      const refused = await cli(['--verify', id], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/A backup or a restore is running: verify again once it has finished/);
      expect(await locks.findOne({ _id: 'backup' })).toMatchObject({ runId: 'a-running-backup' });
    } finally {
      await locks.deleteOne({ _id: 'backup' });
    }
    const verified = await cli(['--verify', id], env);
    expect(verified.code, verified.stderr).toBe(0);
    expect(await locks.countDocuments()).toBe(0); // released
  });

  it('restores by default into the database the backup was taken from, as its help says', async () => {
    const help = await cli(['--help'], env);
    expect(help.stdout).toMatch(/default target: the database the backup was\s+taken from/);
    // Backed up from a database of its own, restored by a CLI configured for another one.
    const source = workerMongoUri('_cli_source');
    const sourceDb = client.db(new URL(source).pathname.slice(1));
    await sourceDb.collection('probe').insertOne({ from: 'source' });
    const id = backupId(await cli([], { ...env, MONGODB_URI: source }));
    await sourceDb.dropDatabase();
    const restore = await cli(['--restore', id], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({ into: sourceDb.databaseName });
    expect(await sourceDb.collection('probe').countDocuments({ from: 'source' })).toBe(1);
    await sourceDb.dropDatabase();
  });

  // A mistyped BACKUP_DIR was created, parents and all, and listed as empty with exit 0: "no backups", during an
  // incident, when they were only elsewhere.
  it('says a missing BACKUP_DIR is missing when listing or restoring, and creates nothing', async () => {
    const missing = join(dir, 'typo', 'backups');
    const listed = await cli(['--list'], { ...env, BACKUP_DIR: missing });
    expect(listed.code).toBe(1);
    expect(listed.stdout).toBe('');
    expect(listed.stderr).toContain(`The backup folder ${missing} (BACKUP_DIR) does not exist`);
    const restore = await cli(['--restore', '20261124T030000Z-3fa1', '--target-db', 'vesta_never'], {
      ...env,
      BACKUP_DIR: missing,
    });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(`No complete backup 20261124T030000Z-3fa1: The backup folder ${missing}`);
    await expect(readdir(join(dir, 'typo'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('verifies a backup of a database whose name is near the 63-character limit', async () => {
    const base = new URL(workerMongoUri()).pathname.slice(1);
    const name = `${base}_${'x'.repeat(60 - base.length - 1)}`;
    expect(name).toHaveLength(60);
    const uri = new URL(env.MONGODB_URI);
    uri.pathname = `/${name}`;
    await client.db(name).collection('probe').insertOne({ long: true });
    try {
      const backup = await cli([], { ...env, MONGODB_URI: uri.toString() });
      expect(backup.code, backup.stderr).toBe(0);
      expect(JSON.parse(backup.stdout)).toMatchObject({ status: 'succeeded', verify: { status: 'passed' } });
    } finally {
      await client.db(name).dropDatabase();
    }
  });
});

/**
 * Starts the built CLI with `env` and stops it with SIGTERM in the middle of its work: once `proxy` (between it and
 * the database) has held the answer to a command naming the marker collection, and kept holding it until the CLI said
 * it was stopping (`saysStopping` on stderr), so the work cannot end on its own first.
 */
async function cliStoppedMidway(
  args: string[],
  env: Record<string, string>,
  proxy: { stalled: Promise<void>; release: () => void },
  saysStopping = 'Shutdown: stopping',
) {
  const child = spawn(process.execPath, ['dist/backup/cli.js', ...args], {
    // At warn, the CLI says when it is stopping.
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let stopping = () => {};
  const saidStopping = new Promise<void>((resolve) => (stopping = resolve));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.includes(saysStopping)) stopping();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await Promise.race([proxy.stalled, exited]);
  child.kill('SIGTERM');
  await Promise.race([saidStopping, exited]);
  proxy.release();
  return { ...(await exited), stdout, stderr };
}

describe('backup CLI stopped by SIGTERM', () => {
  const dir = join(tmpdir(), `vesta-backup-cli-${randomUUID()}`);
  // A lease far longer than the test: a lock left behind would refuse the next backup for the rest of it.
  const env = testEnv({ BACKUP_DIR: dir, MONGODB_URI: workerMongoUri('_cli_sigterm'), BACKUP_LOCK_LEASE_MS: '600000' });
  const marker = 'stalls_here';
  let client: mongo.MongoClient;
  let db: mongo.Db;

  beforeAll(async () => {
    client = await mongo.MongoClient.connect(env.MONGODB_URI);
    db = client.db();
    await db.dropDatabase();
    await db.collection(marker).insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  // Each test starts with the lock free, whatever the one before left.
  beforeEach(() => db.collection('backup_lock').deleteMany({}));

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records the backup as interrupted, removes its draft, releases the lock and exits 143', async () => {
    const proxy = await stallingMongoProxy(env.MONGODB_URI, marker);
    try {
      const stopped = await cliStoppedMidway([], { ...env, MONGODB_URI: proxy.uri }, proxy);
      const [run] = await db.collection('backup_runs').find().toArray();
      expect(run, stopped.stderr).toMatchObject({ status: 'failed', error: 'interrupted: the process shut down' });
      expect(await db.collection('backup_lock').countDocuments()).toBe(0);
      expect(await readdir(dir)).toEqual([]);
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      expect(JSON.parse(stopped.stdout)).toMatchObject({ _id: run._id, status: 'failed' });
    } finally {
      await proxy.close();
    }
    // At once, not one lease later.
    const next = await cli([], env);
    expect(next.code, next.stderr).toBe(0);
  });

  it('releases the lock of a restore stopped by SIGTERM, and says the target may be partly restored', async () => {
    const id = backupId(await cli([], env));
    const target = `${db.databaseName}_restored`;
    const proxy = await stallingMongoProxy(env.MONGODB_URI, marker);
    try {
      const stopped = await cliStoppedMidway(
        ['--restore', id, '--target-db', target],
        { ...env, MONGODB_URI: proxy.uri },
        proxy,
      );
      expect(await db.collection('backup_lock').countDocuments(), stopped.stderr).toBe(0);
      expect(stopped.stderr).toContain(
        `interrupted: the process shut down; ${target} may be partly restored: run the restore again with --drop`,
      );
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
    } finally {
      await proxy.close();
      await client.db(target).dropDatabase();
    }
    const next = await cli([], env);
    expect(next.code, next.stderr).toBe(0);
  });

  // Stopped before it wrote anything, a restore into a target holding data (the live database, by default) said the
  // target "may be partly restored: run the restore again with --drop": done, that replaced what the restore refuses to
  // touch without --drop.
  it('says a restore stopped before it wrote left a target with data untouched, not to rerun with --drop', async () => {
    const id = backupId(await cli([], env));
    const target = `${db.databaseName}_kept`;
    await client.db(target).collection('sentinel').insertOne({ keep: true });
    // Held at the restore's first command on the target: the look at what it holds.
    const proxy = await stallingMongoProxy(env.MONGODB_URI, 'listCollections', target);
    try {
      const stopped = await cliStoppedMidway(
        ['--restore', id, '--target-db', target],
        { ...env, MONGODB_URI: proxy.uri },
        proxy,
      );
      expect(stopped.stderr).toContain(`interrupted: the process shut down; ${target} is untouched`);
      expect(stopped.stderr).not.toContain('may be partly restored');
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      expect(await client.db(target).collection('sentinel').countDocuments()).toBe(1);
      expect(await db.collection('backup_lock').countDocuments()).toBe(0);
    } finally {
      await proxy.close();
      await client.db(target).dropDatabase();
    }
  });

  // An OOM kill or a forced pod deletion leaves the lock to its lease: nothing runs, yet the next restore was told
  // only that a backup or another restore was running.
  it('tells a restore run after one was killed outright whose lease the lock is and until when', async () => {
    const id = backupId(await cli([], env));
    const target = `${db.databaseName}_killed`;
    const proxy = await stallingMongoProxy(env.MONGODB_URI, marker);
    try {
      const child = spawn(process.execPath, ['dist/backup/cli.js', '--restore', id, '--target-db', target], {
        env: { PATH: process.env.PATH ?? '', ...env, MONGODB_URI: proxy.uri, LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      await Promise.race([proxy.stalled, exited]);
      child.kill('SIGKILL');
      await exited;
    } finally {
      proxy.release();
      await proxy.close();
    }
    try {
      const again = await cli(['--restore', id, '--target-db', target, '--drop'], env);
      expect(again.code).toBe(1);
      const held = /the lock is held by (restore-[0-9a-f]{8}) until (\S+),/.exec(again.stderr);
      expect(held, again.stderr).not.toBeNull();
      expect(held?.[1]).toBe((await db.collection('backup_lock').findOne())?.runId);
      // This describe's lease is 600 s.
      expect(Date.parse(held?.[2] ?? '') - Date.now()).toBeGreaterThan(500_000);
    } finally {
      await client.db(target).dropDatabase();
    }
  });

  it('stops a restore still checking the backup files, and says the target is untouched', async () => {
    const id = backupId(await cli([], env));
    const target = `${db.databaseName}_untouched`;
    const backup = join(dir, id);
    const manifest = JSON.parse(await readFile(join(backup, 'manifest.json'), 'utf8')) as BackupManifest;
    // The first file the checks read becomes a pipe that gives a few bytes and then nothing: a volume that stopped
    // answering. Opening it for writing waits until the CLI opens it for reading.
    const first = join(backup, manifest.collections[0].metadata.path);
    const bytes = await readFile(first);
    await rm(first);
    await promisify(execFile)('mkfifo', [first]);
    let writer: FileHandle | undefined;
    const stall = {
      stalled: open(first, 'w').then(async (handle) => {
        writer = handle;
        await handle.write(bytes.subarray(0, 10));
      }),
      release: () => void writer?.close(),
    };
    // If the CLI never opened the pipe, the open for writing above still waits, holding a thread of this process: a
    // reader that opens without waiting lets it through.
    const unblock = async () => {
      if (writer === undefined) await (await open(first, constants.O_RDONLY | constants.O_NONBLOCK)).close();
      await stall.stalled.catch(() => undefined);
      stall.release();
    };
    try {
      const stopped = await cliStoppedMidway(['--restore', id, '--target-db', target], env, stall);
      expect(stopped.stderr).toContain(`interrupted: the process shut down; ${target} is untouched`);
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      expect(await db.collection('backup_lock').countDocuments()).toBe(0);
      expect(await client.db(target).listCollections().toArray()).toEqual([]);
    } finally {
      await unblock();
      await rm(backup, { recursive: true });
    }
  });

  // Stopped while its lock was being taken (the write sent, its answer not back), a restore or a backup was not yet
  // among those the shutdown stops: the process exited, and the lock it had just written stayed for its whole lease.
  it('releases the lock of a restore stopped while it was taking it', async () => {
    const id = backupId(await cli([], env));
    const target = `${db.databaseName}_locking`;
    const proxy = await stallingMongoProxy(env.MONGODB_URI, 'backup_lock');
    try {
      const stopped = await cliStoppedMidway(
        ['--restore', id, '--target-db', target],
        { ...env, MONGODB_URI: proxy.uri },
        proxy,
      );
      expect(await db.collection('backup_lock').countDocuments(), stopped.stderr).toBe(0);
      expect(stopped.stderr).toContain(`interrupted: the process shut down; ${target} is untouched`);
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      expect(await client.db(target).listCollections().toArray()).toEqual([]);
    } finally {
      await proxy.close();
      await client.db(target).dropDatabase();
    }
    const next = await cli([], env);
    expect(next.code, next.stderr).toBe(0);
  });

  it('records a backup stopped while it was taking the lock as interrupted, and releases the lock', async () => {
    const proxy = await stallingMongoProxy(env.MONGODB_URI, 'backup_lock');
    try {
      const stopped = await cliStoppedMidway([], { ...env, MONGODB_URI: proxy.uri }, proxy);
      expect(await db.collection('backup_lock').countDocuments(), stopped.stderr).toBe(0);
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      const run = JSON.parse(stopped.stdout) as { _id: string };
      expect(await db.collection('backup_runs').findOne({ _id: run._id as never })).toMatchObject({
        status: 'failed',
        error: 'interrupted: the process shut down',
      });
    } finally {
      await proxy.close();
    }
    const next = await cli([], env);
    expect(next.code, next.stderr).toBe(0);
  });

  // The restore had written everything; the process then exited at once, in the middle of clearing the cache: nothing
  // on stdout said the restore was done, nor whether the API would go on serving the replaced data.
  it('finishes clearing the cache after a restore that has written, and prints its result', async () => {
    const id = backupId(await cli([], env));
    const cached = `${env.REDIS_KEY_PREFIX}cache:profile:probe`;
    const redis = new Redis(requiredEnv('REDIS_URL'));
    // The relay holds Redis' answers from the CLI's first cache deletion (the epoch's) on. A command timeout longer
    // than the test, so that the held deletion cannot fail (and the step end) on its own.
    const proxy = await stallingMongoProxy(env.REDIS_URL, `${env.REDIS_KEY_PREFIX}cache-gen:epoch`);
    try {
      await redis.set(cached, '{}');
      const stopped = await cliStoppedMidway(
        ['--restore', id, '--drop'],
        { ...env, REDIS_URL: proxy.uri, REDIS_COMMAND_TIMEOUT_MS: '60000' },
        proxy,
        'SIGTERM received',
      );
      expect(stopped.stderr).toContain('SIGTERM received: the restore has finished; clearing the API cache');
      expect(JSON.parse(stopped.stdout)).toMatchObject({
        restored: id,
        into: db.databaseName,
        cache: { cleared: true },
      });
      expect(await redis.exists(cached)).toBe(0);
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
    } finally {
      await proxy.close();
      await redis.unlink(cached);
      redis.disconnect();
    }
  });

  // The scratch database the stopped process named when it said it was stopping.
  const scratchOf = (stderr: string) => /in (vesta_verify_[0-9a-f]+)/.exec(stderr)?.[1];
  const databases = async () => (await client.db().admin().listDatabases()).databases.map((d) => d.name);

  it('stops a verification, drops its scratch database and records nothing against the backup', async () => {
    const id = backupId(await cli([], env));
    const runs = db.collection<{ _id: string; verify?: unknown }>('backup_runs');
    const recorded = (await runs.findOne({ _id: id }))!.verify;
    expect(recorded).toMatchObject({ status: 'passed' });
    // Held at the first write into the scratch database: the verification's restore is under way.
    const proxy = await stallingMongoProxy(env.MONGODB_URI, marker, 'vesta_verify_');
    try {
      const stopped = await cliStoppedMidway(['--verify', id], { ...env, MONGODB_URI: proxy.uri }, proxy);
      expect(stopped.stderr).toContain(
        `Verification of backup ${id} interrupted: the process shut down; nothing recorded`,
      );
      expect(await db.collection('backup_lock').countDocuments()).toBe(0);
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      const scratch = scratchOf(stopped.stderr);
      expect(scratch, stopped.stderr).toBeDefined();
      expect(await databases()).not.toContain(scratch);
    } finally {
      await proxy.close();
    }
    // Not "failed": the backup is not at fault, and backup_last_verify_success would page for it.
    expect((await runs.findOne({ _id: id }))!.verify).toEqual(recorded);
  });

  it('keeps a backup whose verification was stopped: succeeded, unverified, nothing removed, lock released', async () => {
    const proxy = await stallingMongoProxy(env.MONGODB_URI, marker, 'vesta_verify_');
    let run: { _id: string; status: string; verify?: unknown; retention?: unknown };
    try {
      const stopped = await cliStoppedMidway([], { ...env, MONGODB_URI: proxy.uri }, proxy);
      run = JSON.parse(stopped.stdout) as typeof run;
      expect(run, stopped.stderr).toMatchObject({ status: 'succeeded' });
      expect(run.verify).toBeUndefined();
      expect(run.retention).toBeUndefined();
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 143, signal: null });
      expect(await databases()).not.toContain(scratchOf(stopped.stderr));
    } finally {
      await proxy.close();
    }
    expect(await db.collection('backup_lock').countDocuments()).toBe(0);
    expect(await readdir(dir)).toContain(run._id);
    // It can be verified later, as the log says.
    const verified = await cli(['--verify', run._id], env);
    expect(verified.code, verified.stderr).toBe(0);
  });
});
