// transfer-store.ts — transfer records and their checkpoints in the persistent state
// directory: one file per transfer, `<state>/transfers/<transferId>.json`, replaced
// atomically (temp file, fsync, rename, fsync dir). Each file is a header line with the
// sha256 of the body, then the body (JSON). A file whose checksum or shape is wrong is
// never trusted: it is logged, renamed to `<name>.corrupt`, and that transfer is simply
// unknown (a sender that resumes it starts from zero, its stale partials truncated).
// Without a state directory the store keeps nothing (records live in memory only).
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../state/atomic-file.js';
import type { TransferStatus } from './transfer-record.js';
import { jsonArraySliced } from './sliced.js';

/** First line of a record file; the checksum follows `sha256=`. */
const kHeader = 'jetrecv-transfer v1 sha256=';
/** First line of a `<transferId>.files` sidecar (the files a resumable transfer's partials belong to). */
const kFilesHeader = 'jetrecv-transfer-files v1 sha256=';

/** A file of a transfer: its path beneath the sandbox root (as opened) and manifest size. */
export interface StoredFile {
  path: string;
  size: number;
}
const kIdPattern = /^[0-9a-f]{32}$/;

/** A checkpoint as stored: what the addon made durable (see ReceiveCheckpoint). */
export interface StoredCheckpoint {
  /** Unix µs when it was taken. */
  time: number;
  doneFiles: number[];
  /** (fileIndex, firstBlock, blockCount) triples. */
  ranges: number[];
  blocksHeld: number;
  bytesHeld: number;
}

/** Everything the receiver keeps about one transfer across restarts. */
export interface StoredTransfer {
  transferId: string;
  /** Hex of the sender's TransferRequest.transfer_uid ('' = the sender cannot resume). */
  transferUid: string;
  clientPublicKey: string;
  /** sha256 of the validated manifest (destination, block size, files, empty dirs). */
  manifestHash: string;
  /** Owner tag of the partial files (absent in records from before tags = untagged names). */
  partialTag?: string;
  destinationPath: string;
  sourceIP: string;
  sourcePort: number;
  status: TransferStatus;
  errorMessage: string;
  totalSize: number;
  filesTotal: number;
  filesDone: number;
  bytesReceived: number;
  startTime: number;
  endTime: number | null;
  lastErrorTime: number | null;
  lastRecvTime: number | null;
  lastSendTime: number | null;
  /** Partials are kept and `checkpoint` says what they hold: a sender may resume. */
  resumable: boolean;
  checkpoint: StoredCheckpoint | null;
}

/** Serializes a record with its checksum (exported for tests that corrupt files). */
export function encodeStoredTransfer(t: StoredTransfer): string {
  const body = JSON.stringify(t);
  return `${kHeader}${createHash('sha256').update(body).digest('hex')}\n${body}\n`;
}

/** Parses and verifies a record file; throws an Error saying what is wrong. */
export function decodeStoredTransfer(text: string): StoredTransfer {
  const nl = text.indexOf('\n');
  if (nl < 0 || !text.startsWith(kHeader)) throw new Error('missing or malformed header line');
  const sum = text.slice(kHeader.length, nl);
  const body = text.slice(nl + 1).replace(/\n$/, '');
  if (createHash('sha256').update(body).digest('hex') !== sum) throw new Error('checksum mismatch (truncated or modified)');
  const t = JSON.parse(body) as StoredTransfer;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (
    typeof t !== 'object' ||
    t === null ||
    typeof t.transferId !== 'string' ||
    !kIdPattern.test(t.transferId) ||
    typeof t.transferUid !== 'string' ||
    typeof t.clientPublicKey !== 'string' ||
    typeof t.manifestHash !== 'string' ||
    typeof t.destinationPath !== 'string' ||
    !['receiving', 'complete', 'error'].includes(t.status) ||
    !num(t.totalSize) ||
    !num(t.filesTotal) ||
    !num(t.startTime) ||
    typeof t.resumable !== 'boolean' ||
    (t.partialTag !== undefined && (typeof t.partialTag !== 'string' || !/^([0-9a-f]{16})?$/.test(t.partialTag)))
  ) {
    throw new Error('record has missing or malformed fields');
  }
  const cp = t.checkpoint;
  if (
    cp !== null &&
    (typeof cp !== 'object' ||
      !Array.isArray(cp.doneFiles) ||
      !Array.isArray(cp.ranges) ||
      cp.ranges.length % 3 !== 0 ||
      ![...cp.doneFiles, ...cp.ranges].every((n) => Number.isSafeInteger(n) && n >= 0))
  ) {
    throw new Error('checkpoint has malformed ranges');
  }
  return t;
}

interface PendingWrite {
  /** Called when the write starts: the latest state, or null to delete the file. */
  snapshot: () => StoredTransfer | null;
  running: Promise<void> | null;
  again: boolean;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
}

export class TransferStore {
  private readonly pending = new Map<string, PendingWrite>();

  private constructor(
    readonly dir: string | null,
    private readonly log: Logger,
  ) {}

  /**
   * Opens `<stateDir>/transfers` (created 0700) and loads every valid record; corrupt
   * ones are logged and renamed aside. Without stateDir: an empty store that keeps nothing.
   */
  static async open(stateDir: string | undefined, logger: Logger): Promise<{ store: TransferStore; records: StoredTransfer[] }> {
    const log = logger.child({ component: 'transfer-store' });
    if (!stateDir) return { store: new TransferStore(null, log), records: [] };
    const dir = path.join(stateDir, 'transfers');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const records: StoredTransfer[] = [];
    for (const name of await readdir(dir)) {
      const file = path.join(dir, name);
      if (name.includes('.tmp-')) {
        await rm(file, { force: true }); // a write interrupted by a crash: the old file is intact
        continue;
      }
      if (!name.endsWith('.json')) continue; // `.files` sidecars are read on demand (loadFiles)
      try {
        const t = decodeStoredTransfer(await readFile(file, 'utf8'));
        if (`${t.transferId}.json` !== name) throw new Error(`names transfer ${t.transferId}`);
        records.push(t);
      } catch (err) {
        log.warn(
          { file, err: (err as Error).message },
          'corrupt transfer checkpoint ignored: that transfer restarts from zero if its sender resumes it',
        );
        await rename(file, `${file}.corrupt`).catch(() => rm(file, { force: true }));
      }
    }
    records.sort((a, b) => a.startTime - b.startTime);
    return { store: new TransferStore(dir, log), records };
  }

  /** True when records are kept on disk. */
  get persistent(): boolean {
    return this.dir !== null;
  }

  /**
   * Persists the record `transferId` as `snapshot()` returns it when the write starts
   * (null deletes it). Writes of one record never overlap and coalesce: the promise
   * resolves once a write that started after this call has finished.
   */
  save(transferId: string, snapshot: () => StoredTransfer | null): Promise<void> {
    if (this.dir === null) return Promise.resolve();
    let p = this.pending.get(transferId);
    if (!p) {
      p = { snapshot, running: null, again: false, waiters: [] };
      this.pending.set(transferId, p);
    }
    p.snapshot = snapshot;
    const entry = p;
    const done = new Promise<void>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    if (entry.running) entry.again = true;
    else this.run(transferId, entry);
    return done;
  }

  private run(transferId: string, p: PendingWrite): void {
    const waiters = p.waiters.splice(0);
    p.running = (async () => {
      const file = path.join(this.dir!, `${transferId}.json`);
      const t = p.snapshot();
      if (t === null) await rm(file, { force: true });
      else await writeFileAtomic(file, encodeStoredTransfer(t), 0o600);
    })()
      .then(
        () => waiters.forEach((w) => w.resolve()),
        (err: Error) => {
          this.log.error({ transferId, err: err.message }, 'cannot write transfer record');
          waiters.forEach((w) => w.reject(err));
        },
      )
      .finally(() => {
        p.running = null;
        if (p.again || p.waiters.length > 0) {
          p.again = false;
          this.run(transferId, p);
        } else {
          this.pending.delete(transferId);
        }
      });
  }

  /** Removes a record file and its `.files` sidecar (retention). */
  async remove(transferId: string): Promise<void> {
    await this.save(transferId, () => null);
    await this.dropFiles(transferId);
  }

  /** Removes the `.files` sidecar only (the transfer is no longer resumable). */
  async dropFiles(transferId: string): Promise<void> {
    if (this.dir !== null) await rm(path.join(this.dir, `${transferId}.files`), { force: true });
  }

  /**
   * Writes `<transferId>.files`: the files of a resumable transfer, so that its partials can be
   * found and removed when the transfer expires after a restart. Written once, when the
   * transfer is accepted (records themselves stay small: they are rewritten at each checkpoint).
   */
  async saveFiles(transferId: string, files: StoredFile[]): Promise<void> {
    if (this.dir === null) return;
    const body = await jsonArraySliced(files); // a million files: JSON.stringify alone stalls ~0.5 s
    const text = `${kFilesHeader}${createHash('sha256').update(body).digest('hex')}\n${body}\n`;
    await writeFileAtomic(path.join(this.dir, `${transferId}.files`), text, 0o600);
  }

  /** The files saved by saveFiles, or null when the sidecar is missing or corrupt (logged). */
  async loadFiles(transferId: string): Promise<StoredFile[] | null> {
    if (this.dir === null) return null;
    const file = path.join(this.dir, `${transferId}.files`);
    try {
      const text = await readFile(file, 'utf8');
      const nl = text.indexOf('\n');
      const body = text.slice(nl + 1).replace(/\n$/, '');
      if (
        nl < 0 ||
        !text.startsWith(kFilesHeader) ||
        createHash('sha256').update(body).digest('hex') !== text.slice(kFilesHeader.length, nl)
      ) {
        throw new Error('checksum mismatch or malformed header');
      }
      const files = JSON.parse(body) as StoredFile[];
      if (!Array.isArray(files) || !files.every((f) => typeof f?.path === 'string' && Number.isSafeInteger(f.size) && f.size >= 0)) {
        throw new Error('malformed file list');
      }
      return files;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ file, err: (err as Error).message }, 'transfer file list unreadable: its partial files are left in place');
      return null;
    }
  }

  /** Resolves when every write requested so far has finished (failures are logged). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) {
      await Promise.allSettled([...this.pending.values()].map((p) => p.running));
      await new Promise((r) => setImmediate(r));
    }
  }
}
