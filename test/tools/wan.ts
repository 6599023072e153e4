// wan.ts — an emulated WAN path for tests and the bench: namespace a <-> wan-emu <-> namespace b.
// Each namespace gets a persistent TUN device `wan0` (a = 10.202.0.1, b = 10.202.0.2,
// point-to-point); build/wan-emu (test/tools/wan-emu/wan_emu.cc) attaches to both and forwards
// every IP packet through a bottleneck model: rate, drop-tail queue limit in ms, random loss,
// one-way delay per direction, optional jitter. The namespaces outlive emulator restarts, so
// one path can be re-parameterised per run with `start()`. Needs root, iproute2, /dev/net/tun
// and the built emulator; `checkWanEmulator()` says what is missing, as a skip reason.
// Counters: see WanDirStats; by hand: docs/TESTING.md "WAN emulator".
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runCommand, udpReceiveBufferErrors, type CommandResult, type Created, type PairSide } from './netns.js';

// test/tools/ when run from source; node_modules/.cache/... when compiled by load-tools.mjs.
const here = path.dirname(fileURLToPath(import.meta.url));
const cacheAt = here.indexOf(`${path.sep}node_modules${path.sep}`);
const repoRoot = cacheAt >= 0 ? here.slice(0, cacheAt) : path.resolve(here, '..', '..');
/** The emulator binary the native build makes (CMakeLists.txt target wan-emu). */
export const wanEmulatorPath = process.env.JETRECV_WAN_EMU ?? path.join(repoRoot, 'build', 'wan-emu');

const kAddressA = '10.202.0.1';
const kAddressB = '10.202.0.2';
const kDevice = 'wan0';

/** Parameters of the emulated link. Per-direction values default to the symmetric ones. */
export interface WanLinkParams {
  /** Bottleneck rate in bit/s of IP packets, both directions (0 = unlimited). Default 0. */
  rateBps?: number;
  /** Round-trip propagation delay in ms, split evenly between the directions. Default 0. */
  rttMs?: number;
  /** Random loss in percent on a->b (after the bottleneck). Default 0. */
  lossPercent?: number;
  /** Random loss in percent on b->a. Default 0. */
  lossPercentBA?: number;
  /** Drop-tail queue limit of the bottleneck in ms of link time. Default 50. */
  queueMs?: number;
  /** Extra one-way delay, uniform in [0, jitterMs], per packet. Default 0. */
  jitterMs?: number;
  /** Jittered packets may overtake each other. Default false (FIFO). */
  reorder?: boolean;
  /** Random seed of the emulator. Default 1. */
  seed?: number;
  /** Stats line period in ms (0 = only on request and at stop). Default 50. */
  statsIntervalMs?: number;
}

/** Counters of one direction of the emulator, since its start. */
export interface WanDirStats {
  rx_packets: number;
  rx_bytes: number;
  /** Bytes the bottleneck has finished sending (its output, random losses included). */
  link_bytes: number;
  /** Written to the other namespace. */
  forwarded_packets: number;
  forwarded_bytes: number;
  /** Dropped by the random loss. */
  lost_packets: number;
  /** Dropped by the full drop-tail queue. */
  queue_dropped_packets: number;
  write_errors: number;
  queue_delay_us: number;
  /** Longest wait in the bottleneck queue seen so far. */
  queue_delay_peak_us: number;
  in_flight_packets: number;
}

export interface WanStats {
  /** ms since the emulator started. */
  t_ms: number;
  final?: boolean;
  ab: WanDirStats;
  ba: WanDirStats;
}

export interface WanPathOptions {
  /** MTU of both TUN devices (default 1500). */
  mtu?: number;
  /** Prefix of the namespace names (default 'jetrecv-wan'). */
  prefix?: string;
  /** TCP buffer limits (net.ipv4.tcp_rmem/wmem max) in both namespaces. Default 128 MiB. */
  tcpBufferMax?: number;
}

export interface WanPath {
  readonly nsA: string;
  readonly nsB: string;
  readonly addressA: string;
  readonly addressB: string;
  readonly mtu: number;
  /** argv that runs `argv` inside a namespace: ['ip', 'netns', 'exec', ns, ...argv]. */
  wrap(side: PairSide, argv: string[]): string[];
  run(side: PairSide, argv: string[], timeoutMs?: number): Promise<CommandResult>;
  /** (Re)starts the emulator with `params`; its counters start at zero. */
  start(params: WanLinkParams): Promise<void>;
  /** The newest stats line (periodic or requested); null before the first. */
  latest(): WanStats | null;
  /** Calls `listener` with every stats line from now on; returns the unsubscribe function. */
  onStats(listener: (s: WanStats) => void): () => void;
  /** Asks the running emulator for its counters now (SIGUSR1). */
  stats(): Promise<WanStats>;
  /** Stops the emulator (SIGTERM) and returns its final counters; null if it was not running. */
  stop(): Promise<WanStats | null>;
  /** UDP datagrams the sockets of a namespace dropped for a full receive buffer (/proc/net/snmp RcvbufErrors). */
  udpReceiveBufferErrors(side: PairSide): Promise<number>;
  /** Packets the TUN devices dropped before the emulator read them (tx_dropped; should stay 0). */
  deviceDrops(): Promise<{ a: number; b: number }>;
  /** Stops the emulator and deletes both namespaces. Idempotent. */
  close(): Promise<void>;
}

export interface WanCheck {
  ok: boolean;
  skipReason: string | null;
}

let cachedCheck: WanCheck | undefined;
let nameCounter = 0;

/** Whether the emulated WAN can run here (root, ip, /dev/net/tun, build/wan-emu). Cached. */
export function checkWanEmulator(): WanCheck {
  cachedCheck ??= probe();
  return cachedCheck;
}

function probe(): WanCheck {
  const no = (skipReason: string): WanCheck => ({ ok: false, skipReason });
  if (process.platform !== 'linux') return no(`the WAN emulator needs Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) return no('the WAN emulator needs root (network namespaces and TUN devices); run as root to include it');
  if (!existsSync('/dev/net/tun')) return no('the WAN emulator needs /dev/net/tun (modprobe tun)');
  if (!existsSync(wanEmulatorPath)) return no(`the WAN emulator is not built (${wanEmulatorPath}); run npm run build:native`);
  return { ok: true, skipReason: null };
}

async function must(argv: string[], what: string): Promise<string> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${what} failed (${argv.join(' ')}): ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return r.stdout;
}

/** The emulator's argv for `params` (exported for the docs' example and the unit test). */
export function wanEmulatorArgs(nsA: string, nsB: string, params: WanLinkParams): string[] {
  const num = (name: string, v: number | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isFinite(v) || v < min || v > max) throw new Error(`WanLinkParams.${name} must be in [${min}, ${max}], got ${String(v)}`);
    return v;
  };
  const rate = num('rateBps', params.rateBps, 0, 1e12) ?? 0;
  const rtt = num('rttMs', params.rttMs, 0, 20000) ?? 0;
  const args = [
    '--ns-a',
    nsA,
    '--dev-a',
    kDevice,
    '--ns-b',
    nsB,
    '--dev-b',
    kDevice,
    '--rate',
    String(Math.round(rate)),
    '--delay',
    String(rtt / 2),
    '--loss-ab',
    String(num('lossPercent', params.lossPercent, 0, 100) ?? 0),
    '--loss-ba',
    String(num('lossPercentBA', params.lossPercentBA, 0, 100) ?? 0),
    '--queue-ms',
    String(num('queueMs', params.queueMs, 0, 10000) ?? 50),
    '--jitter',
    String(num('jitterMs', params.jitterMs, 0, 10000) ?? 0),
    '--seed',
    String(num('seed', params.seed, 0, 2 ** 48) ?? 1),
    '--stats-interval-ms',
    String(num('statsIntervalMs', params.statsIntervalMs, 0, 3_600_000) ?? 50),
  ];
  if (params.reorder) args.push('--reorder');
  return args;
}

interface RunningEmulator {
  child: ChildProcess;
  stderr: string;
  exited: Promise<void>;
  waiters: ((s: WanStats) => void)[];
}

/**
 * Creates namespaces a and b, each with a TUN device `wan0` (a = 10.202.0.1, b = 10.202.0.2)
 * of `mtu`, and `lo` up. No emulator runs yet: call `start(params)`. Returns a skip reason
 * instead when the host cannot do it.
 */
export async function createWanPath(options: WanPathOptions = {}): Promise<Created<WanPath>> {
  const check = checkWanEmulator();
  if (!check.ok) return { value: null, skipReason: check.skipReason! };
  const mtu = options.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) throw new Error(`createWanPath: mtu must be 1280..65535, got ${String(mtu)}`);
  const prefix = options.prefix ?? 'jetrecv-wan';
  nameCounter++;
  const nsA = `${prefix}-${process.pid}-${nameCounter}a`;
  const nsB = `${prefix}-${process.pid}-${nameCounter}b`;
  const tcpMax = options.tcpBufferMax ?? 128 << 20;
  const created: string[] = [];
  const deleteNamespaces = async () => {
    for (const ns of created.splice(0)) await runCommand(['ip', 'netns', 'del', ns]);
  };
  try {
    for (const [ns, local, peer] of [
      [nsA, kAddressA, kAddressB],
      [nsB, kAddressB, kAddressA],
    ] as const) {
      await must(['ip', 'netns', 'add', ns], 'ip netns add');
      created.push(ns);
      await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], 'lo up');
      await must(['ip', '-n', ns, 'tuntap', 'add', 'dev', kDevice, 'mode', 'tun'], 'ip tuntap add');
      // IPv4 only: no IPv6 router solicitations or MLD reports in the counters.
      await must(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${kDevice}.disable_ipv6=1`], 'disable IPv6');
      // A long device queue: the emulator reads in batches; its own queue is the bottleneck.
      await must(['ip', '-n', ns, 'link', 'set', kDevice, 'mtu', String(mtu), 'txqueuelen', '10000', 'up'], 'tun up');
      await must(['ip', '-n', ns, 'addr', 'add', local, 'peer', `${peer}/32`, 'dev', kDevice], 'ip addr add');
      const buf = `4096 131072 ${tcpMax}`;
      await must(
        ['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv4.tcp_rmem=${buf}`, `net.ipv4.tcp_wmem=${buf}`],
        'sysctl tcp buffers',
      );
    }
  } catch (err) {
    await deleteNamespaces();
    throw err;
  }

  let emu: RunningEmulator | null = null;
  let last: WanStats | null = null;
  const listeners = new Set<(s: WanStats) => void>();
  let closing: Promise<void> | undefined;
  const nsOf = (side: PairSide) => (side === 'a' ? nsA : nsB);

  const stopEmulator = async (): Promise<WanStats | null> => {
    const e = emu;
    if (!e) return null;
    emu = null;
    e.child.kill('SIGTERM');
    const timer = setTimeout(() => e.child.kill('SIGKILL'), 5000);
    await e.exited; // stdout is drained by then: the final line is in `last`
    clearTimeout(timer);
    return last?.final ? last : null;
  };

  const path: WanPath = {
    nsA,
    nsB,
    addressA: kAddressA,
    addressB: kAddressB,
    mtu,
    wrap: (side, argv) => ['ip', 'netns', 'exec', nsOf(side), ...argv],
    run: (side, argv, timeoutMs) => runCommand(['ip', 'netns', 'exec', nsOf(side), ...argv], timeoutMs),
    async start(params) {
      await stopEmulator();
      last = null;
      const child = spawn(wanEmulatorPath, wanEmulatorArgs(nsA, nsB, params), { stdio: ['ignore', 'pipe', 'pipe'] });
      const e: RunningEmulator = {
        child,
        stderr: '',
        waiters: [],
        exited: new Promise((resolve) => child.on('close', () => resolve())),
      };
      child.on('error', (err) => (e.stderr += err.message));
      child.stderr!.on('data', (d: Buffer) => (e.stderr += d.toString()));
      let readyResolve!: () => void;
      const ready = new Promise<void>((resolve) => (readyResolve = resolve));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if ((msg as { ready?: boolean }).ready) return readyResolve();
        const s = msg as WanStats;
        last = s;
        for (const l of listeners) l(s);
        for (const w of e.waiters.splice(0)) w(s);
      });
      emu = e;
      const outcome = await Promise.race([
        ready.then(() => 'ready'),
        e.exited.then(() => 'exited'),
        new Promise((r) => setTimeout(() => r('timeout'), 10_000)),
      ]);
      if (outcome !== 'ready') {
        emu = null;
        child.kill('SIGKILL');
        throw new Error(`wan-emu did not start (${String(outcome)}): ${e.stderr.trim()}`);
      }
    },
    latest: () => last,
    onStats(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stats() {
      const e = emu;
      if (!e) return Promise.reject(new Error('wan-emu is not running'));
      return new Promise((resolve) => {
        e.waiters.push(resolve);
        e.child.kill('SIGUSR1');
      });
    },
    stop: stopEmulator,
    udpReceiveBufferErrors(side) {
      return udpReceiveBufferErrors(nsOf(side));
    },
    async deviceDrops() {
      const read = async (ns: string) =>
        Number(
          (await must(['ip', 'netns', 'exec', ns, 'cat', `/sys/class/net/${kDevice}/statistics/tx_dropped`], 'read tx_dropped')).trim(),
        );
      return { a: await read(nsA), b: await read(nsB) };
    },
    close() {
      closing ??= (async () => {
        await stopEmulator();
        await deleteNamespaces();
      })();
      return closing;
    },
  };
  return { value: path, skipReason: null };
}
