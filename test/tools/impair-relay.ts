// impair-relay.ts — a UDP relay on loopback that drops, reorders, duplicates, delays and
// corrupts datagrams between clients and one server, for loss-recovery tests and benches.
// Clients send to the relay's port; each client source address gets its own upstream
// socket (its own source port toward the server), so lanes and senders stay distinct and
// replies find their way back. Decisions come from seeded PRNG streams per direction and
// per kind of impairment, indexed by packet: the same seed and settings give the same
// decisions for the same packet sequence. Single-threaded: everything runs on the event
// loop of the process that starts it. A datagram that is not held back is decided and sent
// inside its 'message' callback (no timer, no copy unless corrupted); held-back datagrams
// share one timer armed for the earliest due time. Run it in its own process (the CLI) when
// the traffic is heavy: it forwards a few hundred Mbit/s of 1472-byte datagrams.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';

/** Which way a datagram travels through the relay. */
export type Direction = 'toServer' | 'toClient';
export const kDirections: readonly Direction[] = ['toServer', 'toClient'];

/** What happens to the datagrams of one direction. Probabilities are in [0, 1]. */
export interface ImpairmentSpec {
  /** Probability that a datagram is dropped. */
  drop: number;
  /** Probability that a datagram is held back `reorderDelayMs` so later ones overtake it. */
  reorder: number;
  /** How long a reordered datagram is held back (ms, > 0). */
  reorderDelayMs: number;
  /** Probability that a datagram is sent twice. */
  duplicate: number;
  /** Fixed delay added to every datagram (ms). 0 forwards at once, without timers. */
  delayMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per datagram (ms); reorders too. */
  jitterMs: number;
  /** Probability that one byte of a datagram is flipped (XOR with a non-zero value). */
  corrupt: number;
}

/** Settings for both directions at once, or for one of them (which wins). */
export type ImpairmentUpdate = Partial<ImpairmentSpec> & {
  toServer?: Partial<ImpairmentSpec>;
  toClient?: Partial<ImpairmentSpec>;
};

/**
 * Decides, before any random impairment, that a datagram is dropped. `index` counts the
 * datagrams received in that direction from 0 (all clients together).
 */
export type DropRule = (dir: Direction, packet: Buffer, index: number) => boolean;

export interface ImpairRelayOptions extends ImpairmentUpdate {
  /** The server every client's datagrams are relayed to. */
  target: { host: string; port: number };
  /** Address the client-facing socket binds to (default 127.0.0.1). */
  listenHost?: string;
  /** Client-facing port (default 0: any free port; read it from `port`). */
  listenPort?: number;
  /** PRNG seed (u32). The same seed gives the same decisions. Default 1. */
  seed?: number;
  dropIf?: DropRule;
  /** SO_RCVBUF/SO_SNDBUF asked for on every relay socket (default 8 MiB; capped by rmem_max). */
  socketBufferBytes?: number;
}

/** What the relay did in one direction. */
export interface DirectionStats {
  /** Datagrams that arrived at the relay. */
  received: number;
  /** Datagrams sent on (duplicates included). */
  forwarded: number;
  bytesForwarded: number;
  /** Dropped at random (`drop`). */
  dropped: number;
  /** Dropped because `dropIf` said so. */
  droppedByRule: number;
  /** Extra copies sent. */
  duplicated: number;
  /** Held back to be overtaken (`reorder`). */
  reordered: number;
  /** Sent with one byte flipped. */
  corrupted: number;
  /** Held in the delay queue (delayMs, jitterMs or reorder) before being sent. */
  delayed: number;
}

export interface RelayStats {
  toServer: DirectionStats;
  toClient: DirectionStats;
  /** Client source addresses seen (each has its own upstream socket). */
  clients: number;
  /** Datagrams held in the delay queue right now. */
  queued: number;
  /**
   * Kernel receive-buffer drops on the relay's own sockets (from /proc/net/udp[6]); these are
   * losses the relay did not choose. null when /proc is not readable.
   */
  socketDrops: number | null;
}

export interface ImpairRelay {
  /** The client-facing UDP port. */
  readonly port: number;
  readonly host: string;
  stats(): RelayStats;
  /** Changes impairments from now on; fields not given keep their value. */
  setImpairment(update: ImpairmentUpdate): void;
  /** The settings in force. */
  impairment(): Record<Direction, ImpairmentSpec>;
  /** Closes every socket and discards held datagrams. Idempotent. */
  close(): Promise<void>;
}

const kNoImpairment: ImpairmentSpec = {
  drop: 0,
  reorder: 0,
  reorderDelayMs: 2,
  duplicate: 0,
  delayMs: 0,
  jitterMs: 0,
  corrupt: 0,
};
const kProbabilityFields = ['drop', 'reorder', 'duplicate', 'corrupt'] as const;
const kDelayFields = ['reorderDelayMs', 'delayMs', 'jitterMs'] as const;
const kSpecFields: ReadonlySet<string> = new Set([...kProbabilityFields, ...kDelayFields]);

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stream numbers of the PRNGs; each (direction, kind) has its own stream. */
const enum Stream {
  Drop = 0,
  Duplicate = 1,
  Corrupt = 2,
  CorruptPosition = 3,
  Reorder = 4,
  Jitter = 5,
}
const kStreamCount = 6;

/**
 * The seed of one PRNG stream. Exported so tests can predict decisions: packet i of a
 * direction is dropped iff the i-th draw of `mulberry32(streamSeed(seed, dir, 'drop'))`
 * is below `drop`.
 */
export function streamSeed(seed: number, dir: Direction, kind: 'drop' | 'duplicate' | 'corrupt' | 'reorder'): number {
  const stream = { drop: Stream.Drop, duplicate: Stream.Duplicate, corrupt: Stream.Corrupt, reorder: Stream.Reorder }[kind];
  return mixSeed(seed, dir, stream);
}

function mixSeed(seed: number, dir: Direction, stream: number): number {
  // splitmix-style scramble so neighbouring seeds give unrelated streams
  let z = (seed >>> 0) ^ Math.imul(dir === 'toServer' ? 1 : 2, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d);
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Checks an impairment update; throws an Error naming the bad field. */
export function validateImpairment(update: ImpairmentUpdate, where = 'impairment'): void {
  const check = (spec: Partial<ImpairmentSpec>, prefix: string) => {
    for (const [key, value] of Object.entries(spec)) {
      if ((key === 'toServer' || key === 'toClient') && prefix === '') continue;
      if (!kSpecFields.has(key)) throw new Error(`${where}: unknown field '${prefix}${key}'`);
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Error(`${where}: ${prefix}${key} must be a finite number, got ${String(value)}`);
      }
      if ((kProbabilityFields as readonly string[]).includes(key) && (value < 0 || value > 1)) {
        throw new Error(`${where}: ${prefix}${key} is a probability in [0, 1], got ${value}`);
      }
      if ((kDelayFields as readonly string[]).includes(key) && (value < 0 || value > 60_000)) {
        throw new Error(`${where}: ${prefix}${key} must be 0..60000 ms, got ${value}`);
      }
      if (key === 'reorderDelayMs' && value === 0) {
        throw new Error(`${where}: ${prefix}reorderDelayMs must be > 0 (a reordered datagram must wait for others)`);
      }
    }
  };
  check(update, '');
  for (const dir of kDirections) {
    const v = update[dir];
    if (v !== undefined && (typeof v !== 'object' || v === null)) throw new Error(`${where}: ${dir} must be an object, got ${String(v)}`);
  }
  if (update.toServer !== undefined) check(update.toServer, 'toServer.');
  if (update.toClient !== undefined) check(update.toClient, 'toClient.');
}

function pickSpec(update: ImpairmentUpdate): Partial<ImpairmentSpec> {
  const out: Partial<ImpairmentSpec> = {};
  for (const key of kSpecFields) {
    const v = (update as Record<string, unknown>)[key];
    if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  }
  return out;
}

interface Upstream {
  socket: dgram.Socket;
  clientAddress: string;
  clientPort: number;
  /** Datagrams to the server waiting for connect() to finish; null once connected. */
  pending: Buffer[] | null;
}

/** A datagram waiting in the delay queue. */
interface Held {
  due: number; // performance.now() ms
  seq: number; // tie-break: equal due times leave in arrival order
  dir: Direction;
  packet: Buffer;
  upstream: Upstream;
}

/** Binary min-heap on (due, seq). */
class HeldQueue {
  private readonly items: Held[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Held | undefined {
    return this.items[0];
  }
  push(h: Held): void {
    const a = this.items;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Held | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.items.length = 0;
  }
}

function before(x: Held, y: Held): boolean {
  return x.due < y.due || (x.due === y.due && x.seq < y.seq);
}

function emptyStats(): DirectionStats {
  return {
    received: 0,
    forwarded: 0,
    bytesForwarded: 0,
    dropped: 0,
    droppedByRule: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    delayed: 0,
  };
}

function bindSocket(socket: dgram.Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/** Sum of the `drops` column of /proc/net/udp[6] for the given local ports; null if unreadable. */
export function readUdpSocketDrops(ports: ReadonlySet<number>): number | null {
  let total = 0;
  let readAny = false;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13) continue;
      const local = cols[1]!;
      const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (ports.has(port)) total += Number(cols[cols.length - 1]);
    }
  }
  return readAny ? total : null;
}

/**
 * Starts a relay: clients send to `127.0.0.1:<relay.port>`, the relay sends on to `target`
 * from one upstream socket per client, and relays the server's replies back to that client.
 * Options at the top level apply to both directions; `toServer`/`toClient` override them.
 */
export async function startImpairRelay(options: ImpairRelayOptions): Promise<ImpairRelay> {
  const { target } = options;
  if (!target || typeof target.host !== 'string' || target.host === '') {
    throw new Error(`impair relay: target.host must be an address, got ${JSON.stringify(target?.host)}`);
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new Error(`impair relay: target.port must be 1-65535, got ${String(target.port)}`);
  }
  const listenHost = options.listenHost ?? '127.0.0.1';
  const listenPort = options.listenPort ?? 0;
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) {
    throw new Error(`impair relay: listenPort must be 0-65535, got ${String(listenPort)}`);
  }
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed)) throw new Error(`impair relay: seed must be an integer, got ${String(seed)}`);
  const bufferBytes = options.socketBufferBytes ?? 8 << 20;
  if (!Number.isInteger(bufferBytes) || bufferBytes < 4096) {
    throw new Error(`impair relay: socketBufferBytes must be an integer >= 4096, got ${String(bufferBytes)}`);
  }
  const initial: ImpairmentUpdate = { ...pickSpec(options), toServer: options.toServer, toClient: options.toClient };
  validateImpairment(initial, 'impair relay');
  const dropIf = options.dropIf;

  const specs: Record<Direction, ImpairmentSpec> = {
    toServer: { ...kNoImpairment, ...pickSpec(options), ...(options.toServer ?? {}) },
    toClient: { ...kNoImpairment, ...pickSpec(options), ...(options.toClient ?? {}) },
  };
  const stats: Record<Direction, DirectionStats> = { toServer: emptyStats(), toClient: emptyStats() };
  const rng: Record<Direction, (() => number)[]> = {
    toServer: Array.from({ length: kStreamCount }, (_, s) => mulberry32(mixSeed(seed, 'toServer', s))),
    toClient: Array.from({ length: kStreamCount }, (_, s) => mulberry32(mixSeed(seed, 'toClient', s))),
  };

  const udpType = isIPv6(listenHost) ? 'udp6' : 'udp4';
  const upstreamType = isIPv6(target.host) ? 'udp6' : 'udp4';
  const upstreamBind = upstreamType === 'udp6' ? '::1' : '127.0.0.1';
  const socketOpts = { recvBufferSize: bufferBytes, sendBufferSize: bufferBytes };
  const listener = dgram.createSocket({ type: udpType, ...socketOpts });
  const upstreams = new Map<string, Upstream>();
  const ownPorts = new Set<number>();
  const held = new HeldQueue();
  let heldSeq = 0;
  let timer: NodeJS.Timeout | undefined;
  let timerDue = Infinity;
  let closed = false;
  let closing: Promise<void> | undefined;

  listener.on('error', () => {
    /* send errors (e.g. ICMP port unreachable) are not fatal for a relay */
  });
  await bindSocket(listener, listenPort, listenHost);
  const port = listener.address().port;
  ownPorts.add(port);

  function send(dir: Direction, packet: Buffer, up: Upstream): void {
    if (closed) return;
    const st = stats[dir];
    st.forwarded++;
    st.bytesForwarded += packet.length;
    if (dir === 'toServer') {
      if (up.pending !== null) up.pending.push(packet);
      else up.socket.send(packet);
    } else listener.send(packet, up.clientPort, up.clientAddress);
  }

  function armTimer(): void {
    const next = held.peek();
    if (next === undefined || closed) return;
    if (timer !== undefined && timerDue <= next.due) return;
    if (timer !== undefined) clearTimeout(timer);
    timerDue = next.due;
    timer = setTimeout(releaseDue, Math.max(0, next.due - performance.now()));
  }

  // One timer for the whole queue: it releases every datagram that is due, then re-arms.
  function releaseDue(): void {
    timer = undefined;
    timerDue = Infinity;
    const now = performance.now();
    for (let h = held.peek(); h !== undefined && h.due <= now + 0.5; h = held.peek()) {
      held.pop();
      send(h.dir, h.packet, h.upstream);
    }
    armTimer();
  }

  function flipOneByte(packet: Buffer, r: () => number): Buffer {
    const copy = Buffer.from(packet);
    if (copy.length === 0) return copy;
    const pos = Math.floor(r() * copy.length);
    const mask = 1 + Math.floor(r() * 255); // 1..255: always changes the byte
    copy[pos] = copy[pos]! ^ mask;
    return copy;
  }

  // The whole per-datagram policy. The drop, duplicate, corrupt, reorder and jitter streams
  // are drawn once per datagram whatever the settings, so decision i depends only on
  // (seed, direction, i); the corrupt-position stream advances once per corrupted datagram.
  function handle(dir: Direction, packet: Buffer, up: Upstream): void {
    const st = stats[dir];
    const index = st.received++;
    const r = rng[dir];
    const rDrop = r[Stream.Drop]!();
    const rDup = r[Stream.Duplicate]!();
    const rCorrupt = r[Stream.Corrupt]!();
    const rCorruptPos = r[Stream.CorruptPosition]!;
    const rReorder = r[Stream.Reorder]!();
    const rJitter = r[Stream.Jitter]!();
    const spec = specs[dir];
    if (dropIf !== undefined && dropIf(dir, packet, index)) {
      st.droppedByRule++;
      return;
    }
    if (rDrop < spec.drop) {
      st.dropped++;
      return;
    }
    let out = packet;
    if (rCorrupt < spec.corrupt) {
      out = flipOneByte(packet, rCorruptPos);
      st.corrupted++;
    }
    const copies = rDup < spec.duplicate ? 2 : 1;
    if (copies === 2) st.duplicated++;
    let wait = spec.delayMs + (spec.jitterMs > 0 ? rJitter * spec.jitterMs : 0);
    if (rReorder < spec.reorder) {
      wait += spec.reorderDelayMs;
      st.reordered++;
    }
    if (wait <= 0) {
      send(dir, out, up);
      if (copies === 2) send(dir, out, up);
      return;
    }
    st.delayed++;
    const due = performance.now() + wait;
    for (let c = 0; c < copies; c++) held.push({ due, seq: heldSeq++, dir, packet: out, upstream: up });
    armTimer();
  }

  function upstreamFor(address: string, clientPort: number): Upstream {
    const key = `${address}|${clientPort}`;
    let up = upstreams.get(key);
    if (up !== undefined) return up;
    const socket = dgram.createSocket({ type: upstreamType, ...socketOpts });
    up = { socket, clientAddress: address, clientPort, pending: [] };
    const self = up;
    socket.on('error', () => {
      /* ICMP errors from the server side are not fatal */
    });
    socket.on('message', (msg) => handle('toClient', msg, self));
    // A connected socket sends without a per-datagram lookup and hears only the target.
    // dgram rejects address-less sends until connect() finishes, so they wait in `pending`.
    socket.bind(0, upstreamBind);
    socket.connect(target.port, target.host, () => {
      if (closed) return;
      ownPorts.add(socket.address().port);
      const queued = self.pending ?? [];
      self.pending = null;
      for (const p of queued) socket.send(p);
    });
    upstreams.set(key, up);
    return up;
  }

  listener.on('message', (msg, rinfo) => {
    if (closed) return;
    handle('toServer', msg, upstreamFor(rinfo.address, rinfo.port));
  });

  return {
    port,
    host: listenHost,
    stats(): RelayStats {
      return {
        toServer: { ...stats.toServer },
        toClient: { ...stats.toClient },
        clients: upstreams.size,
        queued: held.size,
        socketDrops: readUdpSocketDrops(ownPorts),
      };
    },
    setImpairment(update: ImpairmentUpdate): void {
      validateImpairment(update, 'setImpairment');
      const both = pickSpec(update);
      for (const dir of kDirections) specs[dir] = { ...specs[dir], ...both, ...(update[dir] ?? {}) };
    },
    impairment() {
      return { toServer: { ...specs.toServer }, toClient: { ...specs.toClient } };
    },
    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        if (timer !== undefined) clearTimeout(timer);
        held.clear();
        const sockets = [listener, ...[...upstreams.values()].map((u) => u.socket)];
        upstreams.clear();
        await Promise.all(
          sockets.map(
            (s) =>
              new Promise<void>((resolve) => {
                try {
                  s.close(() => resolve());
                } catch {
                  resolve(); // already closed
                }
              }),
          ),
        );
      })();
      return closing;
    },
  };
}
