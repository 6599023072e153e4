// AuthorizedClients: semantics, persistence across reopen, memory-only mode, corrupt files.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTHORIZED_CLIENTS_FILE, AuthorizedClients } from '../../src/state/authorized-clients.js';

function keyPair(): { text: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(32));
  bytes[0] = 1; // never all zeros
  return { text: Buffer.from(bytes).toString('base64'), bytes };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jetrecv-ac-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('AuthorizedClients semantics', () => {
  it('allows everyone while allow-only is off (the default), only listed keys when on', async () => {
    const clients = await AuthorizedClients.open(undefined);
    const listed = keyPair();
    const other = keyPair();
    expect(clients.allowOnly).toBe(false);
    expect(clients.isAllowed(other.bytes)).toBe(true);
    await clients.add(listed.text);
    await clients.setAllowOnly(true);
    expect(clients.isAllowed(listed.bytes)).toBe(true);
    expect(clients.isAllowed(other.bytes)).toBe(false);
    expect(clients.isAllowed(new Uint8Array(31))).toBe(false);
    await clients.setAllowOnly(false);
    expect(clients.isAllowed(other.bytes)).toBe(true);
  });

  it('reports adding a listed key and removing an absent key without failing', async () => {
    const clients = await AuthorizedClients.open(undefined);
    const k = keyPair();
    expect(await clients.add(k.text)).toEqual({ clientPublicKey: k.text, added: true });
    expect(await clients.add(k.text)).toEqual({ clientPublicKey: k.text, added: false });
    await expect(clients.add(` ${k.text}`)).rejects.toMatchObject({ code: 'JETRECV_ERR_BAD_KEY' }); // issue 12: not trimmed
    expect(await clients.remove(k.text)).toEqual({ clientPublicKey: k.text, removed: true });
    expect(await clients.remove(k.text)).toEqual({ clientPublicKey: k.text, removed: false });
    expect(await clients.setAllowOnly(false)).toEqual({ onlyAuthorizedClientsAllowed: false, changed: false });
    expect(await clients.setAllowOnly(true)).toEqual({ onlyAuthorizedClientsAllowed: true, changed: true });
  });

  it('rejects malformed keys with JETRECV_ERR_BAD_KEY naming clientPublicKey', async () => {
    const clients = await AuthorizedClients.open(undefined);
    for (const bad of ['', 'abc', 'A'.repeat(44), Buffer.alloc(32).toString('base64'), randomBytes(32).toString('base64url')]) {
      await expect(clients.add(bad)).rejects.toMatchObject({
        code: 'JETRECV_ERR_BAD_KEY',
        message: expect.stringContaining('clientPublicKey'),
      });
    }
    expect(clients.list()).toEqual([]);
  });

  it('keeps keys in the order they were added, also under concurrent changes', async () => {
    const clients = await AuthorizedClients.open(dir);
    const keys = Array.from({ length: 10 }, () => keyPair().text);
    await Promise.all(keys.map((k) => clients.add(k)));
    expect(clients.list()).toEqual(keys);
    const reopened = await AuthorizedClients.open(dir);
    expect(reopened.list()).toEqual(keys);
  });
});

describe('AuthorizedClients persistence', () => {
  it('restores the list and the flag after a reopen with the same directory; the file is 0600 and versioned', async () => {
    const a = keyPair();
    const b = keyPair();
    const first = await AuthorizedClients.open(dir);
    expect(first.persistent).toBe(true);
    await first.add(a.text);
    await first.add(b.text);
    await first.remove(a.text);
    await first.setAllowOnly(true);
    const file = path.join(dir, AUTHORIZED_CLIENTS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const json = JSON.parse(await readFile(file, 'utf8'));
    expect(json).toMatchObject({ version: 1, allowOnlyAuthorizedClients: true, clients: [{ publicKey: b.text }] });

    const second = await AuthorizedClients.open(dir);
    expect(second.list()).toEqual([b.text]);
    expect(second.allowOnly).toBe(true);
    expect(second.isAllowed(b.bytes)).toBe(true);
    expect(second.isAllowed(a.bytes)).toBe(false);
    expect(second.entries()[0]?.addedTime).toBeGreaterThan(1_600_000_000_000_000);
  });

  it('starts empty with allow-only off without a directory, and with a directory but no file yet', async () => {
    const memory = await AuthorizedClients.open(undefined);
    await memory.add(keyPair().text);
    expect((await AuthorizedClients.open(undefined)).list()).toEqual([]);
    expect(memory.persistent).toBe(false);
    const fresh = await AuthorizedClients.open(path.join(dir, 'new', 'state'));
    expect(fresh.list()).toEqual([]);
    expect(fresh.allowOnly).toBe(false);
  });

  it('refuses a corrupt file with JETRECV_ERR_STATE naming the file and the problem', async () => {
    const file = path.join(dir, AUTHORIZED_CLIENTS_FILE);
    const good = keyPair().text;
    const cases: [string, string][] = [
      ['{"version":1,"allowOnlyAuthorizedClients":true,"clients":[', 'not valid JSON'],
      ['[]', 'expected a JSON object'],
      ['{"version":2,"allowOnlyAuthorizedClients":true,"clients":[]}', 'unsupported version 2'],
      ['{"version":1,"allowOnlyAuthorizedClients":"yes","clients":[]}', "'allowOnlyAuthorizedClients' must be a boolean"],
      ['{"version":1,"allowOnlyAuthorizedClients":true}', "'clients' must be an array"],
      ['{"version":1,"allowOnlyAuthorizedClients":true,"clients":[],"extra":1}', "unknown field 'extra'"],
      ['{"version":1,"allowOnlyAuthorizedClients":true,"clients":[{"publicKey":"abc","addedTime":1}]}', 'clients[0].publicKey'],
      [`{"version":1,"allowOnlyAuthorizedClients":true,"clients":[{"publicKey":"${good}"}]}`, 'clients[0].addedTime'],
      [
        `{"version":1,"allowOnlyAuthorizedClients":true,"clients":[{"publicKey":"${good}","addedTime":1},{"publicKey":"${good}","addedTime":2}]}`,
        'listed twice',
      ],
    ];
    for (const [content, problem] of cases) {
      await writeFile(file, content);
      const err = await AuthorizedClients.open(dir).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(err, content).toBeDefined();
      expect(err?.code).toBe('JETRECV_ERR_STATE');
      expect(err?.message).toContain(file);
      expect(err?.message).toContain(problem);
    }
  });

  it('leaves the list unchanged when saving fails, and says why', async () => {
    const clients = await AuthorizedClients.open(dir);
    const k = keyPair();
    await clients.add(k.text);
    // Make the target path a non-empty directory so the atomic rename fails.
    const file = path.join(dir, AUTHORIZED_CLIENTS_FILE);
    await rm(file);
    await mkdir(path.join(file, 'blocker'), { recursive: true });
    await expect(clients.add(keyPair().text)).rejects.toMatchObject({
      code: 'JETRECV_ERR_STATE',
      message: expect.stringContaining('cannot save the authorized-clients list'),
    });
    await expect(clients.setAllowOnly(true)).rejects.toMatchObject({ code: 'JETRECV_ERR_STATE' });
    expect(clients.list()).toEqual([k.text]);
    expect(clients.allowOnly).toBe(false);
  });
});
