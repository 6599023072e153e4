// route-mtu.test.ts — a jumbo --datagram-size on a route with a 1500-byte MTU. A real
// `jetrecv serve` in one network namespace and a real `jetrecv send --datagram-size 8972`
// in another, joined by a veth pair of MTU 1500. Before, the sender's GSO sends failed with
// EINVAL forever and the transfer hung; now it fits its datagrams to the route (with a
// warning naming the MTU) and the file arrives intact. Needs root, ip and nft (the netns
// helpers); skipped with the printed reason elsewhere.
import path from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKernelImpairment, createNetnsPair, type NetnsPair } from '../tools/netns.js';
import { cliPath, sha256File, tempDir, writeRandomFile } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

const support = checkKernelImpairment();
if (!support.ok) console.log(`route-mtu: skipping: ${support.skipReason}`);

describe.skipIf(!support.ok)('a datagram size larger than the route MTU', () => {
  let pair: NetnsPair;
  let root: string;
  let serve: ServeProcess;
  let serverKey = '';

  beforeAll(async () => {
    const created = await createNetnsPair({ mtu: 1500, prefix: 'jrmtu' });
    if (created.value === null) throw new Error(`support check passed but creation failed: ${created.skipReason}`);
    pair = created.value;
    root = await tempDir('mtu');
    await mkdir(path.join(root, 'sandbox'));
    serve = spawnJetrecv(['serve', '--sandbox-dir', path.join(root, 'sandbox'), '--recv-host', pair.addressB, '--recv-port', '9700', '--no-api'], {
      wrapper: pair.wrap('b', []),
    });
    serverKey = (await serve.ready()).publicKey;
  });
  afterAll(async () => {
    await serve?.stop();
    await pair?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('jetrecv send --datagram-size 8972 over MTU 1500 sends 1472-byte datagrams, says so, and the file arrives intact', async () => {
    const file = path.join(root, 'f.bin');
    await writeRandomFile(file, 6 << 20);
    const res = await pair.run('a', [process.execPath, cliPath, 'send', '--to', `${pair.addressB}:9700`, '--server-key', serverKey, '--datagram-size', '8972', '--json', '--dest', 'd', file], 60_000);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('does not fit the 1500-byte MTU of the route');
    expect(res.stderr).toContain('sending 1472-byte datagrams');
    const summary = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { totalBlocks: number };
    expect(summary.totalBlocks).toBe(Math.ceil((6 << 20) / (1472 - 56))); // 1416-byte blocks
    expect(await sha256File(path.join(root, 'sandbox', 'd', 'f.bin'))).toBe(await sha256File(file));
  }, 90_000);
});
