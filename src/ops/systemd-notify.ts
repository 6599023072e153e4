// systemd-notify.ts — the sd_notify(3) protocol for `Type=notify` units, over an injected
// sender (the addon's `sdNotify(message): boolean`, which writes one datagram to
// $NOTIFY_SOCKET and returns false when it is unset). Outside systemd every call is a no-op
// that returns false. Lifecycle: ready() once sockets are bound and state is loaded;
// status() as things change; reloading() ... ready() around a SIGHUP; stopping() on SIGTERM;
// startWatchdog() when WatchdogSec= is set; close() stops the watchdog timer (idempotent).

/** Sends one notification datagram; false if there is no $NOTIFY_SOCKET. */
export type SdNotifyFn = (message: string) => boolean;

/** Options of {@link SystemdNotifier}; everything but `sdNotify` is for tests. */
export interface SystemdNotifierOptions {
  sdNotify: SdNotifyFn;
  /** Environment to read WATCHDOG_USEC / WATCHDOG_PID from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** This process's id (default process.pid). */
  pid?: number;
  /** CLOCK_MONOTONIC in microseconds (default from process.hrtime, which is CLOCK_MONOTONIC on Linux). */
  monotonicUsec?: () => bigint;
  /** Called when a send throws (default: ignore); a notify failure must never stop the daemon. */
  onError?: (err: unknown, message: string) => void;
}

/** Keeps STATUS= to one short line (the protocol is newline-separated). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1024);
}

/**
 * Reads the watchdog interval systemd asks for: `WATCHDOG_USEC` (positive integer µs), valid
 * only when `WATCHDOG_PID` is unset or equals `pid`. Returns the interval in µs, or null.
 */
export function watchdogIntervalUsec(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usecText = env['WATCHDOG_USEC'];
  if (usecText === undefined || !/^\d+$/.test(usecText)) return null;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  const pidText = env['WATCHDOG_PID'];
  if (pidText !== undefined && pidText !== '' && Number(pidText) !== pid) return null;
  return usec;
}

/** A one-line `STATUS=` text summarising the receiver, e.g. "2 sessions, 1 receiving, 940 Mbit/s". */
export function formatStatus(s: { sessions: number; receiving: number; recvRateBps: number }): string {
  const units: [number, string][] = [
    [1e9, 'Gbit/s'],
    [1e6, 'Mbit/s'],
    [1e3, 'kbit/s'],
  ];
  let rate = `${Math.round(s.recvRateBps)} bit/s`;
  for (const [scale, unit] of units) {
    if (s.recvRateBps >= scale) {
      rate = `${(s.recvRateBps / scale).toFixed(s.recvRateBps >= scale * 100 ? 0 : 2)} ${unit}`;
      break;
    }
  }
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(s.sessions, 'session')}, ${s.receiving} receiving, ${rate}`;
}

/** sd_notify for the daemon. Methods return what the sender returned (false outside systemd). */
export class SystemdNotifier {
  private readonly send: SdNotifyFn;
  private readonly env: NodeJS.ProcessEnv;
  private readonly pid: number;
  private readonly monotonicUsec: () => bigint;
  private readonly onError: (err: unknown, message: string) => void;
  private watchdogTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: SystemdNotifierOptions) {
    this.send = opts.sdNotify;
    this.env = opts.env ?? process.env;
    this.pid = opts.pid ?? process.pid;
    this.monotonicUsec = opts.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n);
    this.onError = opts.onError ?? (() => {});
  }

  /** Sends `message` as is; false when not under systemd, after close(), or if sending threw. */
  notify(message: string): boolean {
    if (this.closed) return false;
    try {
      return this.send(message);
    } catch (err) {
      this.onError(err, message);
      return false;
    }
  }

  /** READY=1: the service is up (ports bound, state loaded), or a reload has finished. */
  ready(status?: string): boolean {
    return this.notify(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${oneLine(status)}`);
  }

  /** STATUS=<text> shown by `systemctl status`. */
  status(text: string): boolean {
    return this.notify(`STATUS=${oneLine(text)}`);
  }

  /** RELOADING=1 with MONOTONIC_USEC (as systemd ≥ 253 requires); call ready() when done. */
  reloading(): boolean {
    return this.notify(`RELOADING=1\nMONOTONIC_USEC=${this.monotonicUsec()}`);
  }

  /** STOPPING=1: shutdown has begun (systemd stops enforcing the watchdog from here). */
  stopping(): boolean {
    return this.notify('STOPPING=1');
  }

  /** EXTEND_TIMEOUT_USEC: asks for more time to start or stop (e.g. long checkpoints). */
  extendTimeout(usec: number): boolean {
    if (!Number.isSafeInteger(usec) || usec <= 0)
      throw new RangeError(`extendTimeout: expected a positive integer of microseconds, got ${usec}`);
    return this.notify(`EXTEND_TIMEOUT_USEC=${usec}`);
  }

  /** The watchdog ping interval in ms (half of WATCHDOG_USEC), or null when no watchdog applies. */
  watchdogPingMs(): number | null {
    const usec = watchdogIntervalUsec(this.env, this.pid);
    return usec === null ? null : Math.max(1, Math.floor(usec / 2000));
  }

  /**
   * Starts pinging WATCHDOG=1 at half the WATCHDOG_USEC interval, on an unref'd timer (it
   * does not keep the process alive). The pings come from the event loop, so a blocked loop
   * lets the watchdog fire. Returns true if started (or already running).
   */
  startWatchdog(): boolean {
    if (this.closed) return false;
    if (this.watchdogTimer !== null) return true;
    const everyMs = this.watchdogPingMs();
    if (everyMs === null) return false;
    this.notify('WATCHDOG=1');
    this.watchdogTimer = setInterval(() => this.notify('WATCHDOG=1'), everyMs);
    this.watchdogTimer.unref();
    return true;
  }

  /** True while watchdog pings are scheduled. */
  get watchdogRunning(): boolean {
    return this.watchdogTimer !== null;
  }

  /** Stops the watchdog timer. */
  stopWatchdog(): void {
    if (this.watchdogTimer !== null) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
  }

  /** Stops the watchdog; later notifications are dropped. Idempotent. */
  close(): void {
    this.stopWatchdog();
    this.closed = true;
  }
}
