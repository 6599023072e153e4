// wan-emu.test.ts — the WAN emulator (build/wan-emu via test/tools/wan.ts) does what its flags
// say: the one-way delays add up to the RTT, the bottleneck rate and the drop-tail queue
// limit hold (counted in its own counters and seen by a receiver), random loss drops the
// configured share, and every packet read is accounted for exactly once. Real namespaces,
// TUN devices and UDP sockets. Root only; skipped with the printed reason elsewhere.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWanEmulator, createWanPath, type WanDirStats, type WanPath } from '../tools/wan.js';

const support = checkWanEmulator();
if (!support.ok) console.log(`wan-emu: skipping: ${support.skipReason}`);

// UDP echo/sink in namespace b: echoes datagrams starting with 'P', counts the rest, and on
// SIGTERM prints {count, firstMs, lastMs} (arrival times of the counted ones).
const sinkScript = `
const s = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 16 << 20 });
let count = 0, firstMs = 0, lastMs = 0;
s.on('message', (m, r) => {
  if (m[0] === 0x50) return s.send(m, r.port, r.address);
  const t = performance.now();
  if (count++ === 0) firstMs = t;
  lastMs = t;
});
s.bind(9999, process.argv[1], () => console.log('ready'));
process.on('SIGTERM', () => { console.log(JSON.stringify({ count, firstMs, lastMs })); process.exit(0); });
`;
// In namespace a: 'ping' N round trips one at a time and print their RTTs in ms, or 'blast'
// COUNT datagrams of SIZE bytes as fast as the socket takes them.
const sourceScript = `
const s = require('node:dgram').createSocket({ type: 'udp4', sendBufferSize: 16 << 20 });
const [mode, host, n, size] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 1200)];
if (mode === 'ping') {
  const rtts = [];
  let t0 = 0;
  s.on('message', () => {
    rtts.push(performance.now() - t0);
    if (rtts.length === n) { console.log(JSON.stringify(rtts)); s.close(); } else setTimeout(ping, 5);
  });
  const ping = () => { t0 = performance.now(); s.send(Buffer.from('P'), 9999, host); };
  ping();
} else {
  const buf = Buffer.alloc(size, 0x44);
  let i = 0;
  (function next() {
    for (let k = 0; k < 100 && i < n; k++, i++) s.send(buf, 9999, host);
    if (i < n) setImmediate(next); else setTimeout(() => s.close(), 200);
  })();
}
`;

interface SinkResult {
  count: number;
  firstMs: number;
  lastMs: number;
}

async function withSink(path: WanPath, body: () => Promise<void>): Promise<SinkResult> {
  const [cmd, ...args] = path.wrap('b', [process.execPath, '-e', sinkScript, path.addressB]);
  const sink = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sink.stdout! })[Symbol.asyncIterator]();
  expect((await lines.next()).value).toBe('ready');
  try {
    await body();
  } finally {
    sink.kill('SIGTERM');
  }
  return JSON.parse(String((await lines.next()).value)) as SinkResult;
}

/** Waits until the emulator holds no packet of a->b (everything read was delivered or dropped). */
async function drained(path: WanPath): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const s = await path.stats();
    if (s.ab.in_flight_packets === 0 && s.ab.queue_delay_us === 0) return;
  }
  throw new Error('wan-emu did not drain in 10 s');
}

function accounted(d: WanDirStats): number {
  return d.forwarded_packets + d.lost_packets + d.queue_dropped_packets + d.write_errors + d.in_flight_packets;
}

describe.skipIf(!support.ok)('wan-emu', () => {
  let path: WanPath;
  beforeAll(async () => {
    const created = await createWanPath({ mtu: 1500, prefix: 'jrwanemu' });
    if (created.value === null) throw new Error(`support check passed but creation failed: ${created.skipReason}`);
    path = created.value;
  });
  afterAll(async () => {
    await path?.close();
  });

  it('adds the configured one-way delays: every round trip takes at least the RTT', async () => {
    await path.start({ rttMs: 40 });
    let rtts: number[] = [];
    await withSink(path, async () => {
      const r = await path.run('a', [process.execPath, '-e', sourceScript, 'ping', path.addressB, '10'], 20_000);
      expect(r.code, r.stderr).toBe(0);
      rtts = JSON.parse(r.stdout) as number[];
    });
    expect(rtts).toHaveLength(10);
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(40);
    const s = await path.stop();
    expect(s?.ab.forwarded_packets).toBe(10);
    expect(s?.ba.forwarded_packets).toBe(10);
  });

  it('holds the bottleneck rate and drops at the tail of a full queue, counting every packet once', async () => {
    // 20 Mbit/s with a 20 ms queue holds ~35 datagrams of 1400 bytes; 3,000 arrive at once.
    const rateBps = 20e6;
    await path.start({ rateBps, queueMs: 20, statsIntervalMs: 0 });
    const overflow0 = await path.udpReceiveBufferErrors('b');
    const sink = await withSink(path, async () => {
      const r = await path.run('a', [process.execPath, '-e', sourceScript, 'blast', path.addressB, '3000', '1400'], 30_000);
      expect(r.code, r.stderr).toBe(0);
      await drained(path);
    });
    const s = (await path.stop())!;
    const ab = s.ab;
    expect(ab.rx_packets).toBe(3000 - (await path.deviceDrops()).a); // the device dropped nothing else
    expect(accounted(ab)).toBe(ab.rx_packets);
    expect(ab.queue_dropped_packets).toBeGreaterThan(0);
    expect(ab.lost_packets).toBe(0);
    expect(ab.queue_delay_peak_us).toBeLessThanOrEqual(20_000 + (1428 * 8e6) / rateBps);
    expect(ab.queue_delay_peak_us).toBeGreaterThan(10_000);
    expect(sink.count + (await path.udpReceiveBufferErrors('b')) - overflow0).toBe(ab.forwarded_packets); // a slow sink may overflow
    // The receiver saw them no faster than the bottleneck rate (10 % slack: the first
    // delivery may be woken late, the rest then leave on their virtual-time schedule).
    const ipBytes = 1428; // 1400 + UDP 8 + IPv4 20
    const minSpanMs = ((sink.count - 1) * ipBytes * 8 * 1000) / rateBps;
    expect(sink.lastMs - sink.firstMs).toBeGreaterThanOrEqual(minSpanMs * 0.9);
  });

  it('drops the configured share at random, after the bottleneck', async () => {
    await path.start({ rateBps: 50e6, lossPercent: 10, queueMs: 1000, seed: 7, statsIntervalMs: 0 });
    const overflow0 = await path.udpReceiveBufferErrors('b');
    const sink = await withSink(path, async () => {
      const r = await path.run('a', [process.execPath, '-e', sourceScript, 'blast', path.addressB, '4000', '1000'], 30_000);
      expect(r.code, r.stderr).toBe(0);
      await drained(path);
    });
    const ab = (await path.stop())!.ab;
    expect(ab.queue_dropped_packets).toBe(0);
    expect(accounted(ab)).toBe(ab.rx_packets);
    expect(ab.lost_packets / ab.rx_packets).toBeGreaterThan(0.07);
    expect(ab.lost_packets / ab.rx_packets).toBeLessThan(0.13);
    expect(sink.count + (await path.udpReceiveBufferErrors('b')) - overflow0).toBe(ab.forwarded_packets);
  });
});
