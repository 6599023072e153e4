// concurrency.test.ts — many senders at once against one real `jetrecv serve` (a child
// process, read through its API and /proc): 32 senders with 32 different keys start
// together (8 of them write different files into the same destination directory), and
// one more `jetrecv send` process is SIGKILLed in the middle of its transfer.
// Checked: all 32 transfers complete intact; the vanished sender's session times out
// (--session-timeout 2s) and its transfer is marked `error` with a message saying why,
// without disturbing the others; afterwards no session is left (metrics), every source
// shows `disconnected`, and the daemon's RSS is back near where it was before.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetrecvClient } from '../../src/client/index.js';
import { generateKeyPair, parsePublicKey } from '../../src/keys/key-encoding.js';
import { sendFiles } from '../../src/send/sender.js';
import { cliPath, exists, runCli, sha256File, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

const PASSWORD = 'concurrency test password';
const SENDERS = 32;
const SHARED = 8; // senders 0..7 write into the same destination directory
/** Allowed RSS growth from before the senders to after they are gone (V8 keeps some heap). */
const RSS_SLACK = 48 << 20;

async function vmRss(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

async function sessionsGauge(apiPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  const m = /^jetrecv_sessions (\d+)$/m.exec(text);
  if (!m) throw new Error(`no jetrecv_sessions in /metrics:\n${text}`);
  return Number(m[1]);
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('concurrent senders', () => {
  let root: string;
  let serve: ServeProcess;
  let api: JetrecvClient;

  beforeAll(async () => {
    root = await tempDir('concurrency');
    const stateDir = path.join(root, 'state');
    const r = await runCli(['user', 'add', 'ops', '--persistent-state-dir', stateDir], { env: { JETRECV_USER_PASSWORD: PASSWORD } });
    expect(r.code, r.stderr).toBe(0);
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
      '--session-timeout',
      '2s',
    ]);
    api = new JetrecvClient({ host: '127.0.0.1', port: serve.apiPort! });
    await api.server.auth('ops', PASSWORD);
  });

  afterAll(async () => {
    await serve?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('32 senders with different keys all arrive intact; a SIGKILLed sender times out as error; everything is released', async () => {
    const src = path.join(root, 'src');
    await mkdir(src);
    const files: string[] = [];
    for (let i = 0; i < SENDERS; i++) {
      const dir = path.join(src, `s${i}`);
      await mkdir(dir);
      const f = path.join(dir, `file-${i}.bin`);
      await writeRandomFile(f, (2 << 20) + i * 4099); // 2-2.1 MiB, odd sizes
      files.push(f);
    }
    const doomedFile = path.join(src, 'doomed.bin');
    await writeRandomFile(doomedFile, 64 << 20);
    const rssBaseline = await vmRss(serve.pid);

    // The sender that will vanish: a real CLI process, slow enough to be killed mid-transfer.
    const doomed = spawn(
      process.execPath,
      [
        cliPath,
        'send',
        '--to',
        `127.0.0.1:${serve.recvPort}`,
        '--server-key',
        serve.publicKey,
        '--dest',
        'doomed',
        '--rate-max',
        '20M',
        '--rate-start',
        '20M',
        doomedFile,
      ],
      { stdio: 'ignore' },
    );
    const doomedExit = new Promise<NodeJS.Signals | null>((res) => doomed.on('close', (_c, sig) => res(sig)));

    const serverKey = parsePublicKey(serve.publicKey);
    const logger = pino({ level: 'silent' });
    const keys = Array.from({ length: SENDERS }, () => generateKeyPair());
    const sends = files.map((f, i) =>
      sendFiles({
        host: '127.0.0.1',
        port: serve.recvPort,
        serverKey,
        keys: keys[i]!,
        destinationPath: i < SHARED ? 'shared' : `own-${i}`,
        paths: [f],
        rateMaxBps: 100e6,
        rateStartBps: 50e6,
        lanes: 1 + (i % 2),
        datagramSize: 1472,
        cipher: i % 3 === 0 ? 'chacha20-poly1305' : 'aes-256-gcm',
        handshakeTimeoutMs: 20_000,
        reconnectTimeoutMs: 0,
        logger,
      }),
    );

    // How many sessions were live at once (sampled), to show the senders did overlap.
    let peakSessions = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakSessions = Math.max(peakSessions, await sessionsGauge(serve.apiPort!).catch(() => 0));
        await new Promise((r) => setTimeout(r, 25));
      }
    })();

    // Kill the doomed sender once the receiver has some of its data.
    await until('the doomed transfer to be receiving data', async () => {
      const transfers = await api.wait(await api.recv.getTransfersAsync());
      return transfers.find((t) => t.destinationPath === '/doomed' && t.status === 'receiving' && t.bytesReceived > 0);
    });
    doomed.kill('SIGKILL');
    expect(await doomedExit).toBe('SIGKILL');

    const results = await Promise.allSettled(sends);
    sampling = false;
    await sampler;
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`sender ${i}: ${(r.reason as Error).message}`] : []));
    expect(failures).toEqual([]);

    // Every file intact, where it belongs (8 different files side by side in 'shared').
    const sandbox = path.join(root, 'sandbox');
    for (let i = 0; i < SENDERS; i++) {
      const got = path.join(sandbox, i < SHARED ? 'shared' : `own-${i}`, path.basename(files[i]!));
      expect(await sha256File(got), got).toBe(await sha256File(files[i]!));
    }

    // The vanished sender: timed out after --session-timeout, its transfer is an error.
    const doomedRecord = await until(
      'the doomed transfer to fail',
      async () => {
        const transfers = await api.wait(await api.recv.getTransfersAsync());
        return transfers.find((t) => t.destinationPath === '/doomed' && t.status === 'error');
      },
      20_000,
    );
    expect(doomedRecord.errorMessage).toMatch(/no packet from the sender/);
    expect(doomedRecord.bytesReceived).toBeLessThan(64 << 20);
    // Its file never appears under its final name (the partial stays hidden, kept for a resume).
    expect(await exists(path.join(sandbox, 'doomed', 'doomed.bin'))).toBe(false);

    const transfers = await api.wait(await api.recv.getTransfersAsync());
    expect(transfers.filter((t) => t.status === 'complete')).toHaveLength(SENDERS);
    expect(transfers.filter((t) => t.status === 'error')).toHaveLength(1);

    // Released: no session left, every source disconnected, memory back near the baseline.
    await until('all sessions to close', async () => (await sessionsGauge(serve.apiPort!)) === 0, 20_000);
    const sources = await api.wait(await api.recv.getSourcesAsync());
    expect(sources).toHaveLength(SENDERS + 1);
    expect(sources.every((s) => s.encryptedConnectionState === 'disconnected')).toBe(true);
    expect(new Set(sources.map((s) => s.clientPublicKey)).size).toBe(SENDERS + 1);
    const rssAfter = await vmRss(serve.pid);
    console.log(
      `concurrency: peak ${peakSessions} live sessions; daemon RSS ${(rssBaseline / 2 ** 20).toFixed(1)} MiB before, ${(rssAfter / 2 ** 20).toFixed(1)} MiB after ${SENDERS + 1} sessions`,
    );
    expect(peakSessions).toBeGreaterThanOrEqual(4);
    expect(rssAfter - rssBaseline).toBeLessThan(RSS_SLACK);
  }, 120_000);
});
