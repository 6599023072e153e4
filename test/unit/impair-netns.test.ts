// impair-netns.test.ts — kernel-level impairment helpers: a namespace pair joined by veth
// with an nftables random-drop rule, and a lone-loopback namespace. Runs only where the
// host allows it (root, ip, nft); otherwise each test is skipped with the printed reason.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { checkKernelImpairment, createLoopbackNamespace, createNetnsPair, runCommand, type NetnsPair } from '../tools/netns.js';

const support = checkKernelImpairment();
if (!support.ok) console.log(`impair-netns: skipping kernel-level impairment tests: ${support.skipReason}`);

// A UDP sink run inside a namespace: prints "ready", then the count of datagrams on SIGTERM.
const sinkScript = `
const s = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
let n = 0;
s.on('message', () => n++);
s.bind(9999, process.argv[1], () => console.log('ready'));
process.on('SIGTERM', () => { console.log(String(n)); process.exit(0); });
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

async function countThrough(pair: NetnsPair, count: number): Promise<number> {
  const [cmd, ...args] = pair.wrap('b', [process.execPath, '-e', sinkScript, pair.addressB]);
  const sink = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sink.stdout! });
  const it = lines[Symbol.asyncIterator]();
  expect((await it.next()).value).toBe('ready');
  const sent = await pair.run('a', [process.execPath, '-e', sourceScript, pair.addressB, String(count)]);
  expect(sent.code, sent.stderr).toBe(0);
  await new Promise((r) => setTimeout(r, 200));
  sink.kill('SIGTERM');
  return Number((await it.next()).value);
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
      const got = await countThrough(pair, count);
      const dropped = (await pair.droppedDatagrams()).intoB;
      expect(got + dropped).toBe(count);
      // 20 % of 3000 = 600, standard deviation about 22
      expect(dropped).toBeGreaterThan(480);
      expect(dropped).toBeLessThan(720);

      await pair.setLossPercent(0);
      const clean = await countThrough(pair, 1000);
      expect(clean).toBe(1000);
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
      const [cmd, ...args] = ns.wrap([process.execPath, '-e', sinkScript, '127.0.0.1']);
      const sink = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = createInterface({ input: sink.stdout! })[Symbol.asyncIterator]();
      expect((await lines.next()).value).toBe('ready');
      const sent = await ns.run([process.execPath, '-e', sourceScript, '127.0.0.1', '2000']);
      expect(sent.code, sent.stderr).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      sink.kill('SIGTERM');
      const got = Number((await lines.next()).value);
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
