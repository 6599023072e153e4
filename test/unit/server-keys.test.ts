import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeKey, generateKeyPair, publicKeyFromPrivate } from '../../src/keys/key-encoding.js';
import { formatKeyFile } from '../../src/state/key-file.js';
import { loadOrCreateServerKeys, SERVER_KEY_FILE } from '../../src/state/server-keys.js';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'jetrecv-srvkeys-'));
});
afterEach(() => {
  fs.chmodSync(root, 0o700);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('loadOrCreateServerKeys', () => {
  it('without a state dir returns a fresh valid pair on every call', async () => {
    const a = await loadOrCreateServerKeys(undefined);
    const b = await loadOrCreateServerKeys(undefined);
    expect(a.created).toBe(true);
    expect(a.path).toBeUndefined();
    expect(publicKeyFromPrivate(a.keys.privateKey)).toEqual(a.keys.publicKey);
    expect(a.keys.publicKey).not.toEqual(b.keys.publicKey);
  });

  it('creates the dir (0700) and key file (0600) on first start, then reloads the same identity', async () => {
    const stateDir = path.join(root, 'state', 'nested');
    const first = await loadOrCreateServerKeys(stateDir);
    const keyPath = path.join(stateDir, SERVER_KEY_FILE);
    expect(first).toMatchObject({ created: true, path: keyPath });
    expect(fs.statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(stateDir)).toEqual([SERVER_KEY_FILE]);
    expect(JSON.parse(fs.readFileSync(keyPath, 'utf8')).publicKey).toBe(encodeKey(first.keys.publicKey));

    const second = await loadOrCreateServerKeys(stateDir);
    expect(second.created).toBe(false);
    expect(second.keys).toEqual(first.keys);
    expect(second.warning).toBeUndefined();
  });

  it('uses an existing key file written by someone else', async () => {
    const kp = generateKeyPair();
    fs.writeFileSync(path.join(root, SERVER_KEY_FILE), formatKeyFile(kp), { mode: 0o600 });
    const loaded = await loadOrCreateServerKeys(root);
    expect(loaded.created).toBe(false);
    expect(loaded.keys).toEqual(kp);
  });

  it('concurrent first starts agree on one identity', async () => {
    const results = await Promise.all([loadOrCreateServerKeys(root), loadOrCreateServerKeys(root)]);
    expect(results[0]!.keys).toEqual(results[1]!.keys);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it.each([
    ['empty', ''],
    ['torn JSON', '{"type":"jetrecv-x25519","publicKey":"AAAA'],
    ['wrong type', JSON.stringify({ type: 'other', publicKey: 'x', privateKey: 'y' })],
    [
      'mismatched pair',
      (() => {
        const a = generateKeyPair();
        const b = generateKeyPair();
        return formatKeyFile({ publicKey: b.publicKey, privateKey: a.privateKey });
      })(),
    ],
  ])('refuses to start (JETRECV_ERR_STATE) on a %s key file and leaves it untouched', async (_label, content) => {
    const keyPath = path.join(root, SERVER_KEY_FILE);
    fs.writeFileSync(keyPath, content, { mode: 0o600 });
    const err = await loadOrCreateServerKeys(root).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'JETRECV_ERR_STATE', details: { path: keyPath } });
    expect((err as Error).message).toMatch(/server key file is unusable: key file .*server-key\.json.*Refusing to start/);
    expect(fs.readFileSync(keyPath, 'utf8')).toBe(content);
    expect(fs.readdirSync(root)).toEqual([SERVER_KEY_FILE]);
  });

  it('refuses when the key path is a directory', async () => {
    fs.mkdirSync(path.join(root, SERVER_KEY_FILE));
    await expect(loadOrCreateServerKeys(root)).rejects.toMatchObject({ code: 'JETRECV_ERR_STATE' });
  });

  it('reports a state dir that cannot be created', async () => {
    const blocker = path.join(root, 'file');
    fs.writeFileSync(blocker, 'x');
    await expect(loadOrCreateServerKeys(path.join(blocker, 'state'))).rejects.toMatchObject({
      code: 'JETRECV_ERR_STATE',
      message: expect.stringContaining('cannot create state directory'),
    });
  });

  it('passes on the warning for a key file readable by others', async () => {
    const keyPath = path.join(root, SERVER_KEY_FILE);
    fs.writeFileSync(keyPath, formatKeyFile(generateKeyPair()));
    fs.chmodSync(keyPath, 0o640);
    const loaded = await loadOrCreateServerKeys(root);
    expect(loaded.warning).toMatch(/mode 0640/);
  });
});
