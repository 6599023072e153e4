// Loss recovery end to end: the real `jetrecv send` CLI → the impairment relay → a real
// receiver (real addon, sockets and files). Every transfer must complete with every file
// intact (sha256) at 1 %, 5 % and 20 % random loss, with reordering and duplication, and when
// the last data packets of a file and of the whole transfer are lost; where root and nft are
// available the same at 1 % and 5 % kernel-level loss (nftables on the loopback of a private
// network namespace); and at 5 % with the lanes spread over two TX threads. Each case prints
// blocks retransmitted / datagrams lost (ideal ≈ 1); nothing here asserts a time.
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLoopbackNamespace } from '../tools/netns.js';
import { startImpairRelay, type DropRule, type ImpairRelayOptions, type RelayStats } from '../tools/impair-relay.js';
import {
  cliPath,
  runCli,
  sha256File,
  startTestReceiver,
  tempDir,
  useReceiverAndSourceDir,
  writeRandomFile,
  type TestReceiver,
} from './harness.js';

const kDatagram = 1472; // standard MTU: B = 1416, every full block packet is exactly 1472 bytes
const kBlock = kDatagram - 56;
const kRateMax = '200M'; // the relay runs on this process's event loop
const kPositionPacket = 16 + 24 + 16;

interface SendSummary {
  bytes: number;
  seconds: number;
  gbitPerSecond: number;
  blocksSent: number;
  blocksRetransmitted: number;
  totalBlocks: number;
}

let rx: TestReceiver;
let src: string;

useReceiverAndSourceDir('loss-src', (r, s) => {
  rx = r;
  src = s;
});

function parseSummary(stdout: string): SendSummary {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as SendSummary;
}

/** Lost on the way to the receiver: chosen by the relay, or dropped by its own full sockets. */
function lostToServer(s: RelayStats): number {
  return s.toServer.dropped + s.toServer.droppedByRule + (s.socketDrops ?? 0);
}

async function makeFiles(name: string, sizes: number[]): Promise<string[]> {
  const dir = path.join(src, name);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const f = path.join(dir, `f${i}.bin`);
    await writeRandomFile(f, sizes[i]!);
    files.push(f);
  }
  return files;
}

async function expectIntact(files: string[], dest: string, to: TestReceiver = rx): Promise<void> {
  for (const f of files) {
    expect(await sha256File(path.join(to.sandbox, dest, path.basename(f))), `${dest}/${path.basename(f)}`).toBe(await sha256File(f));
  }
}

/** Sends `files` through a relay with `impair` to the receiver `to`; checks integrity; returns figures. */
async function sendThroughRelay(
  label: string,
  files: string[],
  impair: Omit<ImpairRelayOptions, 'target'>,
  extra: string[] = [],
  to: TestReceiver = rx,
): Promise<{ summary: SendSummary; relay: RelayStats }> {
  const relay = await startImpairRelay({ target: { host: '127.0.0.1', port: to.daemon.recvPort }, seed: 11, ...impair });
  let relayStats: RelayStats;
  let res;
  try {
    res = await runCli(
      [
        'send',
        '--json',
        '--to',
        `127.0.0.1:${relay.port}`,
        '--server-key',
        to.daemon.publicKey,
        '--handshake-timeout',
        '10s',
        '--datagram-size',
        String(kDatagram),
        '--rate-max',
        kRateMax,
        '--dest',
        label,
        ...extra,
        ...files,
      ],
      { timeoutMs: 90_000 },
    );
  } finally {
    relayStats = relay.stats();
    await relay.close();
  }
  expect(res.code, res.stderr).toBe(0);
  const summary = parseSummary(res.stdout);
  await expectIntact(files, label, to);
  const lost = lostToServer(relayStats);
  const ratio = lost > 0 ? (summary.blocksRetransmitted / lost).toFixed(2) : 'n/a';
  console.log(
    `[loss] ${label}: ${(summary.bytes / 1048576).toFixed(1)} MiB in ${summary.seconds.toFixed(2)} s (${summary.gbitPerSecond.toFixed(3)} Gbit/s), ` +
      `datagrams to receiver ${relayStats.toServer.received}, lost ${lost} (relay socket drops ${relayStats.socketDrops ?? 'n/a'}), ` +
      `blocks retransmitted ${summary.blocksRetransmitted}, retransmitted/lost ${ratio}`,
  );
  return { summary, relay: relayStats };
}

describe('loss recovery through the impairment relay', () => {
  it('completes intact at 1 % random loss', async () => {
    const files = await makeFiles('l1', [8 << 20, 1 << 20, 12_345]);
    const { summary, relay } = await sendThroughRelay('l1', files, { toServer: { drop: 0.01 } });
    expect(relay.toServer.dropped).toBeGreaterThan(0);
    expect(summary.blocksRetransmitted).toBeGreaterThan(0);
  });

  it('completes intact at 5 % random loss, with feedback lost too', async () => {
    const files = await makeFiles('l5', [8 << 20, 3 << 20]);
    const { summary, relay } = await sendThroughRelay('l5', files, { toServer: { drop: 0.05 }, toClient: { drop: 0.05 } });
    expect(relay.toClient.dropped).toBeGreaterThan(0);
    // Recovery resends about what was lost, not a multiple of it (no resend storm).
    expect(summary.blocksRetransmitted).toBeLessThan(3 * lostToServer(relay) + 50);
  });

  it('retransmits exactly with two TX threads at 5 % loss (--lanes 2 --tx-threads 2)', async () => {
    const files = await makeFiles('tx2', [8 << 20, 2 << 20, 4321]);
    const { summary, relay } = await sendThroughRelay('tx2', files, { toServer: { drop: 0.05 } }, ['--lanes', '2', '--tx-threads', '2']);
    expect(summary.blocksRetransmitted).toBeGreaterThan(0);
    // Every block once in the first pass, and about what was lost resent, not twice over.
    expect(summary.blocksSent - summary.blocksRetransmitted).toBe(summary.totalBlocks);
    expect(summary.blocksRetransmitted).toBeLessThan(2 * lostToServer(relay) + 50);
  });

  it('resends exactly what was lost when the lanes sit on two RX threads (--rx-threads 2 --lanes 2)', async () => {
    // Lane 1 is read by the other RX thread than lane 0's POSITION: NACKs wait until both
    // threads have drained (PROTOCOL-transfer §3), so real losses are resent and queued
    // blocks are not (no duplicates at the receiver).
    const rx2 = await startTestReceiver({ rxThreads: 2 });
    try {
      const files = await makeFiles('rx2', [8 << 20, 2 << 20, 4321]);
      const dup0 = rx2.daemon.receiver.counters()['drop_duplicate_block'] ?? 0;
      const { summary, relay } = await sendThroughRelay(
        'rx2',
        files,
        { toServer: { drop: 0.05 } },
        ['--lanes', '2', '--tx-threads', '2'],
        rx2,
      );
      const dup = (rx2.daemon.receiver.counters()['drop_duplicate_block'] ?? 0) - dup0;
      console.log(`[loss] rx2: receiver duplicate blocks ${dup}`);
      expect(summary.blocksRetransmitted).toBeGreaterThan(0);
      expect(summary.blocksSent - summary.blocksRetransmitted).toBe(summary.totalBlocks);
      expect(summary.blocksRetransmitted).toBeLessThan(2 * lostToServer(relay) + 50);
    } finally {
      await rx2.close();
    }
  });

  it('converges at 20 % random loss', async () => {
    const files = await makeFiles('l20', [3 << 20, 100_000]);
    const { summary } = await sendThroughRelay('l20', files, { toServer: { drop: 0.2 } });
    expect(summary.blocksRetransmitted).toBeGreaterThan(0);
  });

  it('completes intact with reordering, duplication and 1 % loss', async () => {
    const files = await makeFiles('reorder', [6 << 20, 2 << 20, 777]);
    const dup0 = rx.daemon.receiver.counters()['drop_duplicate_block'] ?? 0;
    const { relay } = await sendThroughRelay('reorder', files, {
      toServer: { drop: 0.01, reorder: 0.05, reorderDelayMs: 3, duplicate: 0.05, jitterMs: 1 },
    });
    expect(relay.toServer.reordered).toBeGreaterThan(0);
    expect(relay.toServer.duplicated).toBeGreaterThan(0);
    // Duplicated datagrams carry new counters only when resent, so the relay's copies are
    // replays (dropped by the replay window); blocks that arrive twice are counted, not rewritten.
    const dup = (rx.daemon.receiver.counters()['drop_duplicate_block'] ?? 0) - dup0;
    console.log(
      `[loss] reorder: relay duplicated ${relay.toServer.duplicated}, reordered ${relay.toServer.reordered}, receiver duplicate blocks ${dup}`,
    );
  });

  it('recovers when the last data packets of a file and of the whole transfer are lost', async () => {
    // File 0 ends in a short block (333 bytes → a 389-byte packet, unlike any other);
    // file 1 is a whole number of blocks, so its last packets are full size (1472 bytes).
    const blocks0 = 40;
    const blocks1 = 300;
    const files = await makeFiles('tail', [blocks0 * kBlock + 333, blocks1 * kBlock]);
    const fullInFirstPass = blocks0 + blocks1;
    const dropLast = 25; // first transmission of the last 25 blocks of the transfer
    let fullSeen = 0;
    let shortDropped = 0;
    let positionsDropped = 0;
    const dropIf: DropRule = (dir, packet) => {
      if (dir !== 'toServer' || packet[0] !== 0x03) return false;
      if (packet.length === kDatagram) {
        fullSeen++;
        return fullSeen > fullInFirstPass - dropLast && fullSeen <= fullInFirstPass;
      }
      if (packet.length === 333 + 56 && shortDropped === 0) {
        shortDropped++;
        return true; // the last block of file 0, the first time it is sent
      }
      // Once the first pass is over, lose the first few POSITION frames as well, so the
      // receiver learns late that the tail was sent at all.
      if (packet.length === kPositionPacket && fullSeen >= fullInFirstPass && positionsDropped < 3) {
        positionsDropped++;
        return true;
      }
      return false;
    };
    const { summary, relay } = await sendThroughRelay('tail', files, { dropIf });
    expect(relay.toServer.droppedByRule).toBeGreaterThanOrEqual(dropLast + 1);
    expect(shortDropped).toBe(1);
    expect(summary.blocksRetransmitted).toBeGreaterThanOrEqual(dropLast + 1);
  });
});

/** Runs `jetrecv serve` inside a namespace and resolves its data port and key. */
function serveIn(wrap: (argv: string[]) => string[], sandbox: string): Promise<{ port: number; key: string; stop(): Promise<void> }> {
  const argv = wrap([
    process.execPath,
    cliPath,
    'serve',
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--sandbox-dir',
    sandbox,
    '--log-level',
    'info',
  ]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jetrecv serve did not get ready: ${err}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        try {
          const rec = JSON.parse(line) as { msg?: string; recvPort?: number; publicKey?: string };
          if (rec.msg === 'jetrecv receiver ready' && rec.recvPort && rec.publicKey) {
            clearTimeout(timer);
            resolve({ port: rec.recvPort, key: rec.publicKey, stop });
          }
        } catch {
          /* not a JSON line yet */
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jetrecv serve exited with ${code}: ${err}`));
    });
  });
}

describe('loss recovery with kernel-level loss (nftables in a network namespace)', () => {
  for (const percent of [1, 5]) {
    it(`completes intact at ${percent} % kernel-level loss at full speed`, async (ctx) => {
      const created = await createLoopbackNamespace('jetrecv-loss', { lossRules: true });
      if (!created.value) {
        console.log(`[loss] kernel-level ${percent} % skipped: ${created.skipReason}`);
        ctx.skip();
        return;
      }
      const ns = created.value;
      const sandbox = await tempDir(`kloss${percent}`);
      const datagram = 8972;
      try {
        const files = await makeFiles(`k${percent}`, [32 << 20, 5 << 20]);
        const server = await serveIn(ns.wrap, sandbox);
        try {
          await ns.setUdpLossPercent(percent, server.port);
          const res = await ns.run(
            [
              process.execPath,
              cliPath,
              'send',
              '--json',
              '--to',
              `127.0.0.1:${server.port}`,
              '--server-key',
              server.key,
              '--handshake-timeout',
              '10s',
              '--datagram-size',
              String(datagram),
              ...files,
            ],
            90_000,
          );
          expect(res.code, res.stderr).toBe(0);
          const summary = parseSummary(res.stdout);
          for (const f of files) expect(await sha256File(path.join(sandbox, path.basename(f)))).toBe(await sha256File(f));
          // nft counts packets as the kernel sees them: on loopback a UDP GSO send stays one
          // packet of up to 7 datagrams, so datagrams lost come from the byte counter.
          const listing = await ns.run(['nft', 'list', 'chain', 'inet', 'jetrecv_impair', 'input']);
          const m = /counter packets (\d+) bytes (\d+) drop/.exec(listing.stdout);
          const skbs = m ? Number(m[1]) : 0;
          const lostDatagrams = m ? Math.round(Number(m[2]) / (datagram + 28)) : 0;
          expect(lostDatagrams).toBeGreaterThan(0);
          console.log(
            `[loss] kernel ${percent} %: ${(summary.bytes / 1048576).toFixed(0)} MiB at ${summary.gbitPerSecond.toFixed(2)} Gbit/s, ` +
              `dropped ${skbs} packets ≈ ${lostDatagrams} datagrams, blocks retransmitted ${summary.blocksRetransmitted}, ` +
              `retransmitted/lost ${(summary.blocksRetransmitted / lostDatagrams).toFixed(2)}`,
          );
          expect(summary.blocksRetransmitted).toBeLessThan(3 * lostDatagrams + 100);
        } finally {
          await server.stop();
        }
      } finally {
        await ns.close();
        await rm(sandbox, { recursive: true, force: true });
      }
    });
  }
});
