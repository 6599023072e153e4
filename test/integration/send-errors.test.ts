// send-errors.test.ts — the receiver's own sends fail (issue 12, finding 2). A real
// `jetrecv serve` in one network namespace, a real `jetrecv send` in another; mid-transfer
// an nft output rule in the receiver's namespace drops everything it sends from its data
// port, so every sendmsg fails with EPERM (FilesDone, acks, handshake responses). The
// daemon must stay up, count and log the failures (rate-limited), and once the rule is
// gone the sender reconnects, resumes and finishes with every file intact.
// Needs root, ip and nft (the netns helpers); skipped with the printed reason elsewhere.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKernelImpairment, createNetnsPair, type NetnsPair } from '../tools/netns.js';
import { cliPath, diffTrees, listTree, writeRandomFile } from './harness.js';
import type { ServeProcess } from './serve-process.js';
import { startServeInNamespace, type NamespaceServe } from './namespace-serve.js';

const support = checkKernelImpairment();
if (!support.ok) console.log(`send-errors: skipping: ${support.skipReason}`);

const kPort = 9701;

describe.skipIf(!support.ok)("the receiver's own sends fail mid-transfer (EPERM)", () => {
  let pair: NetnsPair;
  let rx: NamespaceServe;
  let root: string;
  let serve: ServeProcess;
  let serverKey = '';

  beforeAll(async () => {
    const created = await createNetnsPair({ prefix: 'jrsend' });
    if (created.value === null) throw new Error(`support check passed but creation failed: ${created.skipReason}`);
    pair = created.value;
    rx = await startServeInNamespace(pair, kPort, 'senderr');
    ({ root, serve, serverKey } = rx);
  });
  afterAll(async () => {
    await rx?.close();
    await pair?.close();
  });

  it('the daemon survives, logs the failed sends, and the sender resumes once they work again', async () => {
    // Many small files: FilesDone control messages go out all through the transfer.
    const src = path.join(root, 'srcp', 'src');
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 400; i++) await writeRandomFile(path.join(src, `f${i}.bin`), 64 << 10);
    const send = pair.run(
      'a',
      [
        process.execPath,
        cliPath,
        'send',
        '--to',
        `${pair.addressB}:${kPort}`,
        '--server-key',
        serverKey,
        '--rate-max',
        '20M',
        '--dest',
        'd',
        src,
      ],
      120_000,
    );
    await serve.waitForLog((l) => l.msg === 'transfer accepted', 'transfer accepted', { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1500)); // some files finalized and announced
    const nft = (...args: string[]) => pair.run('b', ['nft', ...args], 10_000);
    for (const cmd of [
      ['add', 'table', 'inet', 'jrsenderr'],
      ['add', 'chain', 'inet', 'jrsenderr', 'out', '{ type filter hook output priority 0; }'],
      ['add', 'rule', 'inet', 'jrsenderr', 'out', 'udp', 'sport', String(kPort), 'drop'],
    ]) {
      const r = await nft(...cmd);
      expect(r.code, r.stderr).toBe(0);
    }
    await serve.waitForLog((l) => l.msg === 'send failed; the datagram is lost' && l['errno'] === 1, 'a failed send (EPERM) logged', {
      timeoutMs: 20_000,
    });
    await new Promise((r) => setTimeout(r, 4000)); // the sender loses the receiver and retries its handshake
    expect(serve.exitStatus()).toBeNull();
    const del = await nft('delete', 'table', 'inet', 'jrsenderr');
    expect(del.code, del.stderr).toBe(0);
    const res = await send;
    expect(res.code, res.stderr).toBe(0);
    expect(serve.exitStatus()).toBeNull();
    expect(diffTrees(await listTree(path.dirname(src)), await listTree(path.join(root, 'sandbox', 'd')))).toEqual([]);
    // Rate-limited: far fewer log lines than failed sends.
    const lines = serve.logs.filter((l) => l.msg === 'send failed; the datagram is lost');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(20);
  }, 150_000);
});
