// resume-retention.ts — how long partial files wait for their sender. A resumable transfer not
// running and idle longer than the retention is dropped with its partials; a resumable record
// evicted by count loses its partials too; at start, tagged partials no resumable record owns
// are swept. Partials a running transfer uses, or no longer looking like ours, are left alone.
import type { Logger } from 'pino';
import { nowUs, resumeExpired, type TransferRecord } from './transfer-record.js';
import type { StoredFile, TransferStore } from './transfer-store.js';
import type { PartialFiles } from './endpoint-port.js';
import type { InFlight } from './in-flight.js';
import type { ResumeTable } from './resume-table.js';

/** Resume retention sweeps run at most this far apart (and at least 1 s apart). */
const kMaxRetentionSweepMs = 3_600_000;
export const kDefaultResumeRetentionMs = 7 * 86_400_000;

export interface RetentionContext {
  sandboxRoot: string;
  resume: ResumeTable;
  store: TransferStore | undefined;
  partials: PartialFiles;
  inFlight: InFlight;
  log: Logger;
  /** Paths beneath the sandbox that receiving transfers write now. */
  pathsInUse(): Set<string>;
  /** Removes a record from the API views. */
  forgetRecord(t: TransferRecord): void;
  /** The receiver is stopping: no more unlinks. */
  stopped(): boolean;
}

export class ResumeRetention {
  private retentionMs = kDefaultResumeRetentionMs;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(private readonly ctx: RetentionContext) {}

  /** Sets the retention (0 = keep forever), sweeps now and then every min(1 h, retention). */
  setRetention(ms: number): void {
    this.retentionMs = ms;
    this.stop();
    if (this.ctx.stopped() || ms <= 0) return;
    this.timer = setInterval(() => void this.expire(), Math.max(1000, Math.min(kMaxRetentionSweepMs, ms)));
    this.timer.unref();
    void this.expire();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Drops every resumable transfer that is not running and was idle longer than the retention
   * (see resumeExpired): gone from the resume table first (a sender coming back now starts a new
   * transfer), then from the API and the state directory, then its partials. Resolves when the
   * sweep is done (one sweep at a time).
   */
  expire(): Promise<void> {
    this.sweeping ??= this.ctx.inFlight.track(
      (async () => {
        const now = nowUs();
        for (const t of this.ctx.resume.records().filter((r) => resumeExpired(r, now, this.retentionMs))) {
          if (!this.ctx.resume.delete(t)) continue;
          this.ctx.forgetRecord(t);
          const r = await this.discard(t);
          if (!r) return;
          this.ctx.log.info(
            {
              transferId: t.transferId,
              clientPublicKey: t.clientPublicKey,
              destinationPath: t.destinationPath,
              partialsRemoved: r.removed,
              leftAlone: r.leftAlone.slice(0, 20),
              leftAloneCount: r.leftAlone.length,
              fileListKnown: r.fileListKnown,
              retentionMs: this.retentionMs,
            },
            'resumable transfer expired: record dropped, partial files removed',
          );
        }
      })().finally(() => {
        this.sweeping = null;
      }),
    );
    return this.sweeping;
  }

  /** A record the transfer log evicted by count: gone from the state directory; a resumable one's partials go too. */
  evicted(t: TransferRecord): void {
    const wasResumable = this.ctx.resume.delete(t);
    void this.ctx.inFlight.track(
      (async () => {
        if (!wasResumable) {
          t.resumable = false;
          await this.ctx.store?.remove(t.transferId);
          return;
        }
        const r = await this.discard(t);
        if (r)
          this.ctx.log.info(
            { transferId: t.transferId, partialsRemoved: r.removed, leftAloneCount: r.leftAlone.length, fileListKnown: r.fileListKnown },
            'resumable transfer record evicted by count: partial files removed',
          );
      })(),
    );
  }

  /**
   * Start-up sweep, before any transfer can open: removes every tagged partial beneath the
   * sandbox that no resumable record owns (left by transfers that could not resume when the
   * receiver was killed, or whose records are gone). Untagged names, symlinks and other file
   * systems are never touched.
   */
  sweepOrphans(): void {
    const keep = [
      ...new Set(
        this.ctx.resume
          .records()
          .map((t) => t.partialTag)
          .filter((tag) => tag !== ''),
      ),
    ];
    try {
      const r = this.ctx.partials.sweepPartials(this.ctx.sandboxRoot, keep);
      this.ctx.log.info(
        { removed: r.removed, bytesRemoved: r.bytesRemoved, kept: r.kept, leftAlone: r.leftAlone },
        'orphaned partial files swept',
      );
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, 'orphaned partial files not swept');
    }
  }

  /**
   * A resumable record that will never resume (out of the resume table already): its stored
   * record is removed, then its partials; null when the receiver stopped meanwhile.
   */
  private async discard(t: TransferRecord): Promise<{ removed: number; leftAlone: string[]; fileListKnown: boolean } | null> {
    t.resumable = false;
    const files = t.files ?? (await this.ctx.store?.loadFiles(t.transferId)) ?? null;
    await this.ctx.store?.remove(t.transferId);
    if (this.ctx.stopped()) return null;
    return { ...this.removePartials(t, files), fileListKnown: files !== null };
  }

  /**
   * Removes the partials `files` names beneath the sandbox with t's partial tag, except files it
   * finished, paths a running transfer uses, and anything no longer looking like its partial
   * (left alone, listed). Synchronous: no transfer can open between the in-use check and the unlinks.
   */
  private removePartials(t: TransferRecord, files: StoredFile[] | null): { removed: number; leftAlone: string[] } {
    const inUse = this.ctx.pathsInUse();
    const done = new Set(t.checkpoint?.doneFiles ?? []);
    let removed = 0;
    const leftAlone: string[] = [];
    (files ?? []).forEach((f, i) => {
      if (done.has(i) || inUse.has(f.path)) return;
      try {
        const r = this.ctx.partials.removeStalePartial(this.ctx.sandboxRoot, f.path, f.size, t.partialTag);
        if (r === 'removed') removed++;
        else if (r === 'replaced') leftAlone.push(f.path);
      } catch (err) {
        leftAlone.push(f.path);
        this.ctx.log.warn({ transferId: t.transferId, path: f.path, err: (err as Error).message }, 'partial file not removed');
      }
    });
    return { removed, leftAlone };
  }
}
