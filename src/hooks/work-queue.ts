// work-queue.ts — a bounded queue that runs at most `concurrency` jobs at a time. A job pushed
// while `capacity` jobs wait is dropped and counted (overflow), never waited for: whoever
// pushes (the receiver's event path) is never slowed. Both hook kinds run on it.

/** What a hook's queue has done since start, for /metrics. */
export interface WorkQueueStats {
  /** Jobs waiting to start. */
  queued: number;
  /** Jobs running now. */
  running: number;
  /** Jobs that finished and reported success. */
  succeeded: number;
  /** Jobs that finished and reported failure (a failed command, a webhook out of retries). */
  failed: number;
  /** Jobs dropped because the queue was full. */
  dropped: number;
}

export class WorkQueue<J> {
  private readonly waiting: J[] = [];
  private running = 0;
  private readonly counts = { succeeded: 0, failed: 0, dropped: 0 };

  /** `run` resolves true for success, false for failure; a rejection counts as failure. */
  constructor(
    private readonly run: (job: J) => Promise<boolean>,
    public limits: { concurrency: number; capacity: number },
  ) {}

  /** Queues `job`; false (and counted) when the queue is full. */
  push(job: J): boolean {
    if (this.waiting.length >= this.limits.capacity) {
      this.counts.dropped++;
      return false;
    }
    this.waiting.push(job);
    this.pump();
    return true;
  }

  /** Forgets the waiting jobs (the daemon stops); running ones finish. */
  clear(): void {
    this.waiting.length = 0;
  }

  stats(): WorkQueueStats {
    return { queued: this.waiting.length, running: this.running, ...this.counts };
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  async idle(pollMs = 20): Promise<void> {
    while (this.waiting.length > 0 || this.running > 0) await new Promise((r) => setTimeout(r, pollMs));
  }

  private pump(): void {
    while (this.running < this.limits.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift() as J;
      this.running++;
      this.run(job)
        .catch(() => false)
        .then((ok) => {
          if (ok) this.counts.succeeded++;
          else this.counts.failed++;
          this.running--;
          this.pump();
        });
    }
  }
}
