// Known-answer tests of the Noise building blocks and of the IK pattern itself.
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { publicKeyFromPrivate } from '../../src/keys/key-encoding.js';
import { aeadDecrypt, aeadEncrypt, dh, hash, hkdf2, hmacBlake2b, noiseNonce } from '../../src/handshake/noise-crypto.js';
import {
  ikMessage1Length,
  ikMessage2Length,
  ikReadMessage1Payload,
  ikReadMessage1Static,
  ikReadMessage2,
  ikWriteMessage1,
  ikWriteMessage2,
} from '../../src/handshake/noise-ik.js';
import { compareBytes, encodeTai64n } from '../../src/handshake/packets.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nodeHmac = (key: Uint8Array, data: Uint8Array): Uint8Array => new Uint8Array(createHmac('blake2b512', key).update(data).digest());

describe('BLAKE2b and HMAC-BLAKE2b', () => {
  it('hash is BLAKE2b-512 (matches Node crypto)', () => {
    const data = new TextEncoder().encode('abc');
    expect(toHex(hash(data))).toBe(createHash('blake2b512').update(data).digest('hex'));
  });

  it.each([
    ['empty key, empty text', 0, 0],
    ['64-byte key (Noise chaining key size)', 64, 33],
    ['key exactly one block (128 bytes)', 128, 1],
    ['key longer than a block (hashed first)', 200, 300],
    ['short key, long text', 5, 1000],
  ])('matches Node createHmac("blake2b512") for %s', (_label, keyLen, textLen) => {
    const key = new Uint8Array(keyLen).map((_, i) => (i * 31 + 7) & 0xff);
    const text = new Uint8Array(textLen).map((_, i) => (i * 17 + 3) & 0xff);
    expect(toHex(hmacBlake2b(key, text))).toBe(toHex(nodeHmac(key, text)));
  });

  it('HKDF follows the Noise definition (checked with Node HMAC)', () => {
    const ck = new Uint8Array(64).fill(0x11);
    const ikm = new Uint8Array(32).fill(0x22);
    const temp = nodeHmac(ck, ikm);
    const out1 = nodeHmac(temp, Uint8Array.of(1));
    const out2 = nodeHmac(temp, Uint8Array.of(...out1, 2));
    const [a, b] = hkdf2(ck, ikm);
    expect(toHex(a)).toBe(toHex(out1));
    expect(toHex(b)).toBe(toHex(out2));
  });
});

describe('ChaChaPoly with the Noise nonce', () => {
  it('builds the nonce as 4 zero bytes then a 64-bit little-endian counter', () => {
    expect(toHex(noiseNonce(0))).toBe('000000000000000000000000');
    expect(toHex(noiseNonce(0x0102030405))).toBe('000000000504030201000000');
  });

  it('round-trips, and rejects a wrong counter, wrong AD or a flipped bit', () => {
    const key = new Uint8Array(32).fill(9);
    const ad = Uint8Array.of(1, 2, 3);
    const ct = aeadEncrypt(key, 5, ad, Uint8Array.of(10, 20, 30));
    expect(ct).toHaveLength(3 + 16);
    expect(aeadDecrypt(key, 5, ad, ct)).toEqual(Uint8Array.of(10, 20, 30));
    expect(aeadDecrypt(key, 6, ad, ct)).toBeNull();
    expect(aeadDecrypt(key, 5, Uint8Array.of(1, 2), ct)).toBeNull();
    const flipped = ct.slice();
    flipped[0]! ^= 1;
    expect(aeadDecrypt(key, 5, ad, flipped)).toBeNull();
    expect(aeadDecrypt(key, 5, ad, ct.subarray(0, 10))).toBeNull();
  });

  it('dh returns null for a low-order point instead of throwing', () => {
    expect(dh(new Uint8Array(32).fill(5), new Uint8Array(32))).toBeNull();
  });
});

describe('TAI64N', () => {
  it('encodes seconds + 2^62 and nanoseconds, big-endian, ordered byte-wise', () => {
    const ns = 1_700_000_000_123_456_789n;
    expect(toHex(encodeTai64n(ns))).toBe('400000006553f100' + '075bcd15');
    expect(compareBytes(encodeTai64n(ns), encodeTai64n(ns + 1n))).toBe(-1);
    expect(compareBytes(encodeTai64n(ns + 1_000_000_000n), encodeTai64n(ns + 999_999_999n))).toBe(1);
  });
});

// Noise_IK_25519_ChaChaPoly_BLAKE2b vector from the noise-c project's
// tests/vector/noise-c-basic.txt (the cacophony-format vectors), computed independently of us.
const vector = {
  prologue: hex('50726f6c6f677565313233'),
  initStatic: hex('e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1'),
  initEphemeral: hex('893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a'),
  respStatic: hex('4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893'),
  respStaticPublic: '31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62',
  respEphemeral: hex('bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b'),
  payload1: hex('4c756477696720766f6e204d69736573'),
  message1:
    'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944' +
    'ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd232fe541af156ec6d0657602902a8c3e' +
    'e64e470f4b6fcd9298ce0b56fe20f86e60d9d933ec6e103ffb09e6001d6abb64',
  payload2: hex('4d757272617920526f746862617264'),
  message2:
    '95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843' + '9f069b267a06b3de3ecb1043bcb09807c6cd101f3826192a65f11ef3fe4317',
  handshakeHash:
    '00e51d2aac81a9b8ebe441d6af3e1c8efc0f030cc608332edcb42588ff6a0ce2' + '6415ddc106e95277a5e6d54132f1e5245976b89caf96d262f1fe5a7f0c55c078',
  // First transport messages: initiator -> responder with k1, responder -> initiator with k2.
  transportInit: { plain: hex('462e20412e20486179656b'), cipher: 'cd54383060e7a28434cca27fb1cc524cfbabeb18181589df219d07' },
  transportResp: { plain: hex('4361726c204d656e676572'), cipher: 'a856d3bf0246bfc476c655009cd1ed677b8dcc5b349ae8ef2a05f2' },
};

describe('Noise IK known-answer vector (noise-c)', () => {
  it('reproduces both messages, the handshake hash and the Split keys', () => {
    const initiatorKeys = { privateKey: vector.initStatic, publicKey: publicKeyFromPrivate(vector.initStatic) };
    const responderKeys = { privateKey: vector.respStatic, publicKey: publicKeyFromPrivate(vector.respStatic) };
    expect(toHex(responderKeys.publicKey)).toBe(vector.respStaticPublic);

    const m1 = ikWriteMessage1({
      prologue: vector.prologue,
      staticKeys: initiatorKeys,
      responderPublicKey: responderKeys.publicKey,
      payload: vector.payload1,
      ephemeralPrivateKey: vector.initEphemeral,
    });
    expect(m1).not.toBeNull();
    expect(toHex(m1!.message)).toBe(vector.message1);
    expect(m1!.message).toHaveLength(ikMessage1Length(vector.payload1.length));

    const partial = ikReadMessage1Static({ prologue: vector.prologue, staticKeys: responderKeys, message: m1!.message });
    expect(partial).not.toBeNull();
    expect(partial!.remoteStatic).toEqual(initiatorKeys.publicKey);
    const read1 = ikReadMessage1Payload(partial!);
    expect(read1!.payload).toEqual(vector.payload1);

    const m2 = ikWriteMessage2({
      afterMessage1: read1!.state,
      remoteEphemeral: partial!.remoteEphemeral,
      remoteStatic: partial!.remoteStatic,
      payload: vector.payload2,
      ephemeralPrivateKey: vector.respEphemeral,
    });
    expect(toHex(m2!.message)).toBe(vector.message2);
    expect(m2!.message).toHaveLength(ikMessage2Length(vector.payload2.length));
    expect(toHex(m2!.result.handshakeHash)).toBe(vector.handshakeHash);

    const read2 = ikReadMessage2(m1!.pending, m2!.message);
    expect(read2!.payload).toEqual(vector.payload2);
    expect(toHex(read2!.result.handshakeHash)).toBe(vector.handshakeHash);
    expect(read2!.result.k1).toEqual(m2!.result.k1);
    expect(read2!.result.k2).toEqual(m2!.result.k2);

    // The Split keys are checked through the vector's first transport message each way.
    const k1 = read2!.result.k1;
    const k2 = read2!.result.k2;
    expect(toHex(aeadEncrypt(k1, 0, new Uint8Array(0), vector.transportInit.plain))).toBe(vector.transportInit.cipher);
    expect(toHex(aeadEncrypt(k2, 0, new Uint8Array(0), vector.transportResp.plain))).toBe(vector.transportResp.cipher);
  });

  it('read functions do not mutate the state they are given: a forged message 2 does not spoil the real one', () => {
    const initiatorKeys = { privateKey: vector.initStatic, publicKey: publicKeyFromPrivate(vector.initStatic) };
    const responderKeys = { privateKey: vector.respStatic, publicKey: publicKeyFromPrivate(vector.respStatic) };
    const m1 = ikWriteMessage1({
      prologue: vector.prologue,
      staticKeys: initiatorKeys,
      responderPublicKey: responderKeys.publicKey,
      payload: vector.payload1,
      ephemeralPrivateKey: vector.initEphemeral,
    })!;
    const forged = hex(vector.message2);
    forged[40]! ^= 0x80;
    expect(ikReadMessage2(m1.pending, forged)).toBeNull();
    expect(ikReadMessage2(m1.pending, hex(vector.message2))!.payload).toEqual(vector.payload2);
  });
});
