// fuzz-control.test.ts — bounded fuzz runs over the control-plane decoders and the
// reliable channel (src/proto/control.ts, src/control/reliable-channel.ts), with
// random bytes and mutations of valid messages (seeded: JETRECV_FUZZ_SEED,
// longer: JETRECV_FUZZ_SCALE, see docs/TESTING.md). Contracts checked:
// - decodeControl / decodeEnvelope return a checked object or throw
//   JetrecvError(PROTOCOL); nothing else escapes. What decodes re-encodes and
//   decodes to the same object.
// - ReliableChannel.receive never throws, whatever arrives, and keeps its
//   bounds (in-flight <= window, delivered messages <= maxMessageBytes).
import { describe, expect, it } from 'vitest';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import { decodeControl, decodeEnvelope, encodeControl, encodeEnvelope, type ControlMessageInput } from '../../src/proto/control.js';
import { ReliableChannel, type ChannelTimers } from '../../src/control/reliable-channel.js';
import { Rng, fuzzInput, fuzzSeed, iterations, mutate } from './fuzz-mutate.js';

function validControls(): Uint8Array[] {
  const msgs: ControlMessageInput[] = [
    {
      kind: 'transferRequest',
      transferId: 1,
      destinationPath: 'dest/dir',
      blockSize: 1416,
      files: [
        { path: 'a/b.bin', size: 123456789, mode: 0o644, mtimeMs: 1_700_000_000_000 },
        { path: 'c', size: 0, mode: 0o600, mtimeMs: 0 },
      ],
      emptyDirs: ['e', 'f/g'],
      checkpointFrequencySeconds: 5,
      transferUid: new Uint8Array([1, 2, 3, 4]),
      senderName: 'host',
    },
    { kind: 'transferAccept', transferId: 2, have: [{ fileIndex: 0, firstBlock: 3, blockCount: 9 }] },
    { kind: 'transferRefuse', transferId: 3, code: 'JETRECV_ERR_PATH_ESCAPE', reason: 'no' },
    { kind: 'filesDone', transferId: 4, fileIndex: [0, 1, 2, 4_000_000_000] },
    { kind: 'transferDone', transferId: 5, bytes: 2 ** 40, files: 7 },
    { kind: 'cancel', transferId: 6, reason: 'sender interrupted' },
    { kind: 'transferError', transferId: 7, code: 'JETRECV_ERR_DISK', message: 'cannot write x: No space left on device' },
    { kind: 'goodbye', reason: 'bye', final: false },
    { kind: 'goodbye', reason: 'bye', final: true },
  ];
  return msgs.map((m) => encodeControl(m));
}

function validEnvelopes(): Uint8Array[] {
  return [
    encodeEnvelope({ seq: 1, ack: 0, msgId: 1, fragIndex: 0, fragCount: 1, fragment: new Uint8Array([1, 2, 3]) }),
    encodeEnvelope({ seq: 0, ack: 17, sack: [19, 20, 25, 25], msgId: 0, fragIndex: 0, fragCount: 0, fragment: new Uint8Array(0), dup: 18 }),
    encodeEnvelope({ seq: 2 ** 40, ack: 2 ** 40 - 1, msgId: 9, fragIndex: 2, fragCount: 3, fragment: new Uint8Array(1000).fill(7) }),
  ];
}

/** Plain data for comparison: bytes (Buffer or Uint8Array) become arrays. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Runs fn; a JetrecvError(PROTOCOL) counts as a refusal, anything else fails the test with the input. */
function expectDecodesOrRefuses<T>(fn: () => T, input: Uint8Array): T | null {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JetrecvError && err.code === ErrorCodes.PROTOCOL) return null;
    throw new Error(
      `unexpected ${(err as Error)?.constructor?.name}: ${(err as Error)?.message} for input ${Buffer.from(input).toString('hex')}`,
      { cause: err },
    );
  }
}

describe('fuzz: control-message decoders', () => {
  it('decodeControl returns a checked message or throws JetrecvError(PROTOCOL), and round-trips', () => {
    const rng = new Rng(fuzzSeed);
    const pool = validControls();
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < iterations(20_000); i++) {
      const input = fuzzInput(rng, pool);
      const msg = expectDecodesOrRefuses(() => decodeControl(input), input);
      if (msg === null) {
        refused++;
        continue;
      }
      decoded++;
      // A decoded message is fully checked: it encodes again and decodes to the same object.
      const again = expectDecodesOrRefuses(() => decodeControl(encodeControl(msg)), input);
      expect(plain(again), `re-encoding ${Buffer.from(input).toString('hex')}`).toEqual(plain(msg));
    }
    // The mutations reach both outcomes (a decoder that refused everything would pass otherwise).
    expect(decoded).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('decodeEnvelope returns a checked envelope or throws JetrecvError(PROTOCOL), and round-trips', () => {
    const rng = new Rng(fuzzSeed + 1);
    const pool = validEnvelopes();
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < iterations(20_000); i++) {
      const input = fuzzInput(rng, pool);
      const env = expectDecodesOrRefuses(() => decodeEnvelope(input), input);
      if (env === null) {
        refused++;
        continue;
      }
      decoded++;
      expect(env.fragIndex).toBeLessThanOrEqual(0xffff_ffff);
      expect(env.sack.length % 2).toBe(0);
      const again = expectDecodesOrRefuses(() => decodeEnvelope(encodeEnvelope(env)), input);
      expect(plain(again)).toEqual(plain(env));
    }
    expect(decoded).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});

/** Manual timers: fire in time order when the test advances the clock. */
class ManualTimers implements ChannelTimers {
  time = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  advance(ms: number): void {
    const until = this.time + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (!best || e[1].at < best[1].at)) best = e;
      if (!best) break;
      this.timers.delete(best[0]);
      this.time = Math.max(this.time, best[1].at);
      best[1].fn();
    }
    this.time = until;
  }
}

describe('fuzz: ReliableChannel.receive', () => {
  it('never throws on garbage, mutated or hostile envelopes, and stays within its bounds', () => {
    const rng = new Rng(fuzzSeed + 2);
    const maxMessageBytes = 1 << 16;
    let sent = 0;
    let delivered = 0;
    let died = 0;
    for (let round = 0; round < iterations(40); round++) {
      const timers = new ManualTimers();
      // A real peer produces valid traffic to mutate: several messages, some multi-fragment.
      const peerOut: Uint8Array[] = [];
      const peer = new ReliableChannel({
        send: (p) => peerOut.push(p),
        onMessage: () => undefined,
        onDead: () => undefined,
        now: () => timers.time,
        timers,
        onCallbackError: (err) => {
          throw err;
        },
      });
      for (let m = 0; m < 1 + rng.below(4); m++) peer.sendMessage(rng.bytes(rng.below(3000)));
      const channel = new ReliableChannel({
        send: () => {
          sent++;
        },
        onMessage: (msg) => {
          delivered++;
          expect(msg.length).toBeLessThanOrEqual(maxMessageBytes);
        },
        onDead: () => {
          died++;
        },
        now: () => timers.time,
        timers,
        windowFragments: 32,
        maxMessageBytes,
        onCallbackError: (err) => {
          throw err;
        },
      });
      // Our side has sent something too, so acks can be believable.
      channel.sendMessage(rng.bytes(500));
      const pool = [...peerOut, ...validEnvelopes()];
      for (let i = 0; i < 300; i++) {
        const r = rng.below(10);
        const input = r < 3 ? rng.pick(peerOut) : r < 4 ? rng.bytes(rng.below(1300)) : mutate(rng, rng.pick(pool), pool, 1300);
        try {
          channel.receive(input);
        } catch (err) {
          throw new Error(`receive threw ${(err as Error).message} for ${Buffer.from(input).toString('hex')}`, { cause: err });
        }
        if (channel.stats().inFlight > 32) throw new Error('in-flight fragments exceed the window');
        if (rng.below(20) === 0) timers.advance(rng.below(3000));
      }
      timers.advance(20_000); // every timer path (RTO, dead peer) runs
      channel.close();
      peer.close();
      expect(() => channel.receive(rng.pick(peerOut))).not.toThrow(); // closed: ignored
    }
    expect(sent).toBeGreaterThan(0);
    expect(delivered + died).toBeGreaterThan(0);
  });
});
