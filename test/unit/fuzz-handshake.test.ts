// fuzz-handshake.test.ts — bounded fuzz runs over the handshake decoders
// (HandshakeResponder.consumeInitiation, not under load and under load,
// HandshakeInitiator.consumeResponse and .consumeCookieReply, and the payload
// decoders), with random packets and mutations of valid ones. To get past mac1
// (which any mutation breaks) half the mutated packets get a freshly computed mac1
// (and under load, most also a valid mac2), so the Noise decryption and payload
// checks are fuzzed too. Contracts: never throw for packet content; only an
// unmodified Noise message can succeed; nothing allocated for a failure
// (allocateIndex is called only on success); under load, an INIT without a valid
// mac2 only ever gets a COOKIE REPLY that opens with its mac1; only an unaltered
// COOKIE REPLY is accepted. Seed: JETRECV_FUZZ_SEED; longer runs: JETRECV_FUZZ_SCALE.
import { describe, expect, it } from 'vitest';
import { generateKeyPair, keysEqual } from '../../src/keys/key-encoding.js';
import { HandshakeInitiator, HandshakeResponder, type ResponderResult } from '../../src/handshake/index.js';
import {
  HANDSHAKE_COOKIE_LENGTH,
  HANDSHAKE_INIT_LENGTH,
  HANDSHAKE_RESP_LENGTH,
  INIT_MAC1_OFFSET,
  INIT_MAC2_OFFSET,
  INIT_NOISE_OFFSET,
  RESP_MAC1_OFFSET,
  RESP_NOISE_OFFSET,
  computeMac1,
  computeMac2,
  cookieReplyKey,
  decodeCookieReply,
  decodeInitPayload,
  decodeRespPayload,
  mac1Key,
} from '../../src/handshake/packets.js';
import { Rng, fuzzSeed, iterations, mutate } from './fuzz-mutate.js';

const server = generateKeyPair();
const client = generateKeyPair();
const SOURCE = { address: '192.0.2.9', port: 4000 };

function withMac1(packet: Uint8Array, mac1Offset: number, recipientPublicKey: Uint8Array): Uint8Array {
  const p = packet.slice();
  if (p.length < mac1Offset + 16) return p; // too short to carry a mac1
  p.set(computeMac1(mac1Key(recipientPublicKey), p.subarray(0, mac1Offset)), mac1Offset);
  return p;
}

/** Mutates a valid packet, keeping its length most of the time (so the checks past the length run). */
function mutatePacket(rng: Rng, valid: Uint8Array, length: number): Uint8Array {
  if (rng.below(4) === 0) return mutate(rng, valid, [valid], length + 8);
  const p = valid.slice();
  for (let k = 1 + rng.below(3); k > 0; k--) p[rng.below(length)]! ^= 1 + rng.below(255);
  return p;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A responder without rate limits; loadThreshold 1 = always under load (cookies required). */
function fuzzResponder(
  loadThreshold: number,
  isAuthorized: (key: Uint8Array) => boolean = () => true,
  allocateIndex: () => number = () => 77,
): HandshakeResponder {
  return new HandshakeResponder({
    staticKeys: server,
    minCipher: 'chacha20-poly1305',
    isAuthorized,
    allocateIndex,
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    loadThreshold,
  });
}
describe('fuzz: handshake', () => {
  it('consumeInitiation never throws, refuses every altered Noise message, allocates only on success', () => {
    const rng = new Rng(fuzzSeed + 10);
    let allocated = 0;
    // Never under load: the Noise layer is reached without mac2.
    const responder = fuzzResponder(
      1_000_000,
      (k) => keysEqual(k, client.publicKey),
      () => ++allocated,
    );
    const initiator = new HandshakeInitiator({
      staticKeys: client,
      responderPublicKey: server.publicKey,
      localIndex: 5,
      cipher: 'chacha20-poly1305',
      lanes: 4,
    });
    const valid: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) valid.push(initiator.createInitiation(new Date(Date.now() + i)));
    const reasons = new Map<string, number>();
    let ok = 0;
    for (let i = 0; i < iterations(4000); i++) {
      const base = rng.pick(valid);
      let packet: Uint8Array;
      const r = rng.below(10);
      if (r === 0) packet = rng.bytes(rng.below(300));
      else if (r === 1) packet = rng.bytes(HANDSHAKE_INIT_LENGTH);
      else if (r < 5) packet = mutatePacket(rng, base, HANDSHAKE_INIT_LENGTH);
      else packet = withMac1(mutatePacket(rng, base, HANDSHAKE_INIT_LENGTH), INIT_MAC1_OFFSET, server.publicKey);
      let res: ResponderResult;
      try {
        res = responder.consumeInitiation(packet, SOURCE);
      } catch (err) {
        throw new Error(`consumeInitiation threw ${(err as Error).message} for ${Buffer.from(packet).toString('hex')}`, { cause: err });
      }
      if (res.ok) {
        ok++;
        // Only the clear sender index (covered by mac1 alone) may differ from a real INIT.
        const noise = packet.subarray(INIT_NOISE_OFFSET, INIT_MAC1_OFFSET);
        expect(valid.some((v) => sameBytes(v.subarray(INIT_NOISE_OFFSET, INIT_MAC1_OFFSET), noise))).toBe(true);
      } else {
        reasons.set(res.reason, (reasons.get(res.reason) ?? 0) + 1);
      }
    }
    expect(allocated).toBe(ok);
    // The run reached every layer: length/type, mac1, Noise decryption, replay.
    expect(reasons.get('malformed') ?? 0).toBeGreaterThan(0);
    expect(reasons.get('mac1') ?? 0).toBeGreaterThan(0);
    expect(reasons.get('decrypt') ?? 0).toBeGreaterThan(0);
    // Each valid INIT succeeds at most once (timestamp replay guard).
    expect(ok).toBeLessThanOrEqual(valid.length);
  });

  it('under load, consumeInitiation answers every INIT without a valid mac2 with a cookie for its mac1, and never throws', () => {
    const rng = new Rng(fuzzSeed + 13);
    let allocated = 0;
    const responder = fuzzResponder(
      1,
      (k) => keysEqual(k, client.publicKey),
      () => ++allocated,
    );
    const initiator = new HandshakeInitiator({
      staticKeys: client,
      responderPublicKey: server.publicKey,
      localIndex: 5,
      cipher: 'chacha20-poly1305',
      lanes: 4,
    });
    const t = 1_000_000;
    // One processed INIT puts the responder under load (threshold 1); the next gets a cookie.
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(t)), SOURCE, t).ok).toBe(true);
    const first = initiator.createInitiation(new Date(t + 1));
    const reply = responder.consumeInitiation(first, SOURCE, t + 1);
    if (reply.ok || !reply.cookieReply) throw new Error('expected a cookie reply under load');
    const key = cookieReplyKey(server.publicKey);
    const cookie = decodeCookieReply(key, reply.cookieReply, first.subarray(INIT_MAC1_OFFSET, INIT_MAC2_OFFSET))!;
    expect(cookie).toHaveLength(16);
    expect(initiator.consumeCookieReply(reply.cookieReply, t + 1)).toBe(true);
    const valid: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) valid.push(initiator.createInitiation(new Date(t + 2 + i)));
    const allocatedBefore = allocated;
    const reasons = new Map<string, number>();
    let ok = 0;
    for (let i = 0; i < iterations(3000); i++) {
      let packet: Uint8Array;
      const r = rng.below(10);
      if (r === 0) packet = rng.bytes(rng.below(300));
      else if (r < 3) packet = withMac1(mutatePacket(rng, rng.pick(valid), HANDSHAKE_INIT_LENGTH), INIT_MAC1_OFFSET, server.publicKey);
      else {
        packet = withMac1(mutatePacket(rng, rng.pick(valid), HANDSHAKE_INIT_LENGTH), INIT_MAC1_OFFSET, server.publicKey);
        if (packet.length === HANDSHAKE_INIT_LENGTH)
          packet.set(computeMac2(cookie, packet.subarray(0, INIT_MAC2_OFFSET)), INIT_MAC2_OFFSET);
      }
      let res: ResponderResult;
      try {
        res = responder.consumeInitiation(packet, SOURCE, t + 20); // one instant: the load never ends
      } catch (err) {
        throw new Error(`consumeInitiation threw ${(err as Error).message} for ${Buffer.from(packet).toString('hex')}`, { cause: err });
      }
      if (res.ok) {
        ok++;
        const noise = packet.subarray(INIT_NOISE_OFFSET, INIT_MAC1_OFFSET);
        expect(valid.some((v) => sameBytes(v.subarray(INIT_NOISE_OFFSET, INIT_MAC1_OFFSET), noise))).toBe(true);
        continue;
      }
      reasons.set(res.reason, (reasons.get(res.reason) ?? 0) + 1);
      const expectsCookie = res.reason === 'cookie-sent' || res.reason === 'bad-mac2';
      expect(res.cookieReply !== undefined, res.reason).toBe(expectsCookie);
      if (res.cookieReply) {
        expect(res.cookieReply).toHaveLength(HANDSHAKE_COOKIE_LENGTH);
        // Sealed for this very INIT: it opens with the INIT's mac1 as AD, to the same cookie (same source, same Rm).
        expect(decodeCookieReply(key, res.cookieReply, packet.subarray(INIT_MAC1_OFFSET, INIT_MAC2_OFFSET))).toEqual(cookie);
      }
    }
    expect(allocated - allocatedBefore).toBe(ok);
    expect(ok).toBeLessThanOrEqual(valid.length);
    // The run reached the cookie answers and, with a valid mac2, the Noise layer.
    expect(reasons.get('bad-mac2') ?? 0).toBeGreaterThan(0);
    expect(reasons.get('decrypt') ?? 0).toBeGreaterThan(0);
  });

  it('consumeCookieReply never throws and accepts only the unaltered reply to the latest INIT', () => {
    const rng = new Rng(fuzzSeed + 14);
    const responder = fuzzResponder(1);
    const initiator = new HandshakeInitiator({
      staticKeys: client,
      responderPublicKey: server.publicKey,
      localIndex: 5,
      cipher: 'aes-256-gcm',
      lanes: 2,
    });
    const t = 5_000_000;
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(t)), SOURCE, t).ok).toBe(true);
    let step = 1;
    const fresh = (): Uint8Array => {
      step++;
      const init = initiator.createInitiation(new Date(t + step));
      init.fill(0, INIT_MAC2_OFFSET); // drop the cookie already held, so a new one comes back
      const res = responder.consumeInitiation(init, SOURCE, t + 1);
      if (res.ok || !res.cookieReply) throw new Error('expected a cookie reply under load');
      return res.cookieReply;
    };
    let reply = fresh();
    let accepted = 0;
    for (let i = 0; i < iterations(4000); i++) {
      let packet: Uint8Array;
      const r = rng.below(10);
      if (r === 0) packet = rng.bytes(rng.below(200));
      else if (r === 1) packet = rng.bytes(HANDSHAKE_COOKIE_LENGTH);
      else if (r === 2)
        packet = reply.slice(); // the genuine reply: must be accepted
      else packet = mutatePacket(rng, reply, HANDSHAKE_COOKIE_LENGTH);
      let out: boolean;
      try {
        out = initiator.consumeCookieReply(packet, t + 1);
      } catch (err) {
        throw new Error(`consumeCookieReply threw ${(err as Error).message} for ${Buffer.from(packet).toString('hex')}`, { cause: err });
      }
      if (!out) {
        expect(sameBytes(packet, reply)).toBe(false);
        continue;
      }
      accepted++;
      expect(sameBytes(packet, reply)).toBe(true);
      expect(initiator.consumeCookieReply(reply, t + 1)).toBe(false); // one reply per INIT
      reply = fresh();
    }
    expect(initiator.consumeCookieReply(reply, t + 1)).toBe(true);
    expect(accepted).toBeGreaterThan(0);
  });

  it('consumeResponse never throws and accepts only an unaltered Noise message', () => {
    const rng = new Rng(fuzzSeed + 11);
    const responder = fuzzResponder(1_000_000);
    const initiator = new HandshakeInitiator({
      staticKeys: client,
      responderPublicKey: server.publicKey,
      localIndex: 5,
      cipher: 'aes-256-gcm',
      lanes: 2,
    });
    const fresh = (): Uint8Array => {
      const res = responder.consumeInitiation(initiator.createInitiation(), SOURCE);
      if (!res.ok) throw new Error(`valid INIT refused: ${res.reason}`);
      return res.response;
    };
    let resp = fresh();
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < iterations(4000); i++) {
      let packet: Uint8Array;
      const r = rng.below(10);
      if (r === 0) packet = rng.bytes(rng.below(200));
      else if (r === 1) packet = rng.bytes(HANDSHAKE_RESP_LENGTH);
      else if (r < 5) packet = mutatePacket(rng, resp, HANDSHAKE_RESP_LENGTH);
      else packet = withMac1(mutatePacket(rng, resp, HANDSHAKE_RESP_LENGTH), RESP_MAC1_OFFSET, client.publicKey);
      let out: ReturnType<HandshakeInitiator['consumeResponse']>;
      try {
        out = initiator.consumeResponse(packet);
      } catch (err) {
        throw new Error(`consumeResponse threw ${(err as Error).message} for ${Buffer.from(packet).toString('hex')}`, { cause: err });
      }
      if (out === null) {
        refused++;
        continue;
      }
      accepted++;
      expect(sameBytes(packet.subarray(RESP_NOISE_OFFSET, RESP_MAC1_OFFSET), resp.subarray(RESP_NOISE_OFFSET, RESP_MAC1_OFFSET))).toBe(
        true,
      );
      expect(initiator.consumeResponse(resp)).toBeNull(); // the INIT is used up
      resp = fresh();
    }
    expect(refused).toBeGreaterThan(iterations(4000) / 2);
    // The genuine response still works after all that garbage.
    expect(initiator.consumeResponse(resp)).not.toBeNull();
    expect(accepted).toBeGreaterThanOrEqual(0);
  });

  it('payload decoders return undefined or a valid payload for any bytes', () => {
    const rng = new Rng(fuzzSeed + 12);
    for (let i = 0; i < iterations(20_000); i++) {
      const bytes = rng.below(4) === 0 ? rng.bytes(rng.below(24)) : rng.bytes(rng.below(2) ? 16 : 4);
      if (rng.below(2)) {
        bytes[bytes.length - 1] = 0;
        if (bytes.length > 1) bytes[bytes.length - 2] = 0;
      }
      const init = decodeInitPayload(bytes);
      if (init) {
        expect(['aes-256-gcm', 'chacha20-poly1305']).toContain(init.cipher);
        expect(init.lanes).toBeGreaterThanOrEqual(1);
        expect(init.lanes).toBeLessThanOrEqual(16);
      }
      const resp = decodeRespPayload(bytes);
      if (resp) {
        expect(resp.lanes).toBeGreaterThanOrEqual(1);
        expect(resp.lanes).toBeLessThanOrEqual(16);
      }
    }
  });
});
