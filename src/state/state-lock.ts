// state-lock.ts — one daemon per persistent state directory. Two daemons on one directory
// would overwrite each other's authorized-clients.json, users.json and transfer records, so
// the daemon holds `<stateDir>/jetrecv.lock` while it runs: a file holding its pid, created
// atomically (written under a temporary name, then hard-linked: the link fails if the lock
// exists, so no process ever sees an empty lock). A lock whose pid is not a live jetrecv
// process (a crash, SIGKILL, a container restart that reused the pid) is stale and taken
// over; the takeover renames the stale file away first, so two starters cannot both win.
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, JetrecvError } from '../errors.js';

/** File name inside the state directory. */
export const STATE_LOCK_FILE = 'jetrecv.lock';

/** Lock files held by this process (a second daemon in the same process is refused too). */
const heldHere = new Set<string>();

/** A held lock; release() removes the file (idempotent). */
export interface StateLock {
  readonly path: string;
  /** Pid of the dead process whose lock was taken over, if any. */
  readonly tookOverFrom: number | null;
  release(): Promise<void>;
}

function parsePid(text: string): number | null {
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** True when `pid` is a live process that looks like jetrecv (pid reuse is not a holder). */
function isLiveJetrecv(pid: number): boolean {
  if (pid === process.pid) return false; // our pid, yet not held here: left by an earlier life
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('jetrecv');
  } catch {
    return true; // alive, command line unreadable: assume the holder
  }
}

function inUse(stateDir: string, pid: number | null): JetrecvError {
  return new JetrecvError(
    ErrorCodes.STATE,
    `the state directory ${stateDir} is in use by another jetrecv (pid ${pid ?? 'unknown'}); ` +
      'stop that daemon first, or give this one its own --persistent-state-dir',
    { path: stateDir },
  );
}

/**
 * Takes the lock of `stateDir` (which must exist), or throws JETRECV_ERR_STATE naming the
 * pid of the daemon holding it.
 */
export async function lockStateDir(stateDir: string): Promise<StateLock> {
  const lockPath = path.resolve(stateDir, STATE_LOCK_FILE);
  if (heldHere.has(lockPath)) throw inUse(stateDir, process.pid);
  const temp = `${lockPath}.${process.pid}.tmp`;
  await writeFile(temp, `${process.pid}\n`, { mode: 0o644 });
  let tookOverFrom: number | null = null;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, lockPath);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err;
      }
      let holder: number | null;
      try {
        holder = parsePid(await readFile(lockPath, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw err;
      }
      if (holder !== null && isLiveJetrecv(holder)) throw inUse(stateDir, holder);
      // Stale: move it aside (only one starter can move this file), then check what we moved.
      const aside = `${lockPath}.stale.${process.pid}`;
      try {
        await rename(lockPath, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // another starter moved it
        throw err;
      }
      const moved = parsePid(await readFile(aside, 'utf8').catch(() => ''));
      if (moved !== null && moved !== holder && isLiveJetrecv(moved)) {
        // A live daemon's fresh lock replaced the stale one in between: put it back.
        await link(aside, lockPath).catch(() => {});
        await unlink(aside).catch(() => {});
        throw inUse(stateDir, moved);
      }
      await unlink(aside).catch(() => {});
      tookOverFrom = holder;
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
  heldHere.add(lockPath);
  let released = false;
  return {
    path: lockPath,
    tookOverFrom,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(lockPath);
      // Remove only our own lock (a stale-lock takeover by another process cannot happen
      // while we live, but stay safe).
      const pid = parsePid(await readFile(lockPath, 'utf8').catch(() => ''));
      if (pid === process.pid) await unlink(lockPath).catch(() => {});
    },
  };
}
