// ApiTokenStore: tokens verify until revoked, only a hash is stored (0600, atomic), names are
// checked, the file survives a reopen, and a corrupt file is refused naming the problem.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_TOKENS_FILE, ApiTokenStore } from '../../src/state/api-tokens.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jetrecv-tokens-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ApiTokenStore', () => {
  it('verifies a created token until it is revoked; a changed secret or id never verifies', async () => {
    const store = await ApiTokenStore.open(dir);
    const { token, info } = await store.create('ci', true, 'alice');
    expect(token).toMatch(/^jrt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({ name: 'ci', superuser: true, createdBy: 'alice' });
    expect(store.verify(token)).toEqual(info);
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    expect(store.verify(token.slice(0, -1) + last)).toBeUndefined();
    expect(store.verify(token.replace(/^jrt_./, (m) => (m.endsWith('0') ? 'jrt_1' : 'jrt_0')))).toBeUndefined();
    expect(store.verify('not-a-token')).toBeUndefined();
    expect(await store.revoke('ci')).toEqual(info);
    expect(store.verify(token)).toBeUndefined();
    expect(await store.revoke('ci')).toBeUndefined();
  });

  it('stores only the SHA-256 of the secret, in a 0600 file, and reloads it', async () => {
    const store = await ApiTokenStore.open(dir);
    const { token } = await store.create('backup', false, 'local:root');
    const file = path.join(dir, API_TOKENS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const text = await readFile(file, 'utf8');
    const secret = token.split('_').slice(2).join('_');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(token);
    expect(JSON.parse(text).tokens[0]).toMatchObject({
      name: 'backup',
      superuser: false,
      secretSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const again = await ApiTokenStore.open(dir);
    expect(again.verify(token)).toMatchObject({ name: 'backup' });
    expect(again.list().map((t) => t.name)).toEqual(['backup']);
    expect(JSON.stringify(again.list())).not.toContain('secretSha256');
  });

  it('refuses bad and duplicate names, naming the field', async () => {
    const store = await ApiTokenStore.open(undefined);
    await expect(store.create('bad name', false, 'x')).rejects.toMatchObject({
      code: 'JETRECV_ERR_BAD_TOKEN_NAME',
      message: expect.stringContaining('name:'),
    });
    await store.create('one', false, 'x');
    await expect(store.create('one', true, 'x')).rejects.toMatchObject({ code: 'JETRECV_ERR_TOKEN_EXISTS' });
    expect(store.persistent).toBe(false);
  });

  it('refuses a corrupt file at open, naming the file and the field', async () => {
    const file = path.join(dir, API_TOKENS_FILE);
    await writeFile(
      file,
      JSON.stringify({
        version: 1,
        tokens: [{ name: 'x', id: 'zz', superuser: true, createdTime: 1, createdBy: 'a', secretSha256: '0'.repeat(64) }],
      }),
    );
    await expect(ApiTokenStore.open(dir)).rejects.toMatchObject({
      code: 'JETRECV_ERR_STATE',
      message: expect.stringMatching(/api-tokens\.json is corrupt: tokens\[0\]\.id/),
    });
  });
});
