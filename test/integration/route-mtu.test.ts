// route-mtu.test.ts — sends the route refuses. A real `jetrecv serve` in one network
// namespace and a real `jetrecv send` in another, joined by a veth pair of MTU 1500:
// - a jumbo --datagram-size: before, every GSO send failed (EMSGSIZE) and the transfer hung;
//   now the sender fits its datagrams to the route (with a warning naming the MTU) and the
//   file arrives intact;
// - a firewall that starts dropping the sender's packets mid-transfer (nft output drop, so
//   sendmsg fails with EPERM): the sender gives up after 5 s of failed sends with an error
//   naming the cause, instead of retrying forever.
// Needs root, ip and nft (the netns helpers); skipped with the printed reason elsewhere.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKernelImpairment, createNetnsPair, type NetnsPair } from '../tools/netns.js';
import { cliPath, sha256File, writeRandomFile } from './harness.js';
import { startServeInNamespace, type NamespaceServe } from './namespace-serve.js';

const support = checkKernelImpairment();
if (!support.ok) console.log(`route-mtu: skipping: ${support.skipReason}`);

describe.skipIf(!support.ok)('a datagram size larger than the route MTU', () => {
  let pair: NetnsPair;
  let rx: NamespaceServe;
  let root: string;
  let serverKey = '';

  beforeAll(async () => {
    const created = await createNetnsPair({ mtu: 1500, prefix: 'jrmtu' });
    if (created.value === null) throw new Error(`support check passed but creation failed: ${created.skipReason}`);
    pair = created.value;
    rx = await startServeInNamespace(pair, 9700, 'mtu');
    ({ root, serverKey } = rx);
  });
  afterAll(async () => {
    await rx?.close();
    await pair?.close();
  });

  it('jetrecv send --datagram-size 8972 over MTU 1500 sends 1472-byte datagrams, says so, and the file arrives intact', async () => {
    const file = path.join(root, 'f.bin');
    await writeRandomFile(file, 6 << 20);
    const res = await pair.run(
      'a',
      [
        process.execPath,
        cliPath,
        'send',
        '--to',
        `${pair.addressB}:9700`,
        '--server-key',
        serverKey,
        '--datagram-size',
        '8972',
        '--json',
        '--dest',
        'd',
        file,
      ],
      60_000,
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('does not fit the 1500-byte MTU of the route');
    expect(res.stderr).toContain('sending 1472-byte datagrams');
    const summary = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { totalBlocks: number };
    expect(summary.totalBlocks).toBe(Math.ceil((6 << 20) / (1472 - 56))); // 1416-byte blocks
    expect(await sha256File(path.join(root, 'sandbox', 'd', 'f.bin'))).toBe(await sha256File(file));
  }, 90_000);

  it('fails with the send error when the route starts refusing every send, instead of retrying forever', async () => {
    const file = path.join(root, 'g.bin');
    await writeRandomFile(file, 256 << 20);
    const send = pair.run(
      'a',
      [
        process.execPath,
        cliPath,
        'send',
        '--to',
        `${pair.addressB}:9700`,
        '--server-key',
        serverKey,
        '--rate-max',
        '100M',
        '--dest',
        'g',
        file,
      ],
      60_000,
    );
    await new Promise((r) => setTimeout(r, 2000)); // connected and sending (256 MiB at 100 Mbit/s: ~21 s)
    const t0 = Date.now();
    for (const cmd of [
      ['add', 'table', 'inet', 'jrblock'],
      ['add', 'chain', 'inet', 'jrblock', 'out', '{ type filter hook output priority 0; }'],
      ['add', 'rule', 'inet', 'jrblock', 'out', 'udp', 'dport', '9700', 'drop'],
    ]) {
      const r = await pair.run('a', ['nft', ...cmd], 10_000);
      expect(r.code, r.stderr).toBe(0);
    }
    const res = await send;
    const waited = Date.now() - t0;
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/cannot send to the receiver: Operation not permitted/);
    expect(waited).toBeLessThan(45_000); // gave up on its own, long before the 60 s kill
  }, 90_000);
});
