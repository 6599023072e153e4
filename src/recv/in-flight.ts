// in-flight.ts — background work (manifest checks, opens, checkpoints, record writes) that a
// graceful shutdown waits for. Failures are logged here, never thrown to the caller.
import type { Logger } from 'pino';

export class InFlight {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  /** Keeps `p` until it settles; the returned promise never rejects. */
  track(p: Promise<void>): Promise<void> {
    const q = p.catch((err: Error) => this.log.error({ err: err.message }, 'checkpoint or record write failed'));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
    return q;
  }

  /** Resolves once nothing is pending, including work started while waiting. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
