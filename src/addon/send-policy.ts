// send-policy.ts — the one policy for every native send made from JavaScript, on both
// sides (control frames, handshake responses, cookie replies, INITs):
//  - would-block (socket send buffer full) is normal: the datagram is lost, like any other
//    datagram; the protocol retransmits.
//  - any other error (EPERM from a firewall, ENETUNREACH after a route went away, ...) is
//    counted and logged, rate-limited per kind, and also treated as a lost datagram.
// A send never throws to its caller: the process never dies of one. A session whose sends
// keep failing ends by the ordinary liveness rules (its control channel sees no acks, its
// peer goes silent), not here.
import type { Logger } from 'pino';
import { RateLimitedLog } from '../log.js';
import { ErrorCodes } from '../errors.js';

export type SendOutcome = 'sent' | 'lost' | 'failed';

export interface SendErrorCounts {
  /** Sends dropped because the socket buffer was full. */
  wouldBlock: number;
  /** Sends that failed with any other error. */
  failed: number;
  /** Failures by error code or errno name. */
  byCode: Record<string, number>;
}

export class SendPolicy {
  private readonly limited: RateLimitedLog;
  private readonly counts: SendErrorCounts = { wouldBlock: 0, failed: 0, byCode: {} };

  constructor(log: Logger, intervalMs = 10_000) {
    this.limited = new RateLimitedLog(log, intervalMs);
  }

  /**
   * Runs one native send. 'sent', 'lost' (would-block) or 'failed' (counted and logged);
   * never throws. `what` names the kind of send in the log ('control', 'handshake-response'...).
   */
  send(what: string, fn: () => void, context: Record<string, unknown> = {}): SendOutcome {
    try {
      fn();
      return 'sent';
    } catch (err) {
      const e = err as Error & { code?: string; errno?: number };
      if (e.code === ErrorCodes.WOULD_BLOCK) {
        this.counts.wouldBlock++;
        return 'lost';
      }
      this.counts.failed++;
      const key = e.code ?? 'unknown';
      this.counts.byCode[key] = (this.counts.byCode[key] ?? 0) + 1;
      this.limited.warn(
        `send:${what}:${key}:${e.errno ?? ''}`,
        { ...context, send: what, code: e.code, errno: e.errno, err: e.message, failedSends: this.counts.failed },
        'send failed; the datagram is lost',
      );
      return 'failed';
    }
  }

  stats(): SendErrorCounts {
    return { wouldBlock: this.counts.wouldBlock, failed: this.counts.failed, byCode: { ...this.counts.byCode } };
  }
}
