// resume-state.ts — the sender's memory of unfinished transfers, so that `jetrecv send`
// run again with the same key, receiver, destination and files resumes instead of
// starting over. One small file per transfer in the sender's cache directory
// ($XDG_CACHE_HOME/jetrecv/send, else ~/.cache/jetrecv/send), named by a hash of what
// identifies the transfer; it holds the random 16-byte transfer uid. Written atomically
// before the first request, removed when the transfer completes or fails for good.
// Nothing the user must manage: a stale file only means a later identical send offers
// the receiver a uid it may still hold a checkpoint for.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../state/atomic-file.js';
import type { Manifest } from './manifest.js';

/** Default directory of the sender's resume files. */
export function defaultResumeDir(): string {
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'jetrecv', 'send');
}

export interface ResumeIdentity {
  senderPublicKey: Uint8Array;
  serverPublicKey: Uint8Array;
  destinationPath: string;
  blockSize: number;
  manifest: Manifest;
}

/** Hash naming a transfer: same sender key, receiver key, destination, block size and files. */
export function resumeKey(id: ResumeIdentity): string {
  return createHash('sha256')
    .update(Buffer.from(id.senderPublicKey))
    .update(Buffer.from(id.serverPublicKey))
    .update(
      JSON.stringify({
        d: id.destinationPath,
        b: id.blockSize,
        f: id.manifest.files.map((f) => [f.path, f.size, f.mode, f.mtimeMs]),
        e: id.manifest.emptyDirs,
      }),
    )
    .digest('hex');
}

export class ResumeState {
  private constructor(
    readonly file: string | null,
    /** 16 random bytes, kept across runs of the same transfer. */
    readonly uid: Uint8Array,
    /** True when the uid came from an earlier, unfinished run. */
    readonly fromEarlierRun: boolean,
  ) {}

  /**
   * Loads the uid of an unfinished identical transfer, or makes a new one and records it
   * in `dir` (null: resume across runs disabled, the uid lives for this run only).
   */
  static async open(dir: string | null, id: ResumeIdentity): Promise<ResumeState> {
    if (dir === null) return new ResumeState(null, randomBytes(16), false);
    const file = path.join(dir, `${resumeKey(id)}.json`);
    try {
      const saved = JSON.parse(await readFile(file, 'utf8')) as { uid?: unknown };
      if (typeof saved.uid === 'string' && /^[0-9a-f]{32}$/.test(saved.uid)) {
        return new ResumeState(file, Buffer.from(saved.uid, 'hex'), true);
      }
    } catch {
      // missing or unreadable: a new transfer
    }
    const uid = randomBytes(16);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `${JSON.stringify({ uid: uid.toString('hex'), created: new Date().toISOString() })}\n`, 0o600);
    return new ResumeState(file, uid, false);
  }

  /** The transfer is finished (complete, or failed for good): forget it. */
  async forget(): Promise<void> {
    if (this.file) await rm(this.file, { force: true });
  }
}
