import { describe, expect, it, vi } from 'vitest';
import { generateKeyPair, keysEqual, type KeyPair } from '../../src/keys/key-encoding.js';
import {
  HandshakeInitiator,
  HandshakeResponder,
  type CipherName,
  type HandshakeResponderOptions,
  type ResponderResult,
} from '../../src/handshake/index.js';
import { ikWriteMessage1 } from '../../src/handshake/noise-ik.js';
import { computeMac1, encodeTai64n, mac1Key } from '../../src/handshake/packets.js';

const SOURCE = { address: '192.0.2.7', port: 40000 };
const server = generateKeyPair();
const client = generateKeyPair();

function makeResponder(overrides: Partial<HandshakeResponderOptions> = {}) {
  let next = 1000;
  const isAuthorized = vi.fn((key: Uint8Array) => keysEqual(key, client.publicKey));
  const allocateIndex = vi.fn(() => next++);
  const responder = new HandshakeResponder({
    staticKeys: server,
    minCipher: 'chacha20-poly1305',
    isAuthorized,
    allocateIndex,
    rateLimit: { perSecond: 1000, burst: 100_000 },
    loadThreshold: 1_000_000, // never under load here: cookies are tested in handshake-cookie.test.ts
    ...overrides,
  });
  return { responder, isAuthorized, allocateIndex };
}

function makeInitiator(o: { keys?: KeyPair; serverKey?: Uint8Array; cipher?: CipherName; lanes?: number; index?: number } = {}) {
  return new HandshakeInitiator({
    staticKeys: o.keys ?? client,
    responderPublicKey: o.serverKey ?? server.publicKey,
    localIndex: o.index ?? 7,
    cipher: o.cipher ?? 'aes-256-gcm',
    lanes: o.lanes ?? 4,
  });
}

/** Replace the mac1 of an INIT, as an attacker who knows the server's public key can. */
function remac(init: Uint8Array): Uint8Array {
  const out = init.slice();
  out.set(computeMac1(mac1Key(server.publicKey), out.subarray(0, 120)), 120);
  return out;
}

function expectFailure(result: ResponderResult, reason: string): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.reason).toBe(reason);
}

describe('handshake round trip', () => {
  it('derives matching, direction-specific keys and exchanges indices, cipher and lanes', () => {
    const { responder, isAuthorized, allocateIndex } = makeResponder();
    const initiator = makeInitiator({ index: 0xdeadbeef });
    const init = initiator.createInitiation();
    expect(init).toHaveLength(152);
    expect(init.subarray(136).every((b) => b === 0)).toBe(true); // no cookie: mac2 all zero
    expect(init[0]).toBe(0x01);
    expect(Array.from(init.subarray(1, 4))).toEqual([0, 0, 0]);
    expect(Buffer.from(init).readUInt32LE(4)).toBe(0xdeadbeef);

    const result = responder.consumeInitiation(init, SOURCE);
    if (!result.ok) throw new Error(`handshake failed: ${result.reason}`);
    expect(isAuthorized).toHaveBeenCalledTimes(1);
    expect(allocateIndex).toHaveBeenCalledTimes(1);
    expect(result.peerPublicKey).toEqual(client.publicKey);
    expect(result).toMatchObject({ localIndex: 1000, remoteIndex: 0xdeadbeef, cipher: 'aes-256-gcm', lanes: 4 });

    const resp = result.response;
    expect(resp).toHaveLength(80);
    expect(resp[0]).toBe(0x02);
    expect(Buffer.from(resp).readUInt32LE(4)).toBe(1000);
    expect(Buffer.from(resp).readUInt32LE(8)).toBe(0xdeadbeef);

    const done = initiator.consumeResponse(resp);
    expect(done).not.toBeNull();
    expect(done!.keys.sendKey).toEqual(result.keys.recvKey);
    expect(done!.keys.recvKey).toEqual(result.keys.sendKey);
    expect(done!.keys.sendKey).toHaveLength(32);
    expect(done!.keys.sendKey).not.toEqual(done!.keys.recvKey);
    expect(done!.handshakeHash).toEqual(result.handshakeHash);
    expect(done).toMatchObject({ remoteIndex: 1000, cipher: 'aes-256-gcm', lanes: 4 });
  });

  it('gives different session keys to every handshake', () => {
    const { responder } = makeResponder();
    const a = makeInitiator();
    const b = makeInitiator();
    const ra = responder.consumeInitiation(a.createInitiation(), SOURCE);
    const rb = responder.consumeInitiation(b.createInitiation(), SOURCE);
    if (!ra.ok || !rb.ok) throw new Error('handshake failed');
    expect(ra.keys.sendKey).not.toEqual(rb.keys.sendKey);
  });

  it('accepts Node Buffers (as dgram delivers them) as well as Uint8Arrays', () => {
    const { responder } = makeResponder();
    const initiator = makeInitiator();
    const result = responder.consumeInitiation(Buffer.from(initiator.createInitiation()), SOURCE);
    if (!result.ok) throw new Error(result.reason);
    expect(initiator.consumeResponse(Buffer.from(result.response))).not.toBeNull();
  });
});

describe('responder refusals', () => {
  it("drops an INIT made for another server's key at mac1, before any DH or callback", () => {
    const { responder, isAuthorized, allocateIndex } = makeResponder();
    const initiator = makeInitiator({ serverKey: generateKeyPair().publicKey });
    expectFailure(responder.consumeInitiation(initiator.createInitiation(), SOURCE), 'mac1');
    expect(isAuthorized).not.toHaveBeenCalled();
    expect(allocateIndex).not.toHaveBeenCalled();
  });

  it('refuses an unauthorized static key before decrypting the payload or allocating', () => {
    const { responder, isAuthorized, allocateIndex } = makeResponder();
    const stranger = generateKeyPair();
    const result = responder.consumeInitiation(makeInitiator({ keys: stranger }).createInitiation(), SOURCE);
    expectFailure(result, 'unauthorized');
    if (!result.ok) expect(result.peerPublicKey).toEqual(stranger.publicKey);
    expect(isAuthorized).toHaveBeenCalledWith(stranger.publicKey);
    expect(allocateIndex).not.toHaveBeenCalled();
  });

  it('refuses a replayed INIT and an older INIT after a newer one, then accepts a fresh one', () => {
    const { responder, allocateIndex } = makeResponder();
    const initiator = makeInitiator();
    const older = initiator.createInitiation(new Date('2030-01-01T00:00:00Z'));
    const newer = initiator.createInitiation(new Date('2030-01-01T00:00:01Z'));
    expect(responder.consumeInitiation(newer, SOURCE).ok).toBe(true);
    const replayed = responder.consumeInitiation(newer, SOURCE);
    expectFailure(replayed, 'replay');
    if (!replayed.ok) expect(replayed.peerPublicKey).toEqual(client.publicKey);
    expectFailure(responder.consumeInitiation(older, SOURCE), 'replay');
    expect(allocateIndex).toHaveBeenCalledTimes(1);
    expect(responder.consumeInitiation(initiator.createInitiation(new Date('2030-01-01T00:00:02Z')), SOURCE).ok).toBe(true);
  });

  it('gives retries within the same clock tick strictly increasing timestamps', () => {
    const { responder } = makeResponder();
    const initiator = makeInitiator();
    const now = new Date();
    for (let i = 0; i < 3; i++) {
      expect(responder.consumeInitiation(initiator.createInitiation(now), SOURCE).ok).toBe(true);
    }
  });

  it("refuses chacha20-poly1305 when minCipher is aes-256-gcm, and honours the initiator's choice otherwise", () => {
    const strict = makeResponder({ minCipher: 'aes-256-gcm' }).responder;
    expectFailure(strict.consumeInitiation(makeInitiator({ cipher: 'chacha20-poly1305' }).createInitiation(), SOURCE), 'cipher');
    const aes = strict.consumeInitiation(makeInitiator({ cipher: 'aes-256-gcm' }).createInitiation(), SOURCE);
    expect(aes).toMatchObject({ ok: true, cipher: 'aes-256-gcm' });

    const lenient = makeResponder({ minCipher: 'chacha20-poly1305' }).responder;
    const initiator = makeInitiator({ cipher: 'chacha20-poly1305' });
    const chacha = lenient.consumeInitiation(initiator.createInitiation(), SOURCE);
    expect(chacha).toMatchObject({ ok: true, cipher: 'chacha20-poly1305' });
    if (chacha.ok) expect(initiator.consumeResponse(chacha.response)).toMatchObject({ cipher: 'chacha20-poly1305' });
  });

  it('grants at most maxLanes lanes and tells the initiator', () => {
    const { responder } = makeResponder({ maxLanes: 2 });
    const initiator = makeInitiator({ lanes: 8 });
    const result = responder.consumeInitiation(initiator.createInitiation(), SOURCE);
    expect(result).toMatchObject({ ok: true, lanes: 2 });
    if (result.ok) expect(initiator.consumeResponse(result.response)).toMatchObject({ lanes: 2 });
  });

  it('reports a payload with invalid fields (here lanes = 0) as malformed', () => {
    const { responder, allocateIndex } = makeResponder();
    const payload = new Uint8Array(16);
    payload.set(encodeTai64n(BigInt(Date.now()) * 1_000_000n), 0);
    payload[12] = 1; // aes-256-gcm
    payload[13] = 0; // lanes: invalid
    const m1 = ikWriteMessage1({
      prologue: new TextEncoder().encode('jetrecv handshake v1'),
      staticKeys: client,
      responderPublicKey: server.publicKey,
      payload,
    })!;
    const init = new Uint8Array(152);
    init[0] = 1;
    init.set(m1.message, 8);
    const result = responder.consumeInitiation(remac(init), SOURCE);
    expectFailure(result, 'malformed');
    if (!result.ok) expect(result.peerPublicKey).toEqual(client.publicKey);
    expect(allocateIndex).not.toHaveBeenCalled();
  });

  it('treats a low-order ephemeral key as a decryption failure, not an exception', () => {
    const { responder } = makeResponder();
    const init = makeInitiator().createInitiation();
    init.fill(0, 8, 40);
    expectFailure(responder.consumeInitiation(remac(init), SOURCE), 'decrypt');
  });

  it.each([0, 1, 100, 136, 151, 153, 200, 1500])('reports a %i-byte packet as malformed', (length) => {
    const { responder } = makeResponder();
    const init = makeInitiator().createInitiation();
    const packet = new Uint8Array(length);
    packet.set(init.subarray(0, Math.min(length, init.length)));
    expectFailure(responder.consumeInitiation(packet, SOURCE), 'malformed');
  });

  it('reports a wrong type byte or non-zero reserved bytes as malformed', () => {
    const { responder } = makeResponder();
    for (const [offset, value] of [
      [0, 0x02],
      [0, 0x03],
      [1, 1],
      [3, 0x80],
    ] as const) {
      const init = makeInitiator().createInitiation();
      init[offset] = value;
      expectFailure(responder.consumeInitiation(remac(init), SOURCE), 'malformed');
    }
  });
});

describe('tampering', () => {
  it('every single-bit flip of an INIT before mac2 fails (mac1 or malformed), never throws, never allocates', () => {
    const { responder, isAuthorized, allocateIndex } = makeResponder();
    const init = makeInitiator().createInitiation();
    for (let bit = 0; bit < 136 * 8; bit++) {
      const flipped = init.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      const result = responder.consumeInitiation(flipped, SOURCE);
      expectFailure(result, bit < 32 ? 'malformed' : 'mac1');
    }
    expect(isAuthorized).not.toHaveBeenCalled();
    expect(allocateIndex).not.toHaveBeenCalled();
    // The original still works, even with a flipped mac2: mac2 is checked only under load.
    init[140]! ^= 1;
    expect(responder.consumeInitiation(init, SOURCE).ok).toBe(true);
  });

  it('every bit flip in the Noise message with a valid mac1 fails decryption', () => {
    const { responder, allocateIndex } = makeResponder();
    const init = makeInitiator().createInitiation();
    for (let bit = 8 * 8; bit < 120 * 8; bit++) {
      const flipped = init.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expectFailure(responder.consumeInitiation(remac(flipped), SOURCE), 'decrypt');
    }
    expect(allocateIndex).not.toHaveBeenCalled();
  });

  it('the initiator ignores a RESP with any bit flipped, and still accepts the genuine one', () => {
    const { responder } = makeResponder();
    const initiator = makeInitiator();
    const result = responder.consumeInitiation(initiator.createInitiation(), SOURCE);
    if (!result.ok) throw new Error(result.reason);
    for (let bit = 0; bit < result.response.length * 8; bit++) {
      const flipped = result.response.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(initiator.consumeResponse(flipped)).toBeNull();
    }
    expect(initiator.consumeResponse(result.response)).not.toBeNull();
  });

  it('the initiator ignores truncated, oversized, unsolicited, duplicate and superseded responses', () => {
    const { responder } = makeResponder();
    const initiator = makeInitiator();
    expect(initiator.consumeResponse(new Uint8Array(80))).toBeNull(); // nothing outstanding

    const first = responder.consumeInitiation(initiator.createInitiation(), SOURCE);
    const retry = responder.consumeInitiation(initiator.createInitiation(), SOURCE);
    if (!first.ok || !retry.ok) throw new Error('handshake failed');
    expect(initiator.consumeResponse(first.response)).toBeNull(); // answers the superseded INIT
    expect(initiator.consumeResponse(retry.response.subarray(0, 79))).toBeNull();
    expect(initiator.consumeResponse(Uint8Array.of(...retry.response, 0))).toBeNull();
    expect(initiator.consumeResponse(retry.response)).not.toBeNull();
    expect(initiator.consumeResponse(retry.response)).toBeNull(); // duplicate
  });

  it('the initiator ignores a RESP addressed to another local index', () => {
    const { responder } = makeResponder();
    const mine = makeInitiator({ index: 1 });
    const other = makeInitiator({ index: 2 });
    mine.createInitiation();
    const result = responder.consumeInitiation(other.createInitiation(), SOURCE);
    if (!result.ok) throw new Error(result.reason);
    expect(mine.consumeResponse(result.response)).toBeNull();
  });

  it('a RESP made for another client key fails mac1 at the initiator', () => {
    const otherClient = generateKeyPair();
    const { responder } = makeResponder({ isAuthorized: () => true });
    const victim = makeInitiator({ index: 5 });
    victim.createInitiation();
    const result = responder.consumeInitiation(makeInitiator({ keys: otherClient, index: 5 }).createInitiation(), SOURCE);
    if (!result.ok) throw new Error(result.reason);
    expect(victim.consumeResponse(result.response)).toBeNull();
  });
});

describe('rate limiting', () => {
  it('allows the burst, refuses the next INIT, and recovers at the configured rate', () => {
    const { responder } = makeResponder({ rateLimit: { perSecond: 20, burst: 10 } });
    const initiator = makeInitiator();
    const t0 = 1_000_000;
    for (let i = 0; i < 10; i++) expect(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0).ok).toBe(true);
    expectFailure(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0), 'rate-limited');
    expectFailure(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0 + 40), 'rate-limited'); // 0.8 token
    expect(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0 + 50).ok).toBe(true); // 1 token
    expectFailure(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0 + 50), 'rate-limited');
    // Another source has its own bucket.
    expect(responder.consumeInitiation(initiator.createInitiation(), { address: '192.0.2.8', port: 1 }, t0).ok).toBe(true);
    // A full second refills the burst, never more.
    for (let i = 0; i < 10; i++) expect(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0 + 5000).ok).toBe(true);
    expectFailure(responder.consumeInitiation(initiator.createInitiation(), SOURCE, t0 + 5000), 'rate-limited');
  });

  it('applies the defaults (burst 10) when no rateLimit is given', () => {
    const { responder } = makeResponder({ rateLimit: undefined });
    const initiator = makeInitiator();
    const results = Array.from({ length: 11 }, () => responder.consumeInitiation(initiator.createInitiation(), SOURCE, 0));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expectFailure(results[10]!, 'rate-limited');
  });

  it('packets failing mac1 do not consume tokens', () => {
    const { responder } = makeResponder({ rateLimit: { perSecond: 1, burst: 1 } });
    const stranger = makeInitiator({ serverKey: generateKeyPair().publicKey });
    for (let i = 0; i < 50; i++) expectFailure(responder.consumeInitiation(stranger.createInitiation(), SOURCE, 0), 'mac1');
    expect(responder.consumeInitiation(makeInitiator().createInitiation(), SOURCE, 0).ok).toBe(true);
  });
});

describe('constructor validation', () => {
  it.each([
    [{ lanes: 0 }, /lanes must be an integer from 1 to 16, got 0/],
    [{ lanes: 17 }, /lanes must be an integer from 1 to 16, got 17/],
    [{ cipher: 'rot13' as CipherName }, /cipher must be/],
    [{ index: -1 }, /localIndex must be an integer from 0 to 4294967295, got -1/],
    [{ index: 2 ** 32 }, /localIndex must be/],
    [{ serverKey: new Uint8Array(31) }, /responderPublicKey must be 32 bytes, got 31 bytes/],
    [{ serverKey: new Uint8Array(32) }, /low-order/],
    [{ keys: { publicKey: server.publicKey, privateKey: client.privateKey } }, /staticKeys.publicKey does not belong/],
  ])('HandshakeInitiator rejects %o', (options, message) => {
    expect(() => makeInitiator(options)).toThrow(message);
  });

  it('HandshakeResponder rejects bad options, naming them', () => {
    expect(() => makeResponder({ minCipher: 'des' as CipherName })).toThrow(/minCipher must be/);
    expect(() => makeResponder({ maxLanes: 0 })).toThrow(/maxLanes must be an integer from 1 to 16/);
    expect(() => makeResponder({ rateLimit: { perSecond: 0, burst: 10 } })).toThrow(/perSecond must be a positive number/);
    expect(() => makeResponder({ staticKeys: { publicKey: client.publicKey, privateKey: server.privateKey } })).toThrow(
      /staticKeys.publicKey does not belong/,
    );
    expect(() => makeResponder({ isAuthorized: undefined as never })).toThrow(/isAuthorized must be a function/);
  });
});
