// The RecvInterface API end to end: a real `jetrecv serve` child process with a persistent
// state dir, the TypeScript client over HTTP, and real `jetrecv send` processes. Covers the
// authorized-client rules on real handshakes, sources and transfers from real sessions, and
// what survives a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { JetrecvClient, ApiError } from '../../src/client/index.js';
import { exists, runCli, sha256File, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

const PASSWORD = 'correct horse battery staple';
let root: string;
let stateDir: string;
let sandbox: string;
let serve: ServeProcess;
let senderKeyFile: string;
let senderPub: string;

async function login(user: string, elevate: boolean): Promise<JetrecvClient> {
  const c = new JetrecvClient({ host: '127.0.0.1', port: serve.apiPort! });
  await c.server.auth(user, PASSWORD);
  if (elevate) await c.server.superuser();
  return c;
}

function send(file: string, dest: string, extra: string[] = []) {
  return runCli([
    'send',
    '--to',
    `127.0.0.1:${serve.recvPort}`,
    '--server-key',
    serve.publicKey,
    '--key',
    senderKeyFile,
    '--handshake-timeout',
    '2s',
    '--dest',
    dest,
    ...extra,
    file,
  ]);
}

function startServe(extra: string[] = []) {
  return spawnServe([
    '--persistent-state-dir',
    stateDir,
    '--sandbox-dir',
    sandbox,
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--superuser',
    'alice',
    ...extra,
  ]);
}

beforeAll(async () => {
  root = await tempDir('api-e2e');
  stateDir = path.join(root, 'state');
  sandbox = path.join(root, 'sandbox');
  for (const user of ['alice', 'bob']) {
    const r = await runCli(['user', 'add', user, '--persistent-state-dir', stateDir], { env: { JETRECV_USER_PASSWORD: PASSWORD } });
    expect(r.code, r.stderr).toBe(0);
  }
  senderKeyFile = path.join(root, 'sender.key');
  const kg = await runCli(['keygen', '--out', senderKeyFile]);
  expect(kg.code, kg.stderr).toBe(0);
  senderPub = /public key: (\S+)/.exec(kg.stdout)![1]!;
  serve = await startServe();
});

afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('authorized clients on real handshakes', () => {
  it('only elevated superusers may change the list; others get 403 and nothing changes', async () => {
    const bob = await login('bob', false);
    const aliceNotElevated = await login('alice', false);
    for (const c of [bob, aliceNotElevated]) {
      for (const call of [
        () => c.recv.addAuthorizedClientAsync(senderPub),
        () => c.recv.removeAuthorizedClientAsync(senderPub),
        () => c.recv.allowOnlyAuthorizedClientsAsync(true),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).status).toBe(403);
        expect((err as ApiError).message).toMatch(/superuser/);
      }
    }
    await expect(bob.server.superuser()).rejects.toMatchObject({ status: 403 });
    const alice = await login('alice', true);
    const list = await alice.wait(await alice.recv.getAuthorizedClientsAsync());
    expect(list).toMatchObject({ onlyAuthorizedClientsAllowed: false });
  });

  it('allow-only refuses an unlisted sender; adding lets it in; removing shuts it out again', async () => {
    const alice = await login('alice', true);
    const file = path.join(root, 'payload.bin');
    await writeRandomFile(file, 2 << 20);

    const on = await alice.recv.allowOnlyAuthorizedClientsAsync({ onlyAuthorizedClientsAllowed: true });
    expect(await alice.wait(on)).toMatchObject({ onlyAuthorizedClientsAllowed: true });
    const refused = await send(file, 'first');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no answer/);
    expect(await exists(path.join(sandbox, 'first'))).toBe(false);

    const add = await alice.recv.addAuthorizedClientAsync({ clientPublicKey: senderPub });
    expect(await alice.wait(add)).toMatchObject({ clientPublicKey: senderPub, added: true });
    const ok = await send(file, 'second');
    expect(ok.code, ok.stderr).toBe(0);
    expect(await sha256File(path.join(sandbox, 'second', 'payload.bin'))).toBe(await sha256File(file));

    const remove = await alice.recv.removeAuthorizedClientAsync(senderPub);
    expect(await alice.wait(remove)).toMatchObject({ removed: true });
    const again = await send(file, 'third');
    expect(again.code).toBe(1);
    expect(await exists(path.join(sandbox, 'third'))).toBe(false);

    // leave the sender listed, allow-only on, for the restart test
    await alice.wait(await alice.recv.addAuthorizedClientAsync(senderPub));
  });

  it("removing a key ends that sender's live session and fails its transfer at once", async () => {
    const alice = await login('alice', true);
    const file = path.join(root, 'cut.bin');
    await writeRandomFile(file, 24 << 20);
    const resumeArgs = ['--resume-dir', path.join(root, 'resume-cut'), '--checkpoint-interval', '1'];
    const sending = send(file, 'cut', ['--rate-max', '20M', ...resumeArgs]); // ~10 s at 20 Mbit/s
    const deadline = Date.now() + 20_000;
    let live = false;
    while (!live && Date.now() < deadline) {
      const transfers = await alice.wait(await alice.recv.getTransfersAsync());
      live = transfers.some((t) => t.destinationPath === '/cut' && t.status === 'receiving' && t.bytesReceived > 0);
      if (!live) await new Promise((r) => setTimeout(r, 100));
    }
    expect(live, 'the transfer was receiving').toBe(true);
    await alice.wait(await alice.recv.removeAuthorizedClientAsync(senderPub));
    const res = await sending;
    // told for good (no reconnect attempts until --reconnect-timeout)
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/ended the session for good: sender key is no longer authorized/);
    const cut = (await alice.wait(await alice.recv.getTransfersAsync())).find((t) => t.destinationPath === '/cut');
    expect(cut?.status).toBe('error');
    expect(cut?.errorMessage).toMatch(/no longer authorized/);
    expect(await exists(path.join(sandbox, 'cut', 'cut.bin'))).toBe(false);
    await alice.wait(await alice.recv.addAuthorizedClientAsync(senderPub));
    // Re-authorized, the same send resumes: the partial was kept, and so was the sender's
    // memory of the transfer.
    const resumed = await send(file, 'cut', ['--json', ...resumeArgs]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout.trim().split('\n').pop()!) as { resumedEarlierRun: boolean; bytesResumedAtStart: number };
    expect(summary.resumedEarlierRun).toBe(true);
    expect(summary.bytesResumedAtStart).toBeGreaterThan(0);
    expect(await sha256File(path.join(sandbox, 'cut', 'cut.bin'))).toBe(await sha256File(file));
  });
});

describe('sources and transfers from real sessions', () => {
  it('report plausible values during and after a transfer', async () => {
    const alice = await login('alice', true);
    const file = path.join(root, 'slow.bin');
    await writeRandomFile(file, 24 << 20);
    const sending = send(file, 'watched', ['--rate-max', '100M']); // ~2 s at 100 Mbit/s

    let during: { recvRate: number; status: string; totalSize: number; bytesReceived: number } | undefined;
    let source: { aveRecvRateWindow: number; activeTransferCount: number; encryptedConnectionState: string } | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const transfers = await alice.wait(await alice.recv.getTransfersAsync());
      const t = transfers.find((x) => x.destinationPath === '/watched');
      if (t && t.status === 'receiving' && t.recvRate > 0 && t.bytesReceived > 0) {
        during = t;
        const sources = await alice.wait(await alice.recv.getSourcesAsync());
        source = sources.find((s) => s.clientPublicKey === senderPub);
        if (source && source.aveRecvRateWindow > 0) break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(during, 'saw the transfer receiving with a rate').toBeDefined();
    expect(during!.totalSize).toBe(24 << 20);
    expect(source?.activeTransferCount).toBe(1);
    expect(source?.encryptedConnectionState).toBe('connected');
    expect(source?.aveRecvRateWindow).toBeGreaterThan(0);

    const res = await sending;
    expect(res.code, res.stderr).toBe(0);
    const after = (await alice.wait(await alice.recv.getTransfersAsync())).find((x) => x.destinationPath === '/watched')!;
    expect(after).toMatchObject({
      status: 'complete',
      totalSize: 24 << 20,
      bytesReceived: 24 << 20,
      sourceIP: '127.0.0.1',
      filesTotal: 1,
      filesDone: 1,
    });
    expect(after.endTime).toBeGreaterThan(after.startTime);
    expect(after.lastRecvTime).toBeGreaterThan(after.startTime);
    expect(after.lastErrorTime).toBeNull();
    const src = (await alice.wait(await alice.recv.getSourcesAsync())).find((s) => s.clientPublicKey === senderPub)!;
    expect(src.completeTransferCount).toBeGreaterThanOrEqual(2);
    expect(src.activeTransferCount).toBe(0);
    expect(src.aveRecvRate).toBeGreaterThan(0);
    expect(src.destinationPublicKey).toBe(serve.publicKey);
    expect(src.encryptionEnabled).toBe(true);
    expect(src.sourceIP).toBe('127.0.0.1');
    expect(src.sourcePort).toBeGreaterThan(0);
  });
});

describe('state across restarts', () => {
  it('keeps the key, the list and the flag with the same --persistent-state-dir', async () => {
    const key = serve.publicKey;
    expect(await serve.stop()).toBe(0);
    serve = await startServe();
    expect(serve.publicKey).toBe(key);
    const alice = await login('alice', true);
    const info = await alice.server.getServerInfo();
    expect(info.receiver.onlyAuthorizedClientsAllowed).toBe(true);
    expect(info.receiver.authorizedClients).toEqual([senderPub]);
    expect(info.receiver).toMatchObject({ recvPorts: [serve.recvPort], persistentState: true });
    expect(info).toMatchObject({
      publicKey: key,
      authRequired: true,
      encryptionAvailable: true,
      apiControlPort: serve.apiPort,
      allowRemoteControl: false,
    });
    expect(info.configuration).toMatchObject({ persistentStateDir: stateDir, superusers: ['alice'] });
    // and the listed sender still gets in, while an unlisted one does not
    const file = path.join(root, 'after-restart.bin');
    await writeFile(file, 'still trusted');
    expect((await send(file, 'restarted')).code).toBe(0);
    const stranger = await runCli([
      'send',
      '--to',
      `127.0.0.1:${serve.recvPort}`,
      '--server-key',
      serve.publicKey,
      '--handshake-timeout',
      '2s',
      '--dest',
      'stranger',
      file,
    ]);
    expect(stranger.code).toBe(1);
    expect(await exists(path.join(sandbox, 'stranger'))).toBe(false);
  });

  it('without --persistent-state-dir nothing carries over: a new key and no allow-only rule', async () => {
    const other = await spawnServe([
      '--sandbox-dir',
      path.join(root, 'ephemeral'),
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      '0',
      '--no-api',
    ]);
    try {
      expect(other.publicKey).not.toBe(serve.publicKey);
      const file = path.join(root, 'anyone.txt');
      await writeFile(file, 'anyone may send here');
      const r = await runCli([
        'send',
        '--to',
        `127.0.0.1:${other.recvPort}`,
        '--server-key',
        other.publicKey,
        '--handshake-timeout',
        '2s',
        file,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(await readFile(path.join(root, 'ephemeral', 'anyone.txt'), 'utf8')).toBe('anyone may send here');
    } finally {
      expect(await other.stop()).toBe(0);
    }
  });

  it('refuses to start on a corrupt authorized-clients file instead of dropping the list', async () => {
    const broken = path.join(root, 'broken-state');
    await mkdir(broken, { recursive: true });
    await writeFile(path.join(broken, 'authorized-clients.json'), '{"version": 1, "clients": [tru');
    const err = await spawnServe([
      '--persistent-state-dir',
      broken,
      '--sandbox-dir',
      path.join(root, 'sb2'),
      '--recv-port',
      '0',
      '--no-api',
    ]).catch((e: unknown) => e as { code: number; stderr: string });
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/authorized-clients\.json/);
  });
});
