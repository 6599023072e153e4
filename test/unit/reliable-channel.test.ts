import { describe, expect, it } from 'vitest';
import { ReliableChannel, type ChannelTimers, type ReliableChannelOptions } from '../../src/control/reliable-channel.js';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/proto/control.js';

/** Deterministic discrete-event clock: timers run in time order, without real waiting. */
class VirtualClock implements ChannelTimers {
  time = 0;
  private nextId = 1;
  private heap: { at: number; id: number; fn: () => void }[] = [];
  private cancelled = new Set<number>();

  readonly now = (): number => this.time;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.heap.push({ at: this.time + Math.max(0, ms), id, fn });
    this.siftUp(this.heap.length - 1);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.cancelled.add(handle as number);
  }

  /** Runs events until `until` (virtual ms) or until no event is left; returns events run. */
  run(until: number, stop: () => boolean = () => false): number {
    let ran = 0;
    while (this.heap.length > 0 && !stop()) {
      const top = this.heap[0]!;
      if (top.at > until) break;
      this.pop();
      if (this.cancelled.delete(top.id)) continue;
      this.time = Math.max(this.time, top.at);
      top.fn();
      ran++;
    }
    if (!stop()) this.time = Math.max(this.time, until);
    return ran;
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.id < y.id);
  }
  private swap(a: number, b: number): void {
    [this.heap[a], this.heap[b]] = [this.heap[b]!, this.heap[a]!];
  }
  private siftUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.heap.length && this.less(l, m)) m = l;
      if (r < this.heap.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

/** mulberry32: small seeded PRNG so every run sees the same losses. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface LinkStats {
  sent: number;
  dropped: number;
  duplicated: number;
  maxPayload: number;
}

/**
 * A lossy datagram link: each payload is dropped with probability `loss`, duplicated with
 * probability `dup`, and delayed by 1..4 ms of jitter (so datagrams overtake each other).
 */
function lossyLink(clock: VirtualClock, random: () => number, loss: number, dup: number) {
  const stats: LinkStats = { sent: 0, dropped: 0, duplicated: 0, maxPayload: 0 };
  let target: ((p: Uint8Array) => void) | undefined;
  const send = (payload: Uint8Array): void => {
    stats.sent++;
    stats.maxPayload = Math.max(stats.maxPayload, payload.length);
    if (random() < loss) {
      stats.dropped++;
      return;
    }
    const copies = random() < dup ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const copy = payload.slice();
      clock.setTimeout(() => target?.(copy), 1 + random() * 3);
    }
  };
  return { send, stats, connect: (to: (p: Uint8Array) => void) => (target = to) };
}

function randomMessage(random: () => number, maxBytes: number): Uint8Array {
  // half uniform, half log-uniform in 1 B .. maxBytes: bulk plus many tiny messages
  const size = random() < 0.5 ? 1 + Math.floor(random() * maxBytes) : Math.max(1, Math.floor(Math.exp(random() * Math.log(maxBytes))));
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = random() * 2 ** 32;
  return new Uint8Array(words.buffer, 0, size);
}

function pair(clock: VirtualClock, seed: number, loss: number, dup = 0.05, extra: Partial<ReliableChannelOptions> = {}) {
  const random = prng(seed);
  const ab = lossyLink(clock, random, loss, dup);
  const ba = lossyLink(clock, random, loss, dup);
  const got = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  const dead: string[] = [];
  const common = { now: clock.now, timers: clock, onDead: (r: string) => dead.push(r), ...extra };
  const a = new ReliableChannel({ ...common, send: ab.send, onMessage: (m) => got.a.push(m) });
  const b = new ReliableChannel({ ...common, send: ba.send, onMessage: (m) => got.b.push(m) });
  ab.connect((p) => b.receive(p));
  ba.connect((p) => a.receive(p));
  return { a, b, got, dead, links: { ab: ab.stats, ba: ba.stats }, random };
}

function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(y.buffer, y.byteOffset, y.length));
}

describe('ReliableChannel over a lossy, reordering, duplicating link', () => {
  it.each([
    [0, 11],
    [0.1, 12],
    [0.3, 13],
  ])('delivers 200 messages (1 B .. 300 KB) intact and in order at %d loss', (loss, seed) => {
    const clock = new VirtualClock();
    const { a, b, got, dead, links, random } = pair(clock, seed, loss);
    const aToB = Array.from({ length: 200 }, () => randomMessage(random, 300 * 1024));
    const bToA = Array.from({ length: 40 }, () => randomMessage(random, 20 * 1024));
    for (const m of aToB) a.sendMessage(m);
    for (const m of bToA) b.sendMessage(m); // traffic both ways exercises piggybacked acks

    clock.run(600_000, () => got.b.length === aToB.length && got.a.length === bToA.length);

    expect(dead).toEqual([]);
    expect(got.b.length).toBe(aToB.length);
    expect(got.a.length).toBe(bToA.length);
    aToB.forEach((m, i) => expect(sameBytes(got.b[i]!, m), `a->b message ${i}`).toBe(true));
    bToA.forEach((m, i) => expect(sameBytes(got.a[i]!, m), `b->a message ${i}`).toBe(true));
    // Let the final acks land: nothing may stay in flight.
    clock.run(clock.time + 10_000);
    expect(a.stats().inFlight).toBe(0);
    expect(b.stats().inFlight).toBe(0);
    expect(links.ab.maxPayload).toBeLessThanOrEqual(1200);
    expect(links.ba.maxPayload).toBeLessThanOrEqual(1200);
    const sa = a.stats();
    const sb = b.stats();
    expect(sb.messagesDelivered).toBe(200);
    expect(sa.srttMs).not.toBeNull();
    if (loss > 0) {
      expect(links.ab.dropped).toBeGreaterThan(0);
      expect(sa.retransmitted).toBeGreaterThan(0);
    } else {
      // Only reordering-induced resends, kept low by the adaptive reordering window.
      expect(sa.retransmitted).toBeLessThan(sa.sent * 0.1); // only reordering-induced resends
    }
    expect(sb.duplicates).toBeGreaterThan(0); // the link duplicates
    // The receiver drops nothing for being out of window: the sender honours the window.
    expect(sb.outOfWindow).toBe(0);
    a.close();
    b.close();
  });

  it('delivers empty messages and messages of exactly one and two fragments', () => {
    const clock = new VirtualClock();
    const { a, got } = pair(clock, 5, 0.2);
    const sizes = [0, 1, 1152, 1153, 2304, 0];
    const msgs = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
    for (const m of msgs) a.sendMessage(m);
    clock.run(60_000, () => got.b.length === msgs.length);
    expect(got.b.map((m) => m.length)).toEqual(sizes);
    msgs.forEach((m, i) => expect(sameBytes(got.b[i]!, m)).toBe(true));
  });

  it('whenIdle resolves once everything is acked', async () => {
    const clock = new VirtualClock();
    const { a, got } = pair(clock, 9, 0.3);
    a.sendMessage(new Uint8Array(50_000));
    let idle = false;
    const p = a.whenIdle().then(() => (idle = true));
    clock.run(60_000, () => a.stats().inFlight === 0 && a.stats().queued === 0);
    await p;
    expect(idle).toBe(true);
    expect(got.b.length).toBe(1);
  });
});

describe('ReliableChannel flow control and acks', () => {
  function lonely(extra: Partial<ReliableChannelOptions> = {}) {
    const clock = new VirtualClock();
    const sent: Uint8Array[] = [];
    const dead: string[] = [];
    const ch = new ReliableChannel({
      send: (p) => sent.push(p),
      onMessage: () => {},
      onDead: (r) => dead.push(r),
      now: clock.now,
      timers: clock,
      ...extra,
    });
    return { clock, sent, dead, ch };
  }

  it('never has more than windowFragments unacked fragments in flight', () => {
    const { ch, sent, clock } = lonely({ windowFragments: 16 });
    ch.sendMessage(new Uint8Array(100_000)); // 87 fragments
    expect(sent.length).toBe(16);
    expect(ch.stats().inFlight).toBe(16);
    expect(ch.stats().queued).toBe(1);
    clock.run(1000); // retransmissions only: still the same 16 seqs
    const seqs = new Set(sent.map((p) => decodeEnvelope(p).seq));
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    // A cumulative ack of 5 opens the window by exactly 5.
    const before = sent.length;
    ch.receive(encodeEnvelope({ seq: 0, ack: 5, sack: [], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0) }));
    const fresh = sent
      .slice(before)
      .map((p) => decodeEnvelope(p).seq)
      .filter((s) => s > 16);
    expect(fresh).toEqual([17, 18, 19, 20, 21]);
    // A selective ack does not move the window's lower edge (seq 6 is still missing).
    ch.receive(encodeEnvelope({ seq: 0, ack: 5, sack: [7, 21], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0) }));
    expect(ch.stats().inFlight).toBe(1);
    expect(Math.max(...sent.map((p) => decodeEnvelope(p).seq))).toBe(21);
    ch.close();
  });

  it('retransmits with exponential backoff clamped to maxRtoMs', () => {
    const { ch, sent, clock } = lonely({ rtoMs: 100, maxRtoMs: 800, deadAfterMs: 60_000 });
    ch.sendMessage(new Uint8Array([1]));
    const times: number[] = [];
    let seen = 1;
    while (clock.time < 6000) {
      clock.run(clock.time + 1);
      if (sent.length > seen) {
        times.push(clock.time);
        seen = sent.length;
      }
    }
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
    // initial RTO 3 x 100 = 300 ms, doubling, capped at 800 ms
    expect(gaps.slice(0, 5)).toEqual([300, 600, 800, 800, 800]);
    ch.close();
  });

  it('resends a hole well before the RTO once later fragments are acked (RACK)', () => {
    const { ch, sent, clock } = lonely({ rtoMs: 100 });
    ch.sendMessage(new Uint8Array(5 * 1144)); // 5 fragments, all sent at t=0
    expect(sent.length).toBe(5);
    clock.run(10);
    ch.receive(encodeEnvelope({ seq: 0, ack: 2, sack: [4, 5], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0) }));
    clock.run(20);
    const resent = sent.slice(5).map((p) => decodeEnvelope(p).seq);
    expect(resent).toEqual([3]); // at t = 10 ms RTT + 2.5 ms reordering window, not at 300 ms
    expect(ch.stats().retransmitted).toBe(1);
    expect(ch.stats().srttMs).toBe(10);
    ch.close();
  });

  it('sends a pure ack after ackDelayMs, or at once after 16 fragments', () => {
    const { ch, sent, clock } = lonely({ ackDelayMs: 5 });
    const frag = (seq: number): Uint8Array =>
      encodeEnvelope({ seq, ack: 0, sack: [], msgId: seq, fragIndex: 0, fragCount: 1, fragment: new Uint8Array([seq]) });
    ch.receive(frag(1));
    expect(sent.length).toBe(0);
    clock.run(4);
    expect(sent.length).toBe(0);
    clock.run(5);
    expect(sent.length).toBe(1);
    expect(decodeEnvelope(sent[0]!)).toMatchObject({ seq: 0, ack: 1, sack: [] });
    for (let s = 2; s <= 17; s++) ch.receive(frag(s));
    expect(sent.length).toBe(2); // the 16th fragment since the last ack triggers one at once
    expect(decodeEnvelope(sent[1]!).ack).toBe(17);
    // out of order: 19 and 21 arrive, 18 and 20 missing -> sack ranges
    ch.receive(frag(19));
    ch.receive(frag(21));
    clock.run(clock.time + 10);
    expect(decodeEnvelope(sent.at(-1)!)).toMatchObject({ ack: 17, sack: [19, 19, 21, 21] });
    // a duplicate is acked again
    const n = sent.length;
    ch.receive(frag(3));
    clock.run(clock.time + 10);
    expect(sent.length).toBe(n + 1);
    expect(ch.stats().duplicates).toBe(1);
    ch.close();
  });

  it("carries earlyBlockBytes on pure acks only, and reports the peer's", () => {
    const { ch, sent, clock } = lonely({ ackDelayMs: 5, earlyBlockBytes: 2 << 20 });
    ch.keepAlive();
    expect(decodeEnvelope(sent[0]!)).toMatchObject({ seq: 0, earlyBlockBytes: 2 << 20 });
    ch.sendMessage(new Uint8Array([1, 2, 3]));
    expect(decodeEnvelope(sent[1]!).seq).toBe(1);
    expect(decodeEnvelope(sent[1]!).earlyBlockBytes).toBeUndefined(); // data envelopes keep their fragment room
    ch.close();
    const heard: number[] = [];
    const peer = lonely({ onEarlyBlockBytes: (b) => heard.push(b) });
    peer.ch.receive(
      encodeEnvelope({ seq: 0, ack: 0, msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0), earlyBlockBytes: 4096 }),
    );
    peer.ch.receive(encodeEnvelope({ seq: 0, ack: 0, msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0) }));
    expect(heard).toEqual([4096]);
    peer.ch.close();
    clock.run(clock.time + 10);
  });

  it('fires onDead once when the peer stops acknowledging', () => {
    const { ch, dead, clock } = lonely({ deadAfterMs: 15_000 });
    ch.sendMessage(new Uint8Array(5000));
    clock.run(14_000);
    expect(dead).toEqual([]);
    clock.run(16_000);
    expect(dead.length).toBe(1);
    expect(dead[0]).toMatch(/peer dead: nothing acknowledged for 15\d\d\d ms/);
    clock.run(100_000);
    expect(dead.length).toBe(1);
    expect(ch.isClosed).toBe(true);
    expect(() => ch.sendMessage(new Uint8Array(1))).toThrow(JetrecvError);
  });

  it('does not declare an idle channel dead', () => {
    const { ch, dead, clock } = lonely({ deadAfterMs: 1000 });
    clock.run(10_000);
    expect(dead).toEqual([]);
    ch.close();
  });

  it('ignores garbage without throwing and keeps working', () => {
    const clock = new VirtualClock();
    const { a, b, got } = pair(clock, 21, 0);
    const random = prng(99);
    for (let i = 0; i < 2000; i++) {
      const junk = new Uint8Array(Math.floor(random() * 64));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(random() * 256);
      expect(() => b.receive(junk)).not.toThrow();
    }
    // believable framing, impossible content: acks for fragments never sent
    b.receive(encodeEnvelope({ seq: 0, ack: 1_000_000, sack: [], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0) }));
    expect(b.stats().garbage).toBeGreaterThan(1000);
    a.sendMessage(new Uint8Array([1, 2, 3]));
    clock.run(10_000, () => got.b.length === 1);
    expect([...got.b[0]!]).toEqual([1, 2, 3]);
  });

  it('treats inconsistent fragments as a protocol violation (onDead once)', () => {
    const { ch, dead } = lonely();
    ch.receive(encodeEnvelope({ seq: 1, ack: 0, sack: [], msgId: 7, fragIndex: 0, fragCount: 1, fragment: new Uint8Array([1]) }));
    expect(dead).toEqual(['protocol violation by peer: seq 1 carries message 7, expected 1']);
    ch.receive(encodeEnvelope({ seq: 2, ack: 0, sack: [], msgId: 2, fragIndex: 0, fragCount: 1, fragment: new Uint8Array([1]) }));
    expect(dead.length).toBe(1);
  });

  it('refuses messages over maxMessageBytes and sends after close', () => {
    const { ch } = lonely({ maxMessageBytes: 1000 });
    try {
      ch.sendMessage(new Uint8Array(1001));
      expect.unreachable();
    } catch (err) {
      expect((err as JetrecvError).code).toBe(ErrorCodes.PROTOCOL);
      expect((err as Error).message).toMatch(/1001 bytes exceeds the 1000-byte limit/);
    }
    ch.close();
    ch.close(); // idempotent
    expect(() => ch.sendMessage(new Uint8Array(1))).toThrow(/closed/);
    expect(() => ch.receive(new Uint8Array([1, 2]))).not.toThrow();
  });

  it('rejects whenIdle waiters on close and reports callback errors without corrupting state', async () => {
    const clock = new VirtualClock();
    const errors: unknown[] = [];
    const got: number[] = [];
    const b = new ReliableChannel({
      send: () => {},
      onMessage: (m) => {
        got.push(m[0]!);
        if (m[0] === 1) throw new Error('handler bug');
      },
      onDead: () => {},
      onCallbackError: (e) => errors.push(e),
      now: clock.now,
      timers: clock,
    });
    // messages 1 and 2 complete in one receive call (2 arrives first, out of order)
    const frag = (seq: number): Uint8Array =>
      encodeEnvelope({ seq, ack: 0, sack: [], msgId: seq, fragIndex: 0, fragCount: 1, fragment: new Uint8Array([seq]) });
    b.receive(frag(2));
    b.receive(frag(1));
    expect(got).toEqual([1, 2]);
    expect(errors.length).toBe(1);
    b.sendMessage(new Uint8Array(10));
    const idle = b.whenIdle();
    b.close();
    await expect(idle).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
  });
});
