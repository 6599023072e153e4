// The local admin socket of a real `jetrecv serve` without --persistent-state-dir (so without
// any API user): the socket's mode and owner, a root (or same-user) caller is an elevated
// superuser with no password, `jetrecv api` uses the socket by default, a uid that is neither
// root nor the daemon's user is refused (by the file mode, and by SO_PEERCRED when the mode
// lets it connect), a member of --admin-socket-group gets in, a stale socket is replaced, a
// live one is not, and the socket is removed on shutdown.
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey } from './api-fixture.js';
import { exists, runCli, tempDir, type CliResult } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const asOtherUserSkip = !isRoot ? 'not root' : !hasSetpriv ? 'setpriv(1) not installed' : null;
if (asOtherUserSkip !== null) console.log(`local-admin: tests that run a client as another uid skipped: ${asOtherUserSkip}`);

/** `jetrecv ARGS` as uid/gid (no supplementary groups), via setpriv. */
function runCliAs(uid: number, gid: number, args: string[]): Promise<CliResult> {
  return runCli(args, { wrapper: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups'], cwd: '/' });
}

function serveArgs(root: string, socketPath: string, extra: string[] = []): string[] {
  return [
    'serve',
    '--sandbox-dir',
    path.join(root, 'sandbox'),
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--admin-socket',
    socketPath,
    ...extra,
  ];
}

let root: string;
let socketPath: string;
let serve: ServeProcess;
let apiPort: number;

beforeAll(async () => {
  root = await tempDir('local-admin');
  socketPath = path.join(root, 'run', 'admin.sock');
  serve = spawnJetrecv(serveArgs(root, socketPath));
  apiPort = (await serve.ready()).apiPort as number;
});

afterAll(async () => {
  await serve?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('local admin socket', () => {
  it('is a socket of mode 0600, owned by the daemon user', async () => {
    const st = await stat(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid?.());
    expect(serve.logs.find((l) => l.msg === 'local admin socket listening')?.['path']).toBe(socketPath);
  });

  it('makes its caller (root or the daemon user) an elevated superuser with no password, on a daemon without users', async () => {
    const info = await runCli(['api', '--admin-socket', socketPath, 'getServerInfo']);
    expect(info.code, info.stderr).toBe(0);
    const parsed = JSON.parse(info.stdout);
    expect(parsed.sessionUser).toMatch(/^local:/);
    expect(parsed.sessionSuperuser).toBe(true);
    expect(parsed.configuration.adminSocket).toBe(socketPath);

    const key = randomKey();
    const added = await runCli(['api', '--admin-socket', socketPath, '--wait', 'recv.addAuthorizedClientAsync', '--clientPublicKey', key]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toEqual({ clientPublicKey: key, added: true });

    // Over TCP the same call still needs a session: the privilege is the socket's.
    const overTcp = await runCli(['api', '--api-control-port', String(apiPort), 'recv.getAuthorizedClientsAsync']);
    expect(overTcp.code).toBe(2);
    expect(overTcp.stderr).toContain('needs a session');
  });

  it('is what `jetrecv api` uses by default when it is there; --http goes to the HTTP API', async () => {
    const env = { RUNTIME_DIRECTORY: path.dirname(socketPath) };
    const viaDefault = await runCli(['api', '--wait', 'recv.getAuthorizedClientsAsync'], { env });
    expect(viaDefault.code, viaDefault.stderr).toBe(0);
    expect(JSON.parse(viaDefault.stdout).clientPublicKeys).toHaveLength(1);
    const forcedHttp = await runCli(['api', '--http', 'recv.getAuthorizedClientsAsync'], { env });
    expect(forcedHttp.code).toBe(2);
    expect(forcedHttp.stderr).toContain('--user');
  });

  it.skipIf(asOtherUserSkip !== null)(
    'refuses a uid that is neither root nor the daemon user, by file mode and by SO_PEERCRED',
    async () => {
      await chmod(root, 0o755);
      await chmod(path.dirname(socketPath), 0o755);
      const byMode = await runCliAs(65534, 65534, ['api', '--admin-socket', socketPath, 'getServerInfo']);
      expect(byMode.code).toBe(1);
      expect(byMode.stderr).toMatch(/EACCES|permission denied/i);

      await chmod(socketPath, 0o666); // let it connect: the daemon's own check must refuse it
      try {
        const byCred = await runCliAs(65534, 65534, ['api', '--admin-socket', socketPath, 'getServerInfo']);
        expect(byCred.code).toBe(1);
        const error = JSON.parse(byCred.stderr).error;
        expect(error.code).toBe('JETRECV_ERR_LOCAL_ADMIN_REFUSED');
        expect(error.status).toBe(403);
        expect(error.message).toContain('uid 65534');
        await serve.waitForLog((l) => l.msg === 'local admin socket: caller refused' && l['uid'] === 65534, 'the refusal log line');
        // Not even a login goes through for it.
        const login = await runCliAs(65534, 65534, [
          'api',
          '--admin-socket',
          socketPath,
          'server.auth',
          '--user',
          'x',
          '--password',
          'whatever-1',
        ]);
        expect(login.code).toBe(1);
        expect(JSON.parse(login.stderr).error.code).toBe('JETRECV_ERR_LOCAL_ADMIN_REFUSED');
      } finally {
        await chmod(socketPath, 0o600);
      }
    },
  );

  it.skipIf(asOtherUserSkip !== null)('--admin-socket-group: the socket is 0660 and owned by the group, whose members get in', async () => {
    const groupRoot = await tempDir('local-admin-group');
    await chmod(groupRoot, 0o755);
    const groupSocket = path.join(groupRoot, 'admin.sock');
    const other = spawnJetrecv(serveArgs(groupRoot, groupSocket, ['--admin-socket-group', '65534']));
    try {
      await other.ready();
      const st = await stat(groupSocket);
      expect(st.mode & 0o777).toBe(0o660);
      expect(st.gid).toBe(65534);
      const member = await runCliAs(65532, 65534, ['api', '--admin-socket', groupSocket, 'getServerInfo']);
      expect(member.code, member.stderr).toBe(0);
      expect(JSON.parse(member.stdout)).toMatchObject({ sessionSuperuser: true, sessionUser: expect.stringMatching(/^local:/) });
      const outsider = await runCliAs(65532, 65532, ['api', '--admin-socket', groupSocket, 'getServerInfo']);
      expect(outsider.code).toBe(1);
      expect(outsider.stderr).toMatch(/EACCES|permission denied/i);
    } finally {
      await other.stop();
      await rm(groupRoot, { recursive: true, force: true });
    }
  });

  it('replaces a stale socket, refuses one in use, and removes its own on shutdown', async () => {
    const dir = await tempDir('local-admin-stale');
    const stalePath = path.join(dir, 'admin.sock');
    try {
      // A process that dies without closing its listening socket leaves the file behind.
      const leaver = spawnSync(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      expect(leaver.signal).toBe('SIGKILL');
      expect((await stat(stalePath)).isSocket()).toBe(true);

      await mkdir(path.join(dir, 'a'));
      const first = spawnJetrecv(serveArgs(path.join(dir, 'a'), stalePath));
      await first.ready();
      expect(first.logs.some((l) => l.msg === 'removed a stale admin socket (no process listened on it)')).toBe(true);
      const ok = await runCli(['api', '--admin-socket', stalePath, 'getServerInfo']);
      expect(ok.code, ok.stderr).toBe(0);

      await mkdir(path.join(dir, 'b'));
      const second = spawnJetrecv(serveArgs(path.join(dir, 'b'), stalePath));
      const status = await second.exited;
      expect(status.code).not.toBe(0);
      expect(second.stderr() + JSON.stringify(second.logs)).toContain('is in use by a running process');
      expect((await stat(stalePath)).isSocket()).toBe(true); // the first daemon's socket survived

      await first.stop();
      expect(await exists(stalePath)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
