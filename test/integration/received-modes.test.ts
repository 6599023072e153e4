// Modes of received files under the service umask: a real `jetrecv serve` started with
// umask 027 (the unit's UMask=0027) receives files a sender holds as 0777, 0666 and 0600
// from a real `jetrecv send`; they land as 0750, 0640 and 0600 — the sender's bits, never
// more than the receiver's umask allows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

let root: string;
let serve: ServeProcess;
beforeAll(async () => {
  root = await tempDir('modes');
  // sh sets the umask, then execs node: the daemon runs with umask 027 from its start.
  serve = spawnJetrecv(['serve', '--sandbox-dir', path.join(root, 'sandbox'), '--recv-host', '127.0.0.1', '--recv-port', '0', '--no-api'], {
    wrapper: ['sh', '-c', 'umask 027 && exec "$0" "$@"'],
  });
});
afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('received file modes', () => {
  it('apply the receiver umask (027) to the sender modes 0777, 0666 and 0600', async () => {
    const info = await serve.ready();
    const files: [string, number, number][] = [
      ['exec.bin', 0o777, 0o750],
      ['open.bin', 0o666, 0o640],
      ['private.bin', 0o600, 0o600],
    ];
    const paths: string[] = [];
    for (const [name, mode] of files) {
      const p = path.join(root, name);
      await writeRandomFile(p, 4096 + name.length);
      await chmod(p, mode);
      paths.push(p);
    }
    const res = await runCli([
      'send',
      '--to',
      `127.0.0.1:${info.recvPort}`,
      '--server-key',
      info.publicKey,
      '--handshake-timeout',
      '5s',
      ...paths,
    ]);
    expect(res.code, res.stderr).toBe(0);
    for (const [name, , expected] of files) {
      const got = path.join(info.sandboxDir, name);
      expect(await sha256File(got)).toBe(await sha256File(path.join(root, name)));
      expect(((await stat(got)).mode & 0o7777).toString(8), name).toBe(expected.toString(8));
    }
  });
});
