// handshake-cookie.test.ts — cookies under load (WireGuard-style mac2): the COOKIE REPLY
// round trip, what a responder under load accepts and answers, Rm rotation and the
// initiator's cookie lifetime (clocks injected), and the load meter. DH work is counted by
// spying on libsodium's X25519.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateKeyPair, keysEqual, type KeyPair } from '../../src/keys/key-encoding.js';
import { sodium } from '../../src/keys/sodium.js';
import { HandshakeInitiator, HandshakeResponder, type HandshakeResponderOptions, type ResponderResult } from '../../src/handshake/index.js';
import {
  COOKIE_ENCRYPTED_OFFSET,
  COOKIE_LIFETIME_MS,
  COOKIE_NONCE_OFFSET,
  COOKIE_SECRET_LIFETIME_MS,
  HANDSHAKE_COOKIE_LENGTH,
  HANDSHAKE_COOKIE_TYPE,
  INIT_MAC1_OFFSET,
  INIT_MAC2_OFFSET,
  cookieReplyKey,
  decodeCookieReply,
  encodeCookieReply,
  readU32,
} from '../../src/handshake/packets.js';
import { HandshakeLoadMeter, LOAD_HOLD_MS } from '../../src/handshake/load-meter.js';

const SOURCE = { address: '192.0.2.7', port: 40000 };
const server = generateKeyPair();
const client = generateKeyPair();
const other = generateKeyPair();
const T0 = 1_700_000_000_000; // the injected clock, ms

afterEach(() => {
  vi.restoreAllMocks();
});

function makeResponder(overrides: Partial<HandshakeResponderOptions> = {}) {
  let next = 1;
  const isAuthorized = vi.fn((key: Uint8Array) => keysEqual(key, client.publicKey) || keysEqual(key, other.publicKey));
  const allocateIndex = vi.fn(() => next++);
  const responder = new HandshakeResponder({
    staticKeys: server,
    minCipher: 'chacha20-poly1305',
    isAuthorized,
    allocateIndex,
    rateLimit: { perSecond: 1000, burst: 1000 },
    loadThreshold: 1, // one DH in the last second puts it under load
    ...overrides,
  });
  return { responder, isAuthorized, allocateIndex };
}

function makeInitiator(keys: KeyPair = client, index = 7) {
  return new HandshakeInitiator({
    staticKeys: keys,
    responderPublicKey: server.publicKey,
    localIndex: index,
    cipher: 'aes-256-gcm',
    lanes: 2,
  });
}

/** X25519 operations from now on. */
function countDh() {
  return vi.spyOn(sodium, 'crypto_scalarmult');
}

/** One completed handshake from a second client at `t`: does DH work, so the responder (threshold 1) is under load for the next second. */
function loadUp(responder: HandshakeResponder, t: number): void {
  const result = responder.consumeInitiation(
    makeInitiator(other, 99).createInitiation(new Date(t)),
    { address: '198.51.100.1', port: 1 },
    t,
  );
  expect(result.ok).toBe(true);
}

function expectCookie(result: ResponderResult, reason: 'cookie-sent' | 'bad-mac2'): Uint8Array {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.reason).toBe(reason);
  expect(result.peerPublicKey).toBeUndefined();
  const reply = result.cookieReply!;
  expect(reply).toHaveLength(HANDSHAKE_COOKIE_LENGTH);
  return reply;
}

const mac2Of = (init: Uint8Array) => init.subarray(INIT_MAC2_OFFSET);
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

describe('cookie reply round trip', () => {
  it('under load: an INIT without mac2 gets a COOKIE REPLY and no DH; the retry with mac2 completes', () => {
    const { responder, isAuthorized, allocateIndex } = makeResponder();
    loadUp(responder, T0);
    const initiator = makeInitiator(client, 0xdeadbeef);
    const first = initiator.createInitiation(new Date(T0 + 10));
    expect(isZero(mac2Of(first))).toBe(true);

    const dh = countDh();
    const reply = expectCookie(responder.consumeInitiation(first, SOURCE, T0 + 10), 'cookie-sent');
    expect(dh).not.toHaveBeenCalled();
    expect(isAuthorized).toHaveBeenCalledTimes(1); // only by loadUp
    expect(allocateIndex).toHaveBeenCalledTimes(1);
    expect(reply[0]).toBe(HANDSHAKE_COOKIE_TYPE);
    expect([...reply.subarray(1, 4)]).toEqual([0, 0, 0]);
    expect(readU32(reply, 4)).toBe(0xdeadbeef);

    expect(initiator.consumeCookieReply(reply, T0 + 11)).toBe(true);
    expect(initiator.consumeCookieReply(reply, T0 + 11)).toBe(false); // one reply per INIT
    const retry = initiator.createInitiation(new Date(T0 + 12));
    expect(isZero(mac2Of(retry))).toBe(false);
    const dhBefore = dh.mock.calls.length;
    const result = responder.consumeInitiation(retry, SOURCE, T0 + 12);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(dh.mock.calls.length - dhBefore).toBe(4); // the real work (es, ss, ee, se) for the proven source
    const done = initiator.consumeResponse(result.response);
    expect(done).not.toBeNull();
    expect(done!.keys.sendKey).toEqual(result.keys.recvKey);
    expect(done!.keys.recvKey).toEqual(result.keys.sendKey);
  });

  it('the cookie is sealed with XChaCha20-Poly1305 under HASH("cookie--" || server key) with the INIT mac1 as AD', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const init = makeInitiator().createInitiation(new Date(T0 + 1));
    const reply = expectCookie(responder.consumeInitiation(init, SOURCE, T0 + 1), 'cookie-sent');
    const mac1 = init.subarray(INIT_MAC1_OFFSET, INIT_MAC2_OFFSET);
    const key = sodium.crypto_generichash(32, Uint8Array.of(...new TextEncoder().encode('cookie--'), ...server.publicKey), null);
    expect(cookieReplyKey(server.publicKey)).toEqual(key);
    const cookie = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      reply.subarray(COOKIE_ENCRYPTED_OFFSET),
      mac1,
      reply.subarray(COOKIE_NONCE_OFFSET, COOKIE_ENCRYPTED_OFFSET),
      key,
    );
    expect(cookie).toHaveLength(16);
    expect(decodeCookieReply(key, reply, mac1)).toEqual(cookie);
    // mac2 = BLAKE2b-128 keyed by the cookie over the INIT before mac2.
    const initiator = makeInitiator();
    initiator.createInitiation(new Date(T0 + 2));
    const mine = encodeCookieReply(key, 7, cookie, initiator['lastMac1']!);
    expect(initiator.consumeCookieReply(mine, T0 + 2)).toBe(true);
    const withMac2 = initiator.createInitiation(new Date(T0 + 3));
    expect(mac2Of(withMac2)).toEqual(sodium.crypto_generichash(16, withMac2.subarray(0, INIT_MAC2_OFFSET), cookie));
  });

  it('the initiator ignores a reply that does not decrypt or is not for its latest INIT', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const initiator = makeInitiator();
    expect(initiator.consumeCookieReply(new Uint8Array(64), T0)).toBe(false); // no INIT yet
    const old = initiator.createInitiation(new Date(T0 + 1));
    const oldReply = expectCookie(responder.consumeInitiation(old, SOURCE, T0 + 1), 'cookie-sent');
    const latest = initiator.createInitiation(new Date(T0 + 2));
    expect(initiator.consumeCookieReply(oldReply, T0 + 2)).toBe(false); // AD = an earlier mac1
    const reply = expectCookie(responder.consumeInitiation(latest, SOURCE, T0 + 2), 'cookie-sent');
    for (const at of [0, 2, 4, 8, 31, 32, 50, 63]) {
      const bad = reply.slice();
      bad[at]! ^= 0x01;
      expect(initiator.consumeCookieReply(bad, T0 + 2), `byte ${at}`).toBe(false);
    }
    expect(initiator.consumeCookieReply(reply.subarray(0, 63), T0 + 2)).toBe(false);
    expect(initiator.consumeCookieReply(Uint8Array.of(...reply, 0), T0 + 2)).toBe(false);
    // Sealed under another responder's key: refused.
    const forged = encodeCookieReply(
      cookieReplyKey(generateKeyPair().publicKey),
      7,
      new Uint8Array(16),
      latest.subarray(INIT_MAC1_OFFSET, INIT_MAC2_OFFSET),
    );
    expect(initiator.consumeCookieReply(forged, T0 + 2)).toBe(false);
    // Nothing was stored: the next INIT still has no mac2. The genuine reply still works.
    expect(initiator.consumeCookieReply(reply, T0 + 2)).toBe(true);
    expect(isZero(mac2Of(initiator.createInitiation(new Date(T0 + 3))))).toBe(false);
  });

  it('a COOKIE REPLY or RESP handed to the responder is malformed', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const reply = expectCookie(
      responder.consumeInitiation(makeInitiator().createInitiation(new Date(T0 + 1)), SOURCE, T0 + 1),
      'cookie-sent',
    );
    const result = responder.consumeInitiation(reply, SOURCE, T0 + 2);
    expect(result).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('responder under load', () => {
  it('answers a wrong mac2 with a cookie (bad-mac2) and does no DH', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const init = makeInitiator().createInitiation(new Date(T0 + 1));
    init.set(sodium.randombytes_buf(16), INIT_MAC2_OFFSET);
    const dh = countDh();
    expectCookie(responder.consumeInitiation(init, SOURCE, T0 + 1), 'bad-mac2');
    expect(dh).not.toHaveBeenCalled();
  });

  it('refuses a cookie made for another address or port', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const initiator = makeInitiator();
    const reply = expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 1)), SOURCE, T0 + 1), 'cookie-sent');
    expect(initiator.consumeCookieReply(reply, T0 + 1)).toBe(true);
    const froms = [
      { address: '192.0.2.8', port: SOURCE.port },
      { address: SOURCE.address, port: SOURCE.port + 1 },
      { address: '::ffff:192.0.2.7', port: SOURCE.port },
    ];
    const inits = froms.map(() => initiator.createInitiation(new Date(T0 + 2))); // each with a valid mac2 for SOURCE
    const dh = countDh();
    froms.forEach((from, i) => expectCookie(responder.consumeInitiation(inits[i]!, from, T0 + 2), 'bad-mac2'));
    expect(dh).not.toHaveBeenCalled();
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 3)), SOURCE, T0 + 3).ok).toBe(true);
  });

  it('does not require mac2 when not under load, and becomes unloaded again a second after the load stops', () => {
    const { responder } = makeResponder();
    const initiator = makeInitiator();
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(T0)), SOURCE, T0).ok).toBe(true); // no mac2, no load
    expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 500)), SOURCE, T0 + 500), 'cookie-sent');
    // The DH left the window at T0 + 1000; the load is held LOAD_HOLD_MS past the last INIT that saw it.
    expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 1100)), SOURCE, T0 + 1100), 'cookie-sent');
    const later = T0 + 500 + LOAD_HOLD_MS + 1;
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(later)), SOURCE, later).ok).toBe(true);
  });

  it('cookie replies take no rate-limit tokens; the proven source is rate-limited as before', () => {
    const { responder } = makeResponder({ rateLimit: { perSecond: 1, burst: 1 } });
    const initiator = makeInitiator();
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(T0)), SOURCE, T0).ok).toBe(true); // the token
    const reply = expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 1)), SOURCE, T0 + 1), 'cookie-sent');
    expect(initiator.consumeCookieReply(reply, T0 + 1)).toBe(true);
    const limited = responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 2)), SOURCE, T0 + 2);
    expect(limited).toEqual({ ok: false, reason: 'rate-limited' });
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 1100)), SOURCE, T0 + 1100).ok).toBe(true);
  });

  it('rotates Rm every 2 minutes: an older cookie then fails as bad-mac2', () => {
    const { responder } = makeResponder();
    const initiator = makeInitiator();
    loadUp(responder, T0);
    expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 1)), SOURCE, T0 + 1), 'cookie-sent'); // Rm made at T0 + 1
    // The initiator's cookie comes a minute later, so its own 120 s lifetime outlasts Rm.
    const mid = T0 + 60_000;
    loadUp(responder, mid);
    const reply = expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(mid + 1)), SOURCE, mid + 1), 'cookie-sent');
    expect(initiator.consumeCookieReply(reply, mid + 1)).toBe(true);

    const before = T0 + COOKIE_SECRET_LIFETIME_MS - 1000; // Rm still the same
    loadUp(responder, before);
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(before + 1)), SOURCE, before + 1).ok).toBe(true);

    const after = T0 + COOKIE_SECRET_LIFETIME_MS + 1000; // Rm replaced
    loadUp(responder, after);
    const stale = initiator.createInitiation(new Date(after + 1));
    expect(isZero(mac2Of(stale))).toBe(false);
    const fresh = expectCookie(responder.consumeInitiation(stale, SOURCE, after + 1), 'bad-mac2');
    // The reply carries the new cookie, and the retry with it gets through.
    expect(initiator.consumeCookieReply(fresh, after + 1)).toBe(true);
    expect(responder.consumeInitiation(initiator.createInitiation(new Date(after + 2)), SOURCE, after + 2).ok).toBe(true);
  });
});

describe('initiator cookie lifetime', () => {
  it('a session attempt after a completed handshake (a reconnect) still carries the cookie and is accepted under load', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const initiator = makeInitiator();
    const reply = expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0)), SOURCE, T0), 'cookie-sent');
    expect(initiator.consumeCookieReply(reply, T0)).toBe(true);
    const first = responder.consumeInitiation(initiator.createInitiation(new Date(T0 + 1)), SOURCE, T0 + 1);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(initiator.consumeResponse(first.response)).not.toBeNull();
    // The session is lost; the same initiator starts over 30 s later, still under load.
    loadUp(responder, T0 + 30_000);
    const again = initiator.createInitiation(new Date(T0 + 30_000));
    expect(isZero(mac2Of(again))).toBe(false);
    const second = responder.consumeInitiation(again, SOURCE, T0 + 30_000);
    expect(second.ok).toBe(true); // no cookie round trip, and not a replay
    if (!second.ok) return;
    expect(initiator.consumeResponse(second.response)).not.toBeNull();
  });

  it('puts mac2 on INITs for 120 s after the cookie, then sends a zero mac2 again', () => {
    const { responder } = makeResponder();
    loadUp(responder, T0);
    const initiator = makeInitiator();
    const reply = expectCookie(responder.consumeInitiation(initiator.createInitiation(new Date(T0)), SOURCE, T0), 'cookie-sent');
    expect(initiator.consumeCookieReply(reply, T0)).toBe(true);
    expect(isZero(mac2Of(initiator.createInitiation(new Date(T0 + COOKIE_LIFETIME_MS - 1))))).toBe(false);
    expect(isZero(mac2Of(initiator.createInitiation(new Date(T0 + COOKIE_LIFETIME_MS))))).toBe(true);
  });
});

describe('HandshakeLoadMeter', () => {
  it('is under load at `threshold` DHs in the last second, held for a second after', () => {
    const meter = new HandshakeLoadMeter(3);
    for (let i = 0; i < 3; i++) {
      expect(meter.arrive(T0 + i * 100)).toBe(false);
      meter.dhStarted(T0 + i * 100);
    }
    expect(meter.arrive(T0 + 300)).toBe(true);
    // At T0 + 1150 only the DH of T0 + 200 is in the window (1 < 3), but the hold from T0 + 300 runs.
    expect(meter.arrive(T0 + 1150)).toBe(true);
    expect(meter.arrive(T0 + 300 + LOAD_HOLD_MS + 1)).toBe(false);
  });

  it('is under load when valid-mac1 INITs arrive at more than 4× the threshold, even with no DH', () => {
    const meter = new HandshakeLoadMeter(2);
    const seen = Array.from({ length: 9 }, (_, i) => meter.arrive(T0 + i));
    expect(seen.slice(0, 8).every((x) => !x)).toBe(true);
    expect(seen[8]).toBe(true);
  });

  it('rejects a bad threshold', () => {
    for (const bad of [0, -1, 1.5, NaN, 2e6])
      expect(() => new HandshakeLoadMeter(bad)).toThrow(/loadThreshold must be an integer from 1 to 1000000/);
    expect(() => makeResponder({ loadThreshold: 0 })).toThrow(/loadThreshold must be an integer/);
  });
});
