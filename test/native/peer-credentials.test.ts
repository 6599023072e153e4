// peer-credentials.test.ts — the addon's peerCredentials(fd) on the accepted end of a real
// Unix socket connection names this process (SO_PEERCRED); a TCP socket's fd and a bad fd
// throw with a code and errno.
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addon } from '../../src/addon/binding.js';

const fdOf = (socket: net.Socket): number => (socket as unknown as { _handle: { fd: number } })._handle.fd;

/** Connects to a fresh server on `listenOn`; answers peerCredentials() of the accepted socket (or its error). */
async function credentialsOfAccepted(listenOn: string | number): Promise<unknown> {
  const server = net.createServer();
  const accepted = new Promise<unknown>((resolve) =>
    server.once('connection', (s) => {
      try {
        resolve(addon.peerCredentials(fdOf(s)));
      } catch (err) {
        resolve(err);
      }
      s.destroy();
    }),
  );
  await new Promise<void>((resolve) => (typeof listenOn === 'string' ? server.listen(listenOn, resolve) : server.listen(listenOn, '127.0.0.1', resolve)));
  const target = typeof listenOn === 'string' ? listenOn : (server.address() as net.AddressInfo).port;
  const client = typeof target === 'string' ? net.connect(target) : net.connect(target, '127.0.0.1');
  client.on('error', () => {});
  const result = await accepted;
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return result;
}

describe('peerCredentials', () => {
  it('names the connecting process on a Unix socket', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'jetrecv-peercred-'));
    try {
      const cred = await credentialsOfAccepted(path.join(dir, 's.sock'));
      expect(cred).toEqual({ pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('throws for a TCP socket and for a bad fd', async () => {
    const err = await credentialsOfAccepted(0);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: expect.stringMatching(/^JETRECV_ERR_/) });
    expect(() => addon.peerCredentials(1_000_000)).toThrow(expect.objectContaining({ errno: 9 }));
    expect(() => addon.peerCredentials(-1)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT' }));
  });
});
