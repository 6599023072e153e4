// UserStore: scrypt hashes, validation, persistence (0600, atomic), live reload, corrupt files.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_PARAMS, USERS_FILE, UserStore } from '../../src/state/users.js';

const FAST = { scrypt: { N: 1024, r: 8, p: 1 } };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jetrecv-users-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('UserStore', () => {
  it('verifies the right password only, for known users only', async () => {
    const store = await UserStore.open(dir, FAST);
    await store.add('alice', 'correct horse');
    expect(await store.verify('alice', 'correct horse')).toMatchObject({ name: 'alice' });
    expect(await store.verify('alice', 'correct horsE')).toBeUndefined();
    expect(await store.verify('alice', '')).toBeUndefined();
    expect(await store.verify('bob', 'correct horse')).toBeUndefined();
  });

  it('stores a salted scrypt hash with its cost, never the password, in a 0600 file', async () => {
    const store = await UserStore.open(dir, FAST);
    await store.add('alice', 'same-password');
    await store.add('bob', 'same-password');
    const file = path.join(dir, USERS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('same-password');
    const json = JSON.parse(text);
    expect(json.version).toBe(1);
    const [a, b] = json.users;
    expect(a.scrypt).toMatchObject({ N: 1024, r: 8, p: 1, keyLength: 32 });
    expect(a.scrypt.salt).not.toBe(b.scrypt.salt);
    expect(a.scrypt.hash).not.toBe(b.scrypt.hash);
  });

  it('uses N=2^15, r=8, p=1 by default and still verifies hashes made with other costs', async () => {
    expect(DEFAULT_SCRYPT_PARAMS).toMatchObject({ N: 32768, r: 8, p: 1 });
    const strong = await UserStore.open(dir);
    await strong.add('alice', 'strong-password');
    const cheap = await UserStore.open(dir, FAST);
    expect(await cheap.verify('alice', 'strong-password')).toBeDefined();
  });

  it('validates names and passwords, and refuses duplicates and unknown users', async () => {
    const store = await UserStore.open(dir, FAST);
    for (const bad of ['', '-x', 'a b', 'x'.repeat(65), 'ünï']) {
      await expect(store.add(bad, 'long-enough')).rejects.toMatchObject({ code: 'JETRECV_ERR_BAD_USER_NAME' });
    }
    await expect(store.add('alice', 'short')).rejects.toMatchObject({
      code: 'JETRECV_ERR_BAD_PASSWORD',
      message: expect.stringContaining('8 to 1024'),
    });
    await store.add('alice', 'long-enough');
    await expect(store.add('alice', 'long-enough')).rejects.toMatchObject({ code: 'JETRECV_ERR_USER_EXISTS' });
    await expect(store.remove('bob')).rejects.toMatchObject({ code: 'JETRECV_ERR_NO_SUCH_USER' });
    await expect(store.setPassword('bob', 'long-enough')).rejects.toMatchObject({ code: 'JETRECV_ERR_NO_SUCH_USER' });
  });

  it('changes passwords (old one stops working, passwordChangedTime moves) and removes users', async () => {
    const store = await UserStore.open(dir, FAST);
    const created = await store.add('alice', 'first-password');
    const changed = await store.setPassword('alice', 'second-password');
    expect(changed.passwordChangedTime).toBeGreaterThan(created.passwordChangedTime);
    expect(await store.verify('alice', 'first-password')).toBeUndefined();
    expect(await store.verify('alice', 'second-password')).toBeDefined();
    await store.remove('alice');
    expect(await store.list()).toEqual([]);
    expect(await (await UserStore.open(dir, FAST)).count()).toBe(0);
  });

  it('sees changes another process made to the file (re-reads when it changes)', async () => {
    const daemon = await UserStore.open(dir, FAST);
    expect(await daemon.count()).toBe(0);
    const cli = await UserStore.open(dir, FAST);
    await cli.add('carol', 'carol-password');
    expect(await daemon.verify('carol', 'carol-password')).toBeDefined();
    await cli.setPassword('carol', 'carol-password-2');
    expect(await daemon.verify('carol', 'carol-password')).toBeUndefined();
    await cli.add('dave', 'dave-password');
    expect((await daemon.list()).map((u) => u.name)).toEqual(['carol', 'dave']);
    // A change made by the daemon's store is based on the file, not on a stale copy.
    await daemon.add('erin', 'erin-password');
    expect((await cli.list()).map((u) => u.name)).toEqual(['carol', 'dave', 'erin']);
  });

  it('refuses a corrupt file at open with JETRECV_ERR_STATE, but keeps the last good users if it goes bad later', async () => {
    const file = path.join(dir, USERS_FILE);
    await writeFile(file, '{"version":1,"users":[{"name":"x"');
    await expect(UserStore.open(dir, FAST)).rejects.toMatchObject({
      code: 'JETRECV_ERR_STATE',
      message: expect.stringMatching(/users\.json is corrupt: not valid JSON/),
    });
    await writeFile(
      file,
      '{"version":1,"users":[{"name":"x","createdTime":1,"passwordChangedTime":1,"scrypt":{"N":1000,"r":8,"p":1,"keyLength":32,"salt":"","hash":""}}]}',
    );
    await expect(UserStore.open(dir, FAST)).rejects.toMatchObject({ message: expect.stringContaining('scrypt.N must be a power of two') });

    await rm(file);
    const errors: unknown[] = [];
    const logger = { error: (obj: unknown) => errors.push(obj) } as never;
    const store = await UserStore.open(dir, { ...FAST, logger });
    await store.add('alice', 'alice-password');
    await writeFile(file, 'garbage');
    expect(await store.verify('alice', 'alice-password')).toBeDefined();
    expect(errors).toHaveLength(1);
  });

  it('lives in memory without a directory', async () => {
    const store = await UserStore.open(undefined, FAST);
    expect(store.persistent).toBe(false);
    await store.add('alice', 'alice-password');
    expect(await store.verify('alice', 'alice-password')).toBeDefined();
    expect(await (await UserStore.open(undefined, FAST)).count()).toBe(0);
  });
});
