// Receive rate limits on a real `jetrecv serve` with real `jetrecv send` runs on loopback: a
// per-source limit of 20 Mbit/s holds a sender's average rate (its own figures: datagram
// bytes over its seconds) under the limit; server.updateBandwidthLimits raises it live; two
// sources under a global limit share it (getSourcesAsync shows each one's half); bad values
// are refused naming the field (API and serve flags); a non-superuser is refused. Each
// sender key is a source: runs without --key get a fresh key each.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kBlockPacketOverhead } from '../../src/addon/limits.js';
import type { SourceStructure } from '../../src/proto/api-structures.js';
import { runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { startSend, type SendProcess } from './daemon-process.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

const MiB = 1 << 20;
/** Generous: the first train (4 ms at --rate-start) goes out before the first FEEDBACK. */
const SLACK = 1.1;

let root: string;
let socketPath: string;
let serve: ServeProcess;
let recvPort: number;
let apiPort: number;
let serverKey: string;
let sandbox: string;

/** `jetrecv api` over the local admin socket (an elevated superuser). */
async function admin(args: string[]): Promise<unknown> {
  const r = await runCli(['api', '--admin-socket', socketPath, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function receivingSources(): Promise<SourceStructure[]> {
  const all = (await admin(['--wait', 'recv.getSourcesAsync'])) as SourceStructure[];
  return all.filter((s) => s.activeTransferCount + s.inactiveTransferCount > 0);
}

function send(file: string, name: string): SendProcess {
  return startSend(['--to', `127.0.0.1:${recvPort}`, '--server-key', serverKey, '--handshake-timeout', '5s', '--dest', name, file]);
}

/** The sender's average rate, bits/s of UDP payload (what the limits count), from its --json summary. */
async function finished(p: SendProcess): Promise<{ bps: number; seconds: number }> {
  const r = await p.done;
  expect(r.code, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { bytesSent: number; blocksSent: number; seconds: number };
  return { bps: ((s.bytesSent + s.blocksSent * kBlockPacketOverhead) * 8) / s.seconds, seconds: s.seconds };
}

beforeAll(async () => {
  root = await tempDir('rate-limits');
  socketPath = path.join(root, 'admin.sock');
  sandbox = path.join(root, 'sandbox');
  const state = path.join(root, 'state');
  const added = await runCli(['user', 'add', 'bob', '--persistent-state-dir', state], { env: { JETRECV_USER_PASSWORD: 'bob-password-1' } });
  expect(added.code, added.stderr).toBe(0);
  serve = spawnJetrecv([
    'serve',
    '--sandbox-dir',
    sandbox,
    '--persistent-state-dir',
    state,
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--admin-socket',
    socketPath,
    '--incoming-rate-limit-per-source',
    '20M',
  ]);
  const ready = await serve.ready();
  recvPort = ready.recvPort;
  apiPort = ready.apiPort as number;
  serverKey = ready.publicKey;
  for (const [name, size] of [
    ['a.bin', 12 * MiB],
    ['b.bin', 24 * MiB],
    ['c.bin', 12 * MiB],
    ['d.bin', 12 * MiB],
  ] as const) {
    await writeRandomFile(path.join(root, name), size);
  }
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('receive rate limits', () => {
  it('a 20 Mbit/s per-source limit holds a sender under it; getServerInfo and getSourcesAsync show it', async () => {
    const info = (await admin(['getServerInfo'])) as { bandwidthLimits: unknown };
    expect(info.bandwidthLimits).toEqual({ incomingRateLimit: 0, incomingRateLimitPerSource: 20_000 });
    const p = send(path.join(root, 'a.bin'), 'a');
    let running = true;
    const seen = (async () => {
      while (running) {
        const source = (await receivingSources())[0];
        if (source !== undefined) return source;
      }
      return undefined;
    })();
    const { bps, seconds } = await finished(p);
    running = false;
    console.log(`rate-limits: 12 MiB under a 20 Mbit/s per-source limit: ${(bps / 1e6).toFixed(1)} Mbit/s over ${seconds.toFixed(2)} s`);
    expect(bps).toBeLessThanOrEqual(20e6 * SLACK);
    expect((await seen)?.recvRateLimit).toBe(20_000);
    expect(await sha256File(path.join(sandbox, 'a', 'a.bin'))).toBe(await sha256File(path.join(root, 'a.bin')));
  }, 60_000);

  it('server.updateBandwidthLimits raises the limit of a running transfer', async () => {
    const p = send(path.join(root, 'b.bin'), 'b');
    await new Promise((r) => setTimeout(r, 1000)); // about 2.5 MB at 20 Mbit/s
    const changed = await admin(['server.updateBandwidthLimits', '--incomingRateLimitPerSource=400000']);
    expect(changed).toEqual({ incomingRateLimit: 0, incomingRateLimitPerSource: 400_000 });
    const { bps, seconds } = await finished(p);
    console.log(
      `rate-limits: 24 MiB, limit raised from 20 to 400 Mbit/s after 1 s: ${(bps / 1e6).toFixed(1)} Mbit/s over ${seconds.toFixed(2)} s`,
    );
    // Held at 20 Mbit/s the whole way it would be <= 22; the raise lets it past that.
    expect(bps).toBeGreaterThan(20e6 * SLACK);
  }, 60_000);

  it('two sources share a global limit: each is told half, together they stay under it', async () => {
    await admin(['server.updateBandwidthLimits', '--incomingRateLimit=30000', '--incomingRateLimitPerSource=0']);
    const p1 = send(path.join(root, 'c.bin'), 'c');
    const p2 = send(path.join(root, 'd.bin'), 'd');
    let both: SourceStructure[] = [];
    for (let i = 0; i < 100 && both.length < 2; i++) {
      both = await receivingSources();
      if (both.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(both.map((s) => s.recvRateLimit)).toEqual([15_000, 15_000]);
    const [r1, r2] = await Promise.all([finished(p1), finished(p2)]);
    // Together: all datagram bytes over the longer run (they overlap from the start).
    const together = (r1.bps * r1.seconds + r2.bps * r2.seconds) / Math.max(r1.seconds, r2.seconds);
    console.log(
      `rate-limits: two sources under a 30 Mbit/s global limit: ${(r1.bps / 1e6).toFixed(1)} + ${(r2.bps / 1e6).toFixed(1)} Mbit/s, together ${(together / 1e6).toFixed(1)}`,
    );
    expect(together).toBeLessThanOrEqual(30e6 * SLACK);
  }, 60_000);

  it('refuses bad values naming the field, over the API and as serve flags', async () => {
    for (const [arg, field] of [
      ['--incomingRateLimit=-1', 'incomingRateLimit'],
      ['--incomingRateLimitPerSource=400000001', 'incomingRateLimitPerSource'],
      ['--incomingRateLimit=fast', 'incomingRateLimit'],
      ['--outgoingRateLimit=5', 'outgoingRateLimit'],
    ] as const) {
      const r = await runCli(['api', '--admin-socket', socketPath, 'server.updateBandwidthLimits', arg]);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr).toContain(field);
    }
    for (const [value, text] of [
      ['fast', '--incoming-rate-limit'],
      ['500G', '--incoming-rate-limit: at most 400G'],
    ] as const) {
      const r = await runCli(['serve', '--sandbox-dir', path.join(root, 'never'), '--no-api', '--incoming-rate-limit', value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(text);
    }
    expect((await admin(['getServerInfo'])) as object).toMatchObject({
      bandwidthLimits: { incomingRateLimit: 30_000, incomingRateLimitPerSource: 0 },
    });
  }, 60_000);

  it('refuses a caller that is not an elevated superuser', async () => {
    const r = await runCli(
      ['api', '--api-control-port', String(apiPort), '--user', 'bob', 'server.updateBandwidthLimits', '--incomingRateLimit=1000'],
      {
        env: { JETRECV_API_PASSWORD: 'bob-password-1' },
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/superuser/);
    expect((await admin(['getServerInfo'])) as object).toMatchObject({ bandwidthLimits: { incomingRateLimit: 30_000 } });
  }, 60_000);
});
