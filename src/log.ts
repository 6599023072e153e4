// log.ts — pino loggers. The daemon logs JSON lines to stdout (journald picks them up);
// client commands log to stderr so their own output stays clean.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A logger writing JSON lines to stdout or stderr without blocking. Lines logged right before
 * process.exit() are not lost: pino flushes this destination synchronously on 'exit'
 * (test/integration/serve-cli.test.ts, "a second stop signal").
 */
export function createLogger(level: LogLevel, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: destination === 'stdout' ? 1 : 2, sync: false }),
  );
}

/**
 * Wraps a logger so one kind of message is emitted at most once per interval; the
 * next emitted line carries how many were suppressed. For faults that can repeat per
 * packet or per handshake attempt.
 */
export class RateLimitedLog {
  private last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 1024,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.last.size >= this.maxKeys) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    this.log.warn({ ...obj, suppressed: entry?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: now, suppressed: 0 });
  }
}
