// atomic-file.ts — crash-safe whole-file replacement for every state file.
// Contract: after writeFileAtomic(path, data) resolves, `path` holds `data` durably; if the
// process or machine dies at any moment before that, `path` holds either its old content or
// the new one, never a torn mix. The temp file lives beside the target (same filesystem, so
// rename(2) is atomic) and is removed on failure.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** Name of the temp file used while replacing `target`: `<target>.tmp-<pid>-<random hex>`. */
function tempPathFor(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Atomically replace `target` with `data`: write `target.tmp-<pid>-<rand>` with `mode`,
 * fsync it, rename it over `target`, then fsync the directory so the rename itself is
 * durable. The final file has exactly `mode` (the umask does not apply).
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await writeSyncedTemp(tmp, data, mode);
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await fsyncDirectory(path.dirname(target));
}

/** Creates `tmp` (exclusively) with exactly `mode`, writes `data` and fsyncs it. */
async function writeSyncedTemp(tmp: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await fsp.open(tmp, 'wx', mode);
  try {
    await handle.chmod(mode); // open()'s mode is filtered by the umask; chmod is not
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Synchronous form of {@link writeFileAtomic}, same guarantees. */
export function writeFileAtomicSync(target: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.fchmodSync(fd, mode);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing; the original error is the one to report */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirectorySync(path.dirname(target));
}

/**
 * Create `target` with `data` only if it does not exist yet, atomically: the file appears
 * complete (written and fsynced under a temp name, then hard-linked into place) or not at
 * all. Rejects with an `EEXIST` error, leaving the existing file untouched, if `target`
 * already exists, even when another process creates it concurrently.
 */
export async function createFileExclusive(target: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await writeSyncedTemp(tmp, data, mode);
    await fsp.link(tmp, target); // link(2) never replaces: EEXIST if target exists
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
  await fsyncDirectory(path.dirname(target));
}

/** fsync a directory so a rename inside it survives a crash. */
async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function fsyncDirectorySync(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
