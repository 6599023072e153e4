// The persistent state directory with real `jetrecv serve` processes: a corrupt users.json
// stops the start (exit 1, the file named) instead of a daemon that receives without its
// API; a second daemon on the same directory is refused while the first runs (it would
// overwrite authorized-clients.json), and a lock left by a dead process is taken over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { tempDir } from './harness.js';
import { spawnJetrecv, until } from './serve-process.js';

let root: string;
beforeAll(async () => {
  root = await tempDir('statedir');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function serveArgs(name: string, extra: string[] = []): string[] {
  return [
    'serve',
    '--sandbox-dir',
    path.join(root, name, 'sandbox'),
    '--persistent-state-dir',
    path.join(root, name, 'state'),
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    ...extra,
  ];
}

describe('jetrecv serve start-up with a persistent state directory', () => {
  it('fails the start (exit 1, file named) when users.json is corrupt, and does not keep receiving', async () => {
    const state = path.join(root, 'corrupt', 'state');
    await mkdir(state, { recursive: true });
    await writeFile(path.join(state, 'users.json'), '{"version": 1, "users": [', { mode: 0o600 });
    const serve = spawnJetrecv(serveArgs('corrupt'));
    try {
      const exited = await Promise.race([serve.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
      expect(exited, `still running 15 s after a corrupt users.json; logs: ${JSON.stringify(serve.logs.map((l) => l.msg))}`).not.toBeNull();
      expect(exited!.code).toBe(1);
      expect(serve.stderr()).toContain(path.join(state, 'users.json'));
      expect(serve.stderr()).toMatch(/corrupt/);
      expect(serve.logs.some((l) => l.msg === 'jetrecv receiver ready')).toBe(false);
    } finally {
      await serve.stop(2000);
    }
  });

  it('refuses a second daemon on the same state directory while the first runs, then starts once it stopped', async () => {
    const first = spawnJetrecv(serveArgs('twice'));
    try {
      await first.ready();
      const lockFile = path.join(root, 'twice', 'state', 'jetrecv.lock');
      expect((await readFile(lockFile, 'utf8')).trim()).toBe(String(first.pid));
      const second = spawnJetrecv(serveArgs('twice', ['--sandbox-dir', path.join(root, 'twice', 'sandbox2')]));
      const st = await Promise.race([second.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
      await second.stop(2000);
      expect(st, 'the second daemon is still running').not.toBeNull();
      expect(st!.code).toBe(1);
      expect(second.stderr()).toMatch(new RegExp(`state directory .*twice/state is in use by another jetrecv \\(pid ${first.pid}\\)`));
      expect(second.logs.some((l) => l.msg === 'jetrecv receiver ready')).toBe(false);
    } finally {
      expect((await first.stop()).code).toBe(0);
    }
    // The lock went with the first daemon: a new one starts.
    const again = spawnJetrecv(serveArgs('twice'));
    try {
      await again.ready();
    } finally {
      await again.stop();
    }
  });

  it('takes over a lock left by a process that no longer exists', async () => {
    const state = path.join(root, 'stale', 'state');
    await mkdir(state, { recursive: true });
    // A pid that surely is dead: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    await until(() => {
      try {
        process.kill(deadPid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the child to be gone');
    await writeFile(path.join(state, 'jetrecv.lock'), `${deadPid}\n`);
    const serve = spawnJetrecv(serveArgs('stale'));
    try {
      await serve.ready();
      expect((await readFile(path.join(state, 'jetrecv.lock'), 'utf8')).trim()).toBe(String(serve.pid));
      expect(serve.logs.some((l) => l.msg.includes('stale lock') && l['pid'] === deadPid)).toBe(true);
    } finally {
      await serve.stop();
    }
  });
});
