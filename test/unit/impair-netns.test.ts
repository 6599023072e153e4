// impair-netns.test.ts — kernel-level impairment helpers: a namespace pair joined by veth
// with an nftables random-drop rule, and a lone-loopback namespace. Runs only where the
// host allows it (root, ip, nft); otherwise each test is skipped with the printed reason.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import {
  checkKernelImpairment,
  createLoopbackNamespace,
  createNetnsPair,
  runCommand,
  type CommandResult,
  type NetnsPair,
} from '../tools/netns.js';

const support = checkKernelImpairment();
if (!support.ok) console.log(`impair-netns: skipping kernel-level impairment tests: ${support.skipReason}`);

// A UDP sink run inside a namespace: prints "ready", then its count of datagrams every 50 ms.
const sinkScript = `
const s = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
let n = 0;
s.on('message', () => n++);
s.bind(9999, process.argv[1], () => { console.log('ready'); setInterval(() => console.log(String(n)), 50); });
`;
// Sends COUNT datagrams of 1200 bytes to HOST:9999, paced so no socket buffer overflows.
const sourceScript = `
const s = require('node:dgram').createSocket('udp4');
const [host, count] = [process.argv[1], Number(process.argv[2])];
let i = 0;
const buf = Buffer.alloc(1200);
(function next() {
  for (let k = 0; k < 50 && i < count; k++, i++) s.send(buf, 9999, host);
  if (i < count) setTimeout(next, 2); else setTimeout(() => s.close(), 100);
})();
`;

/** Where the sink runs (and listens: `host`) and where the source runs. */
interface UdpPath {
  host: string;
  wrapSink(argv: string[]): string[];
  runSource(argv: string[]): Promise<CommandResult>;
}
const pairPath = (pair: NetnsPair): UdpPath => ({
  host: pair.addressB,
  wrapSink: (argv) => pair.wrap('b', argv),
  runSource: (argv) => pair.run('a', argv),
});

/**
 * Sends `count` datagrams along `path`; returns how many the sink in b received, once that
 * plus `lostElsewhere()` (drops counted outside the sink) accounts for all of them, or after
 * 5 s (a loaded host may leave the sink behind for a while; a fixed wait flaked).
 */
async function countThrough(path: UdpPath, count: number, lostElsewhere: () => Promise<number>): Promise<number> {
  const [cmd, ...args] = path.wrapSink([process.execPath, '-e', sinkScript, path.host]);
  const sink = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sink.stdout! });
  const it = lines[Symbol.asyncIterator]();
  try {
    expect((await it.next()).value).toBe('ready');
    const sent = await path.runSource([process.execPath, '-e', sourceScript, path.host, String(count)]);
    expect(sent.code, sent.stderr).toBe(0);
    const deadline = Date.now() + 5000;
    let got = 0;
    for (;;) {
      const line = await it.next();
      if (line.done) break;
      got = Number(line.value);
      if (got + (await lostElsewhere()) >= count || Date.now() > deadline) break;
    }
    return got;
  } finally {
    sink.kill('SIGTERM');
  }
}

describe('netns: kernel-level impairment', () => {
  it('reports either support or a non-empty reason', () => {
    expect(typeof support.ok).toBe('boolean');
    if (!support.ok) expect(support.skipReason).toMatch(/\S/);
    else expect(support.skipReason).toBeNull();
  });

  it.skipIf(!support.ok)('drops about N % of the UDP datagrams crossing the veth pair, counted by nft', async () => {
    const created = await createNetnsPair({ lossPercent: 20 });
    if (created.value === null) throw new Error(`support check passed but creation failed: ${created.skipReason}`);
    const pair = created.value;
    try {
      const count = 3000;
      const overflow0 = await pair.udpReceiveBufferErrors('b');
      // A sink starved on a loaded host may also overflow its socket buffer: counted apart.
      const overflowNow = async () => (await pair.udpReceiveBufferErrors('b')) - overflow0;
      const got = await countThrough(pairPath(pair), count, async () => (await pair.droppedDatagrams()).intoB + (await overflowNow()));
      const dropped = (await pair.droppedDatagrams()).intoB;
      const overflow = await overflowNow();
      expect(got + dropped + overflow).toBe(count);
      expect(overflow).toBeLessThan(count / 10);
      // 20 % of 3000 = 600, standard deviation about 22
      expect(dropped).toBeGreaterThan(480);
      expect(dropped).toBeLessThan(720);

      await pair.setLossPercent(0);
      const overflow1 = await pair.udpReceiveBufferErrors('b');
      const cleanOverflow = async () => (await pair.udpReceiveBufferErrors('b')) - overflow1;
      const clean = await countThrough(pairPath(pair), 1000, cleanOverflow);
      expect(clean + (await cleanOverflow())).toBe(1000);
    } finally {
      await pair.close();
      await pair.close();
    }
    const list = await runCommand(['ip', 'netns', 'list']);
    expect(list.stdout).not.toContain(pair.nsA);
    expect(list.stdout).not.toContain(pair.nsB);
  });

  it('rejects a bad loss percent naming it', async () => {
    await expect(createNetnsPair({ lossPercent: 150 })).rejects.toThrow(/loss percent must be an integer 0\.\.100, got 150/);
    await expect(createNetnsPair({ lossPercent: 2.5 })).rejects.toThrow(/got 2\.5/);
  });

  it.skipIf(!support.ok)('creates a namespace whose only interface is lo, up, with optional UDP loss on lo', async () => {
    const created = await createLoopbackNamespace('jetrecv-lo', { lossRules: true });
    if (created.value === null) throw new Error(created.skipReason);
    const ns = created.value;
    try {
      const links = await ns.run(['ip', '-o', 'link', 'show']);
      expect(links.code).toBe(0);
      const names = links.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]!.trim());
      expect(names).toEqual(['lo']);
      expect(links.stdout).toMatch(/lo: <LOOPBACK,UP/);

      // Loss on lo for one port: 30 % of 2000 datagrams to 127.0.0.1:9999 go (sd about 20).
      await ns.setUdpLossPercent(30, 9999);
      const got = await countThrough(
        { host: '127.0.0.1', wrapSink: (argv) => ns.wrap(argv), runSource: (argv) => ns.run(argv) },
        2000,
        () => ns.droppedDatagrams(),
      );
      const dropped = await ns.droppedDatagrams();
      expect(got + dropped).toBe(2000);
      expect(dropped).toBeGreaterThan(500);
      expect(dropped).toBeLessThan(700);
      await expect(ns.setUdpLossPercent(5, 70000)).rejects.toThrow(/port must be 1-65535, got 70000/);
    } finally {
      await ns.close();
    }
    expect((await runCommand(['ip', 'netns', 'list'])).stdout).not.toContain(ns.name);
  });
});
