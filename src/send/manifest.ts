// manifest.ts — turns `jetrecv send` path arguments into a transfer manifest, like `cp -r`:
// a file argument becomes its basename, a directory its basename plus everything beneath.
// Symlinks found while walking and special files (fifo, socket, device) are skipped with a
// warning; symlinks named on the command line are followed (the user asked for them).
// Order is deterministic (sorted by path). File-system calls run with bounded concurrency.

import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { MAX_MANIFEST_FILES } from '../proto/control.js';
import { validateRelativePath } from '../proto/paths.js';

/** One regular file to send. */
export interface ManifestFile {
  /** Where to read it on this machine (absolute). */
  localPath: string;
  /** Relative, '/'-separated manifest path (valid per validateRelativePath). */
  path: string;
  size: number;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  /** Modification time, whole Unix milliseconds. */
  mtimeMs: number;
}

export interface Manifest {
  /** Sorted by `path`; the index in this array is the file index of the transfer. */
  files: ManifestFile[];
  /** Directories that contain nothing else in the manifest (so the receiver creates them). Sorted. */
  emptyDirs: string[];
  totalBytes: number;
  /** One line per skipped entry (symlink, special file, entry that vanished while walking). */
  warnings: string[];
}

export interface BuildManifestOptions {
  /** Most file-system calls in flight at once. Default 64. */
  concurrency?: number;
}

/** Runs async jobs with at most `limit` in flight (FIFO; O(1) per job). */
function limiter(limit: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  let waiting: (() => void)[] = [];
  let head = 0;
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      const next = waiting[head];
      if (next !== undefined) {
        waiting[head++] = undefined as never;
        if (head > 1024 && head * 2 > waiting.length) {
          waiting = waiting.slice(head);
          head = 0;
        }
        next();
      } else {
        active--;
      }
    }
  };
}

function fsError(err: unknown, what: string, localPath: string): JetrecvError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
  return new JetrecvError(
    ErrorCodes.DISK,
    `cannot ${what} ${localPath}: ${reason}`,
    { path: localPath, errno: code },
    {
      cause: err,
    },
  );
}

function specialKind(st: Stats | Dirent): string {
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block device';
  if (st.isCharacterDevice()) return 'character device';
  return 'special file';
}

/**
 * Builds the manifest for `paths` (files or directories, relative to the working directory).
 * Throws JetrecvError DISK naming the path for a missing argument or an unreadable directory,
 * USAGE for two arguments with the same basename (naming both) or no arguments, PATH_INVALID
 * for a name the protocol cannot carry (control characters, too long, not UTF-8), and
 * PROTOCOL for more than MAX_MANIFEST_FILES files.
 */
export async function buildManifest(paths: readonly string[], opts: BuildManifestOptions = {}): Promise<Manifest> {
  if (paths.length === 0) throw new JetrecvError(ErrorCodes.USAGE, 'nothing to send: no paths given');
  const run = limiter(Math.max(1, opts.concurrency ?? 64));
  const files: ManifestFile[] = [];
  const emptyDirs: string[] = [];
  const warnings: string[] = [];

  const byBasename = new Map<string, string>();
  const roots: { arg: string; local: string; name: string }[] = [];
  for (const arg of paths) {
    const local = path.resolve(arg);
    const name = path.basename(local);
    if (name === '') throw new JetrecvError(ErrorCodes.USAGE, `cannot send the root directory '${arg}'`, { path: arg });
    validateRelativePath(name, `name of '${arg}'`);
    const other = byBasename.get(name);
    if (other !== undefined) {
      throw new JetrecvError(
        ErrorCodes.USAGE,
        `'${other}' and '${arg}' would both be sent as '${name}'; send them in separate transfers or rename one`,
        { paths: [other, arg] },
      );
    }
    byBasename.set(name, arg);
    roots.push({ arg, local, name });
  }

  const addFile = (local: string, rel: string, st: Stats): void => {
    files.push({ localPath: local, path: rel, size: st.size, mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs) });
    if (files.length > MAX_MANIFEST_FILES) {
      throw new JetrecvError(ErrorCodes.PROTOCOL, `more than ${MAX_MANIFEST_FILES} files to send; split the transfer`);
    }
  };

  /** Walks one directory; returns how many manifest entries (files, dirs) it produced. */
  const walk = async (local: string, rel: string): Promise<number> => {
    let entries: Dirent[];
    try {
      entries = await run(() => readdir(local, { withFileTypes: true }));
    } catch (err) {
      throw fsError(err, 'read directory', local);
    }
    const counts = await Promise.all(
      entries.map(async (entry): Promise<number> => {
        const childLocal = path.join(local, entry.name);
        const childRel = `${rel}/${entry.name}`;
        validateRelativePath(childRel, `path of ${childLocal}`);
        // readdir decodes names as UTF-8; a name that is not becomes U+FFFD and cannot be opened.
        const suspectName = entry.name.includes('\uFFFD');
        const knownType =
          entry.isDirectory() ||
          entry.isSymbolicLink() ||
          entry.isFIFO() ||
          entry.isSocket() ||
          entry.isBlockDevice() ||
          entry.isCharacterDevice();
        let kind: Stats | Dirent = entry;
        let st: Stats | undefined;
        if (entry.isFile() || !knownType || suspectName) {
          try {
            st = await run(() => lstat(childLocal));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'stat', childLocal);
            if (suspectName) {
              throw new JetrecvError(ErrorCodes.PATH_INVALID, `cannot send ${childLocal}: its name is not valid UTF-8; rename it`, {
                path: childLocal,
              });
            }
            warnings.push(`skipped ${childLocal}: it vanished while the manifest was built`);
            return 0;
          }
          kind = st;
        }
        if (kind.isDirectory()) {
          if ((await walk(childLocal, childRel)) === 0) emptyDirs.push(childRel);
          return 1;
        }
        if (kind.isSymbolicLink()) {
          warnings.push(`skipped symlink ${childLocal} (symlinks are not sent; name the target to send it)`);
          return 0;
        }
        if (kind.isFile() && st !== undefined) {
          addFile(childLocal, childRel, st);
          return 1;
        }
        warnings.push(`skipped ${specialKind(kind)} ${childLocal} (only regular files and directories are sent)`);
        return 0;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  };

  for (const root of roots) {
    let st: Stats;
    try {
      st = await stat(root.local); // follows a symlink named on the command line
    } catch (err) {
      throw fsError(err, 'send', root.arg);
    }
    if (st.isDirectory()) {
      if ((await walk(root.local, root.name)) === 0) emptyDirs.push(root.name);
    } else if (st.isFile()) {
      addFile(root.local, root.name, st);
    } else {
      throw new JetrecvError(
        ErrorCodes.USAGE,
        `cannot send ${root.arg}: it is a ${specialKind(st)} (only regular files and directories are sent)`,
        { path: root.arg },
      );
    }
  }

  const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  files.sort((a, b) => byPath(a.path, b.path));
  emptyDirs.sort(byPath);
  warnings.sort(byPath);
  return { files, emptyDirs, totalBytes: files.reduce((sum, f) => sum + f.size, 0), warnings };
}
