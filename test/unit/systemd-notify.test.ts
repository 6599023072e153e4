import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatStatus, SystemdNotifier, watchdogIntervalUsec, type SdNotifyFn } from '../../src/ops/systemd-notify.js';

/** A fake of the addon's sdNotify: records messages; `underSystemd` decides the return value. */
function fakeSdNotify(underSystemd = true): SdNotifyFn & { messages: string[] } {
  const messages: string[] = [];
  const fn = ((message: string) => {
    messages.push(message);
    return underSystemd;
  }) as SdNotifyFn & { messages: string[] };
  fn.messages = messages;
  return fn;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SystemdNotifier messages', () => {
  it('sends READY, STATUS, RELOADING with MONOTONIC_USEC, STOPPING and EXTEND_TIMEOUT_USEC', () => {
    const sd = fakeSdNotify();
    const n = new SystemdNotifier({ sdNotify: sd, env: {}, monotonicUsec: () => 123_456_789n });
    expect(n.ready()).toBe(true);
    expect(n.ready('listening')).toBe(true);
    expect(n.status('2 sessions,\n1 receiving')).toBe(true);
    expect(n.reloading()).toBe(true);
    expect(n.stopping()).toBe(true);
    expect(n.extendTimeout(5_000_000)).toBe(true);
    expect(sd.messages).toEqual([
      'READY=1',
      'READY=1\nSTATUS=listening',
      'STATUS=2 sessions, 1 receiving',
      'RELOADING=1\nMONOTONIC_USEC=123456789',
      'STOPPING=1',
      'EXTEND_TIMEOUT_USEC=5000000',
    ]);
    expect(() => n.extendTimeout(0)).toThrow(/positive integer of microseconds, got 0/);
  });

  it('uses CLOCK_MONOTONIC microseconds by default', () => {
    const sd = fakeSdNotify();
    const before = process.hrtime.bigint() / 1000n;
    new SystemdNotifier({ sdNotify: sd, env: {} }).reloading();
    const after = process.hrtime.bigint() / 1000n;
    const usec = BigInt(/MONOTONIC_USEC=(\d+)$/.exec(sd.messages[0] as string)?.[1] ?? '-1');
    expect(usec >= before && usec <= after).toBe(true);
  });

  it('returns false outside systemd and when sending throws, never throwing itself', () => {
    expect(new SystemdNotifier({ sdNotify: fakeSdNotify(false), env: {} }).ready()).toBe(false);
    const errors: string[] = [];
    const n = new SystemdNotifier({
      sdNotify: () => {
        throw new Error('EAGAIN');
      },
      env: {},
      onError: (err, message) => errors.push(`${(err as Error).message}:${message}`),
    });
    expect(n.status('x')).toBe(false);
    expect(errors).toEqual(['EAGAIN:STATUS=x']);
  });

  it('sends nothing after close()', () => {
    const sd = fakeSdNotify();
    const n = new SystemdNotifier({ sdNotify: sd, env: {} });
    n.close();
    n.close();
    expect(n.ready()).toBe(false);
    expect(sd.messages).toEqual([]);
  });
});

describe('watchdog', () => {
  it('reads WATCHDOG_USEC and honours WATCHDOG_PID', () => {
    expect(watchdogIntervalUsec({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000_000);
    expect(watchdogIntervalUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000_000);
    expect(watchdogIntervalUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42)).toBeNull();
    expect(watchdogIntervalUsec({}, 42)).toBeNull();
    expect(watchdogIntervalUsec({ WATCHDOG_USEC: '0' }, 42)).toBeNull();
    expect(watchdogIntervalUsec({ WATCHDOG_USEC: '-5' }, 42)).toBeNull();
    expect(watchdogIntervalUsec({ WATCHDOG_USEC: '1e6' }, 42)).toBeNull();
  });

  it('pings WATCHDOG=1 at half the interval until closed', () => {
    vi.useFakeTimers();
    const sd = fakeSdNotify();
    const n = new SystemdNotifier({ sdNotify: sd, env: { WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, pid: 7 });
    expect(n.watchdogPingMs()).toBe(15_000);
    expect(n.startWatchdog()).toBe(true);
    expect(n.startWatchdog()).toBe(true); // already running: no second timer
    expect(sd.messages).toEqual(['WATCHDOG=1']); // one ping at once
    vi.advanceTimersByTime(14_999);
    expect(sd.messages).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sd.messages).toHaveLength(2);
    vi.advanceTimersByTime(45_000);
    expect(sd.messages).toHaveLength(5);
    expect(sd.messages.every((m) => m === 'WATCHDOG=1')).toBe(true);
    n.close();
    expect(n.watchdogRunning).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(sd.messages).toHaveLength(5);
    expect(n.startWatchdog()).toBe(false); // closed
  });

  it('does not start without WATCHDOG_USEC or for another pid', () => {
    const sd = fakeSdNotify();
    expect(new SystemdNotifier({ sdNotify: sd, env: {} }).startWatchdog()).toBe(false);
    expect(new SystemdNotifier({ sdNotify: sd, env: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' }, pid: 2 }).startWatchdog()).toBe(false);
    expect(sd.messages).toEqual([]);
  });

  it("uses an unref'd timer so it never keeps the process alive", () => {
    const sd = fakeSdNotify();
    const n = new SystemdNotifier({ sdNotify: sd, env: { WATCHDOG_USEC: '2000000' } });
    n.startWatchdog();
    const timer = (n as unknown as { watchdogTimer: NodeJS.Timeout }).watchdogTimer;
    expect(timer.hasRef()).toBe(false);
    n.stopWatchdog();
    expect(n.watchdogRunning).toBe(false);
  });
});

describe('formatStatus', () => {
  it('summarises sessions, transfers and rate on one line', () => {
    expect(formatStatus({ sessions: 1, receiving: 0, recvRateBps: 0 })).toBe('1 session, 0 receiving, 0 bit/s');
    expect(formatStatus({ sessions: 3, receiving: 2, recvRateBps: 9.41e9 })).toBe('3 sessions, 2 receiving, 9.41 Gbit/s');
    expect(formatStatus({ sessions: 2, receiving: 1, recvRateBps: 940e6 })).toBe('2 sessions, 1 receiving, 940 Mbit/s');
    expect(formatStatus({ sessions: 2, receiving: 1, recvRateBps: 12_500 })).toBe('2 sessions, 1 receiving, 12.50 kbit/s');
  });
});
