import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeKey, generateKeyPair, parsePrivateKey, parsePublicKey, publicKeyFromPrivate } from '../../src/keys/key-encoding.js';
import { formatKeyFile, readKeyFile, writeKeyFile } from '../../src/state/key-file.js';

const sample = new Uint8Array(32).map((_, i) => i * 7 + 1);
const sampleText = Buffer.from(sample).toString('base64');

describe('encodeKey / parsePublicKey', () => {
  it('round-trips 32 bytes through 44 characters of standard base64', () => {
    const text = encodeKey(sample);
    expect(text).toHaveLength(44);
    expect(text).toBe(sampleText);
    expect(parsePublicKey(text)).toEqual(sample);
  });

  it('refuses surrounding whitespace (a 45-character key with a leading space, a pasted newline)', () => {
    for (const text of [` ${sampleText}`, `${sampleText} `, `${sampleText}\n`, `\t${sampleText}`]) {
      expect(() => parsePublicKey(text, 'clientPublicKey')).toThrow(/clientPublicKey has leading or trailing whitespace/);
    }
  });

  // libsodium's list of small-order X25519 points; the top bit is ignored by X25519.
  const lowOrder = [
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880', // top bit set
    '0000000000000000000000000000000000000000000000000000000000000080',
  ];
  it.each(lowOrder)('refuses the low-order point %s as a public key', (hex) => {
    const text = Buffer.from(hex, 'hex').toString('base64');
    expect(() => parsePublicKey(text, 'clientPublicKey')).toThrow(/clientPublicKey is (a low-order X25519 point|all zeros)/);
  });

  it.each([
    ['', /server key is empty/],
    ['   ', /server key is empty/],
    ['not a key!', /server key is not base64: unexpected character " " at position 3/],
    [sampleText.slice(0, 40) + '-_' + sampleText.slice(42), /URL-safe base64/],
    [Buffer.alloc(16, 1).toString('base64'), /decodes to 16 bytes, expected 32/],
    [Buffer.alloc(33, 1).toString('base64'), /decodes to 33 bytes, expected 32/],
    [sampleText.slice(0, 43), /not a multiple of 4/],
    ['=' + sampleText.slice(1), /misplaced '='/],
    [sampleText.slice(0, 42) + sampleText[42]!.replace(/./, (c) => (c === 'B' ? 'C' : 'B')) + '=', /not canonical/],
    [Buffer.alloc(32).toString('base64'), /all zeros/],
  ])('rejects %j with JETRECV_ERR_BAD_KEY', (text, message) => {
    let caught: unknown;
    try {
      parsePublicKey(text, 'server key');
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'JETRECV_ERR_BAD_KEY' });
    expect((caught as Error).message).toMatch(message);
  });

  it('rejects a non-string with a clear message', () => {
    expect(() => parsePublicKey(42 as unknown as string)).toThrow(/public key must be a string/);
  });

  it('encodeKey refuses anything that is not 32 bytes', () => {
    expect(() => encodeKey(new Uint8Array(31))).toThrow(/got 31 bytes, expected 32/);
  });

  it('parsePrivateKey accepts any 32 bytes, including zeros', () => {
    expect(parsePrivateKey(Buffer.alloc(32).toString('base64'))).toEqual(new Uint8Array(32));
  });
});

describe('generateKeyPair / publicKeyFromPrivate', () => {
  it('produces distinct 32-byte pairs whose public key matches the private key', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.publicKey).toHaveLength(32);
    expect(a.privateKey).toHaveLength(32);
    expect(publicKeyFromPrivate(a.privateKey)).toEqual(a.publicKey);
    expect(a.publicKey).not.toEqual(b.publicKey);
  });

  it('agrees with Node crypto on the X25519 public key of a private key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    const priv = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    expect(Buffer.from(publicKeyFromPrivate(priv))).toEqual(pub);
  });
});

describe('key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetrecv-keys-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the documented JSON with mode 0600 and reads it back without warning', async () => {
    const kp = generateKeyPair();
    const file = path.join(dir, 'sender.key');
    await writeKeyFile(file, kp);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      type: 'jetrecv-x25519',
      publicKey: encodeKey(kp.publicKey),
      privateKey: encodeKey(kp.privateKey),
    });
    const read = await readKeyFile(file);
    expect(read.keyPair).toEqual(kp);
    expect(read.warning).toBeUndefined();
  });

  it('refuses to overwrite an existing file unless force is set', async () => {
    const file = path.join(dir, 'sender.key');
    const first = generateKeyPair();
    const second = generateKeyPair();
    await writeKeyFile(file, first);
    await expect(writeKeyFile(file, second)).rejects.toMatchObject({
      code: 'JETRECV_ERR_DISK',
      message: expect.stringMatching(/already exists.*--force/),
    });
    expect((await readKeyFile(file)).keyPair).toEqual(first);
    await writeKeyFile(file, second, { force: true });
    expect((await readKeyFile(file)).keyPair).toEqual(second);
    expect(fs.readdirSync(dir)).toEqual(['sender.key']);
  });

  it('reports a missing file as JETRECV_ERR_DISK naming the path', async () => {
    const file = path.join(dir, 'nope.key');
    await expect(readKeyFile(file)).rejects.toMatchObject({
      code: 'JETRECV_ERR_DISK',
      message: expect.stringContaining(`${file} does not exist`),
    });
  });

  it('reports a directory given as key file', async () => {
    await expect(readKeyFile(dir)).rejects.toMatchObject({
      code: 'JETRECV_ERR_DISK',
      message: expect.stringContaining('is a directory'),
    });
  });

  const kp = generateKeyPair();
  const other = generateKeyPair();
  const good = { type: 'jetrecv-x25519', publicKey: encodeKey(kp.publicKey), privateKey: encodeKey(kp.privateKey) };
  it.each([
    ['empty', '', /is empty/],
    ['not JSON', '{"type": ', /is not valid JSON/],
    ['an array', '[]', /is not a JSON object/],
    ['wrong type', JSON.stringify({ ...good, type: 'wireguard' }), /has type "wireguard", expected "jetrecv-x25519"/],
    ['missing privateKey', JSON.stringify({ type: good.type, publicKey: good.publicKey }), /no string field "privateKey"/],
    ['bad public key', JSON.stringify({ ...good, publicKey: 'abc' }), /publicKey in key file .* is not base64/],
    [
      'short private key',
      JSON.stringify({ ...good, privateKey: Buffer.alloc(31).toString('base64') }),
      /privateKey in key file .* decodes to 31 bytes/,
    ],
    ['mismatched pair', JSON.stringify({ ...good, publicKey: encodeKey(other.publicKey) }), /does not belong to its privateKey/],
  ])('rejects a key file that is %s with JETRECV_ERR_BAD_KEY', async (_label, content, message) => {
    const file = path.join(dir, 'bad.key');
    fs.writeFileSync(file, content, { mode: 0o600 });
    const err = await readKeyFile(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'JETRECV_ERR_BAD_KEY' });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(file);
  });

  it('accepts extra unknown fields', async () => {
    const file = path.join(dir, 'extra.key');
    fs.writeFileSync(file, JSON.stringify({ ...good, comment: 'laptop' }), { mode: 0o600 });
    expect((await readKeyFile(file)).keyPair).toEqual(kp);
  });

  it('returns a warning, not an error, for a file readable by group or other', async () => {
    const file = path.join(dir, 'open.key');
    fs.writeFileSync(file, formatKeyFile(kp));
    fs.chmodSync(file, 0o644);
    const read = await readKeyFile(file);
    expect(read.keyPair).toEqual(kp);
    expect(read.warning).toMatch(/mode 0644.*chmod 600/);
  });
});
