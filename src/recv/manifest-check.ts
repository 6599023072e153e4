// manifest-check.ts — validates a sender's TransferRequest before anything touches the
// disk: paths (relative, no '..', no duplicates), sizes, modes, block size. The native
// layer re-checks paths and resolves them beneath the sandbox (symlink escapes).
import { kMaxBlockSize, kMinBlockSize } from '../addon/limits.js';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { joinDestination, normalizeDestinationPath, shownPath, validateRelativePath } from '../proto/paths.js';
import { receivedFileMode } from './file-mode.js';
import { forEachSliced, mapSliced } from './sliced.js';

export const kMaxFilesPerTransfer = 1_000_000;

export interface ManifestRequest {
  destinationPath: string;
  blockSize: number;
  files: { path: string; size: number; mode: number; mtimeMs: number }[];
  emptyDirs: string[];
}

export interface ValidatedManifest {
  destinationPath: string;
  totalSize: number;
  files: { relPath: string; size: number; mode: number; mtimeMs: number }[];
  emptyDirs: string[];
}

/**
 * Checks a manifest and maps every path to a path relative to the sandbox root.
 * Modes keep only the permission bits: set-uid, set-gid and sticky bits from a remote
 * sender are never applied. Rejects with JetrecvError naming the offending entry. Runs in
 * slices that yield to the event loop (a million files take seconds).
 */
export async function validateManifest(req: ManifestRequest, maxFiles = kMaxFilesPerTransfer): Promise<ValidatedManifest> {
  const bad = (msg: string, code: string = ErrorCodes.PATH_INVALID) => new JetrecvError(code, msg);
  if (!Number.isInteger(req.blockSize) || req.blockSize < kMinBlockSize || req.blockSize > kMaxBlockSize) {
    throw bad(`block size ${req.blockSize} is outside ${kMinBlockSize}..${kMaxBlockSize}`, ErrorCodes.PROTOCOL);
  }
  if (req.files.length > maxFiles) {
    throw bad(
      `too many files in one transfer: ${req.files.length} (this receiver accepts at most ${maxFiles} per transfer: --max-files-per-transfer)`,
      ErrorCodes.REFUSED,
    );
  }
  const dest = normalizeDestinationPath(req.destinationPath);
  const seen = new Set<string>();
  let totalSize = 0;
  const files = await mapSliced(req.files, (f, i) => {
    const rel = validateRelativePath(f.path, `file ${i} path`);
    if (!Number.isSafeInteger(f.size) || f.size < 0)
      throw bad(`file ${shownPath(f.path)}: size ${f.size} is not a valid byte count`, ErrorCodes.PROTOCOL);
    if (!Number.isFinite(f.mtimeMs)) throw bad(`file ${shownPath(f.path)}: bad modification time`, ErrorCodes.PROTOCOL);
    const relPath = joinDestination(dest, rel);
    if (seen.has(relPath)) throw bad(`file ${shownPath(f.path)} appears twice in the manifest`);
    seen.add(relPath);
    totalSize += f.size;
    return { relPath, size: f.size, mode: receivedFileMode(f.mode), mtimeMs: f.mtimeMs };
  });
  const emptyDirs = await mapSliced(req.emptyDirs, (d, i) => {
    const relPath = joinDestination(dest, validateRelativePath(d, `empty directory ${i}`));
    if (seen.has(relPath)) throw bad(`${shownPath(d)} is listed both as a file and as a directory`);
    return relPath;
  });
  // A file may not also be a parent directory of another entry.
  const parentCheck = (p: string) => {
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
      if (seen.has(p.slice(0, i)))
        throw bad(`${shownPath(p.slice(0, i))} is a file in the manifest but also a directory of ${shownPath(p)}`);
    }
  };
  await forEachSliced(files, (f) => parentCheck(f.relPath));
  await forEachSliced(emptyDirs, parentCheck);
  return { destinationPath: dest, totalSize, files, emptyDirs };
}
