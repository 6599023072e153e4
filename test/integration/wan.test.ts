// wan.test.ts — a real `jetrecv serve` in namespace b and a real `jetrecv send` in namespace a,
// through the WAN emulator (build/wan-emu), a 50 ms drop-tail queue: 100 Mbit/s, 40 ms RTT,
// 1 % random loss with the default start rate, and a slow path (10 Mbit/s, 100 ms, 1 %) with
// `--rate-start 20M`. Each file must arrive intact, and the sender must not flood the
// bottleneck: blocks retransmitted / blocks sent stays under kMaxRetransmittedOverSent. Not timed.
// Root only (namespaces, TUN); skipped with the printed reason elsewhere.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWanEmulator, createWanPath, type WanPath } from '../tools/wan.js';
import { cliPath, sha256File, writeRandomFile } from './harness.js';
import { startServeInNamespace, type NamespaceServe } from './namespace-serve.js';

/**
 * Upper bound of blocks retransmitted / blocks sent on this path: issue 10's target, the
 * random loss + 1 %, plus 1 % for a loaded 2-core machine. The controller of issue 10's time
 * (a FEEDBACK-interval "round", no RTT) measured 0.64 and 0.71 here (~42,000 queue drops
 * against ~235 random losses); the one that measures the path (first train, startup ending on
 * queue growth) measured 0.0135 (75 queue drops, retransmitted / lost 1.03), and 0.013-0.029
 * with two CPU hogs beside it (its startup overshoot grows when the sender is starved), so the
 * bound is 0.08: generous, and still an order of magnitude below the flooding controller.
 * The emulator is a user-space link that needs a core of its own: starved (e.g. beside the
 * 1M-datagram flood test), it reads a backlog late and its queue model sees a burst; a run
 * that measured 0.32 (11,049 queue drops) happened that way. So npm test runs this file on
 * its own, after the others (package.json test:ts). A CI run measured 0.125 (3,111 queue
 * drops) on a quiet host: the receiver's echo had miscounted the first train (a sender batch
 * shares a stamp, and the echo was its first arrival while the bytes counted all of it), so
 * the first delivery sample said up to 1.8x the path, in ~1 run of 4; fixed in
 * receive_feedback.cc (the echo is a batch's last arrival).
 */
const kMaxRetransmittedOverSent = 0.08;
const kPort = 9710;

const support = checkWanEmulator();
if (!support.ok) console.log(`wan: skipping: ${support.skipReason}`);

describe.skipIf(!support.ok)('jetrecv through an emulated WAN (50 ms drop-tail queue)', () => {
  let wan: WanPath;
  let rx: NamespaceServe;

  beforeAll(async () => {
    const created = await createWanPath({ mtu: 1500, prefix: 'jrwan' });
    if (created.value === null) throw new Error(`support check passed but creation failed: ${created.skipReason}`);
    wan = created.value;
    rx = await startServeInNamespace(wan, kPort, 'wan');
  });
  afterAll(async () => {
    await rx?.close();
    await wan?.close();
  });

  /**
   * Starts the emulator with `link`, sends a random file of `fileBytes` from a to b with
   * `jetrecv send` (and `extraArgs`), checks it arrived intact and that the path lost packets
   * and the sender recovered them; returns blocks retransmitted / blocks sent.
   */
  async function sendThrough(
    name: string,
    link: { rateBps: number; rttMs: number; lossPercent: number },
    fileBytes: number,
    extraArgs: string[] = [],
  ): Promise<number> {
    await wan.start({ ...link, queueMs: 50, statsIntervalMs: 0 });
    const file = path.join(rx.root, `${name}.bin`);
    await writeRandomFile(file, fileBytes);
    const res = await wan.run(
      'a',
      [
        process.execPath,
        cliPath,
        'send',
        '--to',
        `${wan.addressB}:${kPort}`,
        '--server-key',
        rx.serverKey,
        '--datagram-size',
        '1472',
        ...extraArgs,
        '--json',
        '--quiet',
        '--dest',
        name,
        file,
      ],
      120_000,
    );
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { blocksSent: number; blocksRetransmitted: number };
    const counters = (await wan.stop())!.ab;
    console.log(
      `wan ${name}: blocks sent ${summary.blocksSent}, retransmitted ${summary.blocksRetransmitted}; path lost ${counters.lost_packets} at random, ${counters.queue_dropped_packets} in the queue (peak ${counters.queue_delay_peak_us / 1000} ms)`,
    );
    expect(await sha256File(path.join(rx.root, 'sandbox', name, `${name}.bin`))).toBe(await sha256File(file));
    expect(counters.lost_packets).toBeGreaterThan(0); // the path really lost packets ...
    expect(summary.blocksRetransmitted).toBeGreaterThan(0); // ... and the sender recovered them
    return summary.blocksRetransmitted / summary.blocksSent;
  }

  it('delivers a 32 MiB file intact over 100 Mbit/s, 40 ms, 1 % without resending more than the bound', async () => {
    const ratio = await sendThrough('fast', { rateBps: 100e6, rttMs: 40, lossPercent: 1 }, 32 << 20);
    expect(ratio).toBeLessThanOrEqual(kMaxRetransmittedOverSent);
  }, 150_000);

  // A start rate twice the path's: the first train must be long enough to show it queued
  // (rate_control.h kInitialTrainMinBytes). With 4 ms of 20 Mbit/s (7 datagrams) 4 runs of 6
  // took 20 Mbit/s as the path and resent 13-16 % (549-705 queue drops), and this test failed
  // 4 of 4 (16.6-17.1 %); with the 64 KiB floor 0.9-3.5 % in 14 of 14.
  it('delivers a 4 MiB file intact over 10 Mbit/s, 100 ms, 1 % from --rate-start 20M without resending more than the bound', async () => {
    const ratio = await sendThrough('slow', { rateBps: 10e6, rttMs: 100, lossPercent: 1 }, 4 << 20, ['--rate-start', '20M']);
    expect(ratio).toBeLessThanOrEqual(kMaxRetransmittedOverSent);
  }, 150_000);
});
