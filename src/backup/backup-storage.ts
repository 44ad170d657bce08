import { createReadStream, createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { isBackupId } from './backup-id.js';
import { makeFolder } from '../common/make-folder.js';

/** A backup being written: files appear under its id only once `commit()` succeeds. */
export interface BackupDraft {
  /** A stream for one file, `path` relative to the backup (`vesta/profiles.bson.gz`). */
  create(path: string): Promise<Writable>;
  commit(): Promise<void>;
  /** Removes everything written so far. */
  abort(): Promise<void>;
}

/**
 * Where backups live. The dump and restore code use only this, so an S3-compatible target is a new
 * implementation (multipart uploads for `create`, a manifest written last for `commit`), nothing more.
 */
export interface BackupStorage {
  begin(id: string): Promise<BackupDraft>;
  /** Ids of complete backups, oldest first. Rejects with BackupFolderMissingError when there is no such folder. */
  list(): Promise<string[]>;
  open(id: string, path: string): Readable;
  remove(id: string): Promise<void>;
  /** Removes drafts left by a process that died mid-backup, and what a removal cut short left of a backup. */
  removeAbandonedDrafts(olderThanMs: number): Promise<number>;
  /** Rejects, naming the cause, when `begin` could not write a draft. */
  checkWritable(): Promise<void>;
}

/** BACKUP_DIR is not there: no backup has been written to it, or it is mistyped, or its volume is not mounted. */
export class BackupFolderMissingError extends Error {}

const DRAFT_PREFIX = '.draft-';
/** A backup being removed: out of the listing at once, whatever is left of it after a removal that was cut short. */
const REMOVING_PREFIX = '.removing-';
const PRIVATE_FOLDER = 0o700;
const PRIVATE_FILE = 0o600;

/**
 * A directory (a PersistentVolume in Kubernetes). Drafts are written to `.draft-<id>` beside the
 * backups and renamed to `<id>` when complete: a rename within one filesystem is atomic, so a listed
 * backup is always whole.
 */
export class LocalBackupStorage implements BackupStorage {
  constructor(private readonly root: string) {}

  async begin(id: string): Promise<BackupDraft> {
    await this.checkWritable();
    const draft = join(this.root, `${DRAFT_PREFIX}${id}`);
    // A backup holds every member's email, password hash, birth date, position and photos: nobody but the API's own
    // user may read it, whatever the umask (0022 made it readable by every account on the host or volume).
    await mkdir(draft, { mode: PRIVATE_FOLDER });
    return {
      create: async (path) => {
        const file = this.inside(draft, path);
        await makeFolder(dirname(file));
        return createWriteStream(file, { flags: 'wx', mode: PRIVATE_FILE });
      },
      commit: async () => {
        // Closed files and a rename may still be only in the page cache: a host crash soon after could leave a listed
        // backup with empty or missing files, once retention has removed the older ones. Flushed first, then the
        // rename, then the folder that now names it.
        await syncTree(draft);
        await rename(draft, join(this.root, id));
        await syncEntry(this.root, true);
      },
      abort: () => rm(draft, { recursive: true, force: true }),
    };
  }

  async list(): Promise<string[]> {
    // Read, never created: a mistyped BACKUP_DIR was made, parents and all, and listed as holding no backup, exit 0,
    // during the incident whose restore needed them. (A backup creates the folder: begin().)
    const entries = await readdir(this.root, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      throw new BackupFolderMissingError(`The backup folder ${this.root} (BACKUP_DIR) does not exist`, {
        cause: error,
      });
    });
    return entries
      .filter((entry) => entry.isDirectory() && isBackupId(entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  open(id: string, path: string): Readable {
    return createReadStream(this.inside(join(this.root, id), path));
  }

  async remove(id: string): Promise<void> {
    // Renamed first, in one step: removed in place, a removal cut short (a file it may not delete, the process killed)
    // could take manifest.json and leave the rest listed as a damaged backup, which retention skips for good (its age
    // unknown) while reporting success, and which still holds the members' data. The rest goes at the next clean-up.
    const removing = join(this.root, `${REMOVING_PREFIX}${id}`);
    try {
      await rename(this.inside(this.root, id), removing);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await rm(removing, { recursive: true, force: true });
  }

  async removeAbandonedDrafts(olderThanMs: number): Promise<number> {
    await makeFolder(this.root);
    let removed = 0;
    for (const entry of await readdir(this.root)) {
      const leftOver = entry.startsWith(REMOVING_PREFIX);
      if (!leftOver && !entry.startsWith(DRAFT_PREFIX)) continue;
      const path = join(this.root, entry);
      // A removal's leftover at any age: nothing writes it any more.
      if (!leftOver && Date.now() - (await stat(path)).mtimeMs < olderThanMs) continue;
      await rm(path, { recursive: true, force: true });
      removed += 1;
    }
    return removed;
  }

  /**
   * A read-only volume (or one mounted without write permission) otherwise fails at the draft's mkdir
   * with an error that names the draft, not the cause (`ENOENT ... mkdir .draft-...`).
   */
  async checkWritable(): Promise<void> {
    try {
      await makeFolder(this.root);
      await access(this.root, constants.W_OK);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      throw new Error(`The backup folder ${this.root} (BACKUP_DIR) is not writable: ${code ?? message}`, {
        cause: error,
      });
    }
  }

  /** Refuses paths that would leave the backup's folder (ids and paths come from manifests and the CLI). */
  private inside(base: string, path: string): string {
    // Resolved, so a BACKUP_DIR given as `/backups/` or `./backups` compares like `/backups`.
    const folder = resolve(base);
    const resolved = resolve(folder, path);
    const fromFolder = relative(folder, resolved);
    const leaves =
      fromFolder === '' || fromFolder === '..' || fromFolder.startsWith(`..${sep}`) || isAbsolute(fromFolder);
    if (leaves) throw new Error(`Refusing a path outside the backup: ${path}`);
    return resolved;
  }
}

/**
 * fsync of a file, or of a folder (which makes the names in it durable). Some network and FUSE filesystems refuse to
 * sync a folder (EINVAL, EISDIR, EPERM); they write its names through anyway, so that refusal is not a failed backup.
 */
async function syncEntry(path: string, folder = false): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!(folder && ['EINVAL', 'EISDIR', 'EPERM'].includes(code ?? ''))) throw error;
  } finally {
    await handle.close();
  }
}

/** Every file and folder under `folder`, and the folder itself, flushed to disk. */
async function syncTree(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    await (entry.isDirectory() ? syncTree(path) : syncEntry(path));
  }
  await syncEntry(folder, true);
}
