// live-figures.test.ts — the API's live figures tell the truth (issue 12, finding 11), read
// through getTransfersAsync / getSourcesAsync of a real `jetrecv serve`:
// - lastSendTime of a receiving transfer moves while it runs (feedback and control messages);
// - recvRate of a finished transfer is 0, not its last live value;
// - a source's aveRecvRate averages over the time its bytes moved, not over idle time since
//   the source was first seen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { JetrecvClient } from '../../src/client/index.js';
import { runCli, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

const PASSWORD = 'correct horse battery';
let root: string;
let serve: ServeProcess;
let senderKeyFile: string;
let senderPub: string;

beforeAll(async () => {
  root = await tempDir('live');
  const stateDir = path.join(root, 'state');
  const r = await runCli(['user', 'add', 'alice', '--persistent-state-dir', stateDir], { env: { JETRECV_USER_PASSWORD: PASSWORD } });
  expect(r.code, r.stderr).toBe(0);
  senderKeyFile = path.join(root, 'sender.key');
  const kg = await runCli(['keygen', '--out', senderKeyFile]);
  expect(kg.code, kg.stderr).toBe(0);
  senderPub = /public key: (\S+)/.exec(kg.stdout)![1]!;
  serve = await spawnServe([
    '--persistent-state-dir',
    stateDir,
    '--sandbox-dir',
    path.join(root, 'sandbox'),
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--superuser',
    'alice',
  ]);
});
afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

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
    '5s',
    '--dest',
    dest,
    ...extra,
    file,
  ]);
}

describe('live figures of getTransfersAsync and getSourcesAsync', () => {
  it('lastSendTime moves during a transfer, recvRate of a finished one is 0, aveRecvRate ignores idle time', async () => {
    const c = new JetrecvClient({ host: '127.0.0.1', port: serve.apiPort! });
    await c.server.auth('alice', PASSWORD);
    const small = path.join(root, 'small.bin');
    await writeRandomFile(small, 10_000);
    expect((await send(small, 'first')).code).toBe(0); // first contact of this source
    await new Promise((r) => setTimeout(r, 8000)); // the source sits idle

    const big = path.join(root, 'big.bin');
    await writeRandomFile(big, 24 << 20);
    const sending = send(big, 'live', ['--rate-max', '40M']);
    const sendTimes = new Set<number>();
    let done = false;
    void sending.finally(() => (done = true));
    while (!done) {
      const t = (await c.wait(await c.recv.getTransfersAsync())).find((x) => x.destinationPath === '/live');
      if (t?.status === 'receiving' && t.lastSendTime !== null) {
        expect(t.lastSendTime).toBeGreaterThanOrEqual(t.startTime);
        sendTimes.add(t.lastSendTime);
      }
      await new Promise((r) => setTimeout(r, 400));
    }
    expect((await sending).code).toBe(0);
    expect(sendTimes.size).toBeGreaterThanOrEqual(3);

    const transfers = await c.wait(await c.recv.getTransfersAsync());
    const live = transfers.find((x) => x.destinationPath === '/live')!;
    expect(live.status).toBe('complete');
    for (const t of transfers) expect(t.recvRate, t.destinationPath).toBe(0);
    // Its own average, kbit/s: bytes over start..end.
    const ownKbps = (live.totalSize * 8) / ((live.endTime! - live.startTime) / 1e6) / 1000;
    const src = (await c.wait(await c.recv.getSourcesAsync())).find((s) => s.clientPublicKey === senderPub)!;
    expect(src.aveRecvRate).toBeGreaterThan(ownKbps * 0.5);
    expect(src.aveRecvRate).toBeLessThan(ownKbps * 2);
  }, 90_000);
});
