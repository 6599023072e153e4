// API tokens against a real `jetrecv serve` with a state directory: created over the local
// admin socket (no user exists), used as Bearer tokens over TCP (TS client and `jetrecv api
// --token-env`), a non-superuser token refused superuser methods, listed without secrets,
// stored hashed (the state file and the log never hold a token), revoked with immediate
// effect, and kept across a restart.
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiError, JetrecvClient } from '../../src/client/index.js';
import { randomKey } from './api-fixture.js';
import { runCli, tempDir } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

let root: string;
let stateDir: string;
let socketPath: string;
let serve: ServeProcess;
let apiPort: number;
const created: Record<string, string> = {};

function start(): ServeProcess {
  return spawnJetrecv([
    'serve',
    '--sandbox-dir',
    path.join(root, 'sandbox'),
    '--persistent-state-dir',
    stateDir,
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--admin-socket',
    socketPath,
  ]);
}

async function createToken(name: string, superuser: boolean): Promise<string> {
  const r = await runCli(['api', '--admin-socket', socketPath, 'createAPIToken', '--name', name, '--superuser', String(superuser)]);
  expect(r.code, r.stderr).toBe(0);
  const answer = JSON.parse(r.stdout);
  expect(answer).toMatchObject({ name, superuser, createdBy: expect.stringMatching(/^local:/) });
  return answer.token as string;
}

function client(token: string): JetrecvClient {
  return new JetrecvClient({ port: apiPort, token });
}

/** Everything the daemon wrote so far, stdout and stderr. */
function allOutput(p: ServeProcess): string {
  return JSON.stringify(p.logs) + p.otherStdout.join('\n') + p.stderr();
}

beforeAll(async () => {
  root = await tempDir('api-tokens');
  stateDir = path.join(root, 'state');
  socketPath = path.join(root, 'admin.sock');
  serve = start();
  apiPort = (await serve.ready()).apiPort as number;
  created.ci = await createToken('ci', true);
  created.viewer = await createToken('viewer', false);
});

afterAll(async () => {
  await serve?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('API tokens', () => {
  it('a superuser token works as a Bearer token over TCP, elevated at once', async () => {
    const ci = client(created.ci as string);
    try {
      const info = await ci.server.getServerInfo();
      expect(info).toMatchObject({ sessionUser: 'token:ci', sessionSuperuser: true, APITokensAvailable: true });
      const key = randomKey();
      expect(await ci.wait(await ci.recv.addAuthorizedClientAsync(key))).toEqual({ clientPublicKey: key, added: true });
      const list = await ci.server.getAPITokens();
      expect(list.map((t) => [t.name, t.superuser])).toEqual([
        ['ci', true],
        ['viewer', false],
      ]);
      expect(JSON.stringify(list)).not.toMatch(/jrt_|secret|token"/i);
    } finally {
      ci.close();
    }
  });

  it('a token without superuser gets session methods and is refused superuser ones', async () => {
    const viewer = client(created.viewer as string);
    try {
      expect(Array.isArray(await viewer.wait(await viewer.recv.getTransfersAsync()))).toBe(true);
      await expect(viewer.recv.addAuthorizedClientAsync(randomKey())).rejects.toMatchObject({
        code: 'JETRECV_ERR_NOT_SUPERUSER',
        status: 403,
      });
      await expect(viewer.server.createAPIToken('sneaky', { superuser: true })).rejects.toMatchObject({
        code: 'JETRECV_ERR_NOT_SUPERUSER',
      });
      await expect(viewer.server.superuser()).rejects.toMatchObject({ code: 'JETRECV_ERR_NOT_SUPERUSER' });
    } finally {
      viewer.close();
    }
    const cli = await runCli(['api', '--api-control-port', String(apiPort), '--token-env', 'JRT', '--wait', 'recv.getTransfersAsync'], {
      env: { JRT: created.viewer },
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual([]);
  });

  it('stores only hashes: no token or secret in the state directory or the log', async () => {
    const text = await readFile(path.join(stateDir, 'api-tokens.json'), 'utf8');
    expect(JSON.parse(text).tokens).toHaveLength(2);
    for (const token of Object.values(created)) {
      const secret = token.split('_').slice(2).join('_');
      for (const entry of await readdir(stateDir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const file = path.join(entry.parentPath, entry.name);
        expect(await readFile(file, 'latin1'), file).not.toContain(secret);
      }
      expect(allOutput(serve)).not.toContain(secret);
    }
    expect(serve.logs.some((l) => l.msg === 'API token created' && l['token'] === 'ci')).toBe(true);
  });

  it('revocation is immediate, bad names are refused naming the field, and tokens survive a restart', async () => {
    const ci = client(created.ci as string);
    const viewer = client(created.viewer as string);
    try {
      await expect(ci.server.createAPIToken('no spaces')).rejects.toMatchObject({
        code: 'JETRECV_ERR_BAD_TOKEN_NAME',
        status: 400,
        message: expect.stringContaining('name:'),
      });
      await expect(ci.server.createAPIToken('viewer')).rejects.toMatchObject({ code: 'JETRECV_ERR_TOKEN_EXISTS', status: 409 });
      expect(await ci.server.deleteAPIToken('viewer')).toEqual({ name: 'viewer', deleted: true });
      expect(await ci.server.deleteAPIToken('viewer')).toEqual({ name: 'viewer', deleted: false });
      const refused = await viewer.server.getServerInfo().then(
        () => undefined,
        (err: ApiError) => err,
      );
      // getServerInfo is public, so a dead token is refused rather than ignored.
      expect(refused).toMatchObject({ code: 'JETRECV_ERR_UNAUTHENTICATED', status: 401 });
    } finally {
      ci.close();
      viewer.close();
    }

    await serve.stop();
    serve = start();
    apiPort = (await serve.ready()).apiPort as number;
    const again = client(created.ci as string);
    try {
      expect(await again.server.getServerInfo()).toMatchObject({ sessionUser: 'token:ci', sessionSuperuser: true });
      expect((await again.server.getAPITokens()).map((t) => t.name)).toEqual(['ci']);
    } finally {
      again.close();
    }
  });
});
