// tx-threads.test.ts — `jetrecv send` with its lanes spread over two TX threads
// (--lanes 2/3 --tx-threads 2) into a receiver with two RX threads: a large file
// and a tree of 2,000 files arrive intact (sha256), and every block goes out once
// in the first pass (blocks sent − retransmitted = total blocks: two threads never
// send the same block). Retransmission under loss with two TX threads is in
// loss.test.ts. Nothing here asserts a time.
import { mkdir, writeFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffTrees, listTree, sendTo, sha256File, startTestReceiver, tempDir, writeRandomFile, type TestReceiver } from './harness.js';

interface SendSummary {
  blocksSent: number;
  blocksRetransmitted: number;
  totalBlocks: number;
  gbitPerSecond: number;
}

let rx: TestReceiver;
let src: string;

beforeAll(async () => {
  rx = await startTestReceiver({ rxThreads: 2 });
  src = await tempDir('txthreads-src');
});
afterAll(async () => {
  await rx?.close();
  await rm(src, { recursive: true, force: true });
});

/** Sends with `extra` flags; checks exit, that the TX threads were used, and first-pass exactness. */
async function send(label: string, paths: string[], extra: string[], txThreads: number): Promise<SendSummary> {
  const res = await sendTo(rx, paths, ['--json', '--log-level', 'debug', '--rate-max', '2G', '--dest', label, ...extra]);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).toContain(`"txThreads":${txThreads}`);
  const summary = JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as SendSummary;
  expect(summary.blocksSent - summary.blocksRetransmitted).toBe(summary.totalBlocks);
  console.log(
    `[tx-threads] ${label}: ${summary.totalBlocks} blocks, ${summary.blocksRetransmitted} retransmitted, ${summary.gbitPerSecond.toFixed(3)} Gbit/s`,
  );
  return summary;
}

describe('a send spread over two TX threads', () => {
  it('delivers a 96 MiB file intact (2 lanes, 2 threads)', async () => {
    const file = path.join(src, 'big.bin');
    await writeRandomFile(file, (96 << 20) + 12_345);
    await send('big', [file], ['--lanes', '2', '--tx-threads', '2', '--datagram-size', '8972'], 2);
    expect(await sha256File(path.join(rx.sandbox, 'big', 'big.bin'))).toBe(await sha256File(file));
  });

  it('delivers a tree of 2,000 files intact (3 lanes over 2 threads)', async () => {
    const tree = path.join(src, 'tree');
    for (let d = 0; d < 20; d++) await mkdir(path.join(tree, `d${d}`), { recursive: true });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      const size = i % 101 === 0 ? 0 : (i * 7919) % 20_000; // empty, one block and several blocks
      writes.push(writeFile(path.join(tree, `d${i % 20}`, `f${i}.bin`), randomBytes(size)));
      if (writes.length >= 200) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    await send('forest', [tree], ['--lanes', '3', '--tx-threads', '2'], 2);
    const problems = diffTrees(await listTree(tree), await listTree(path.join(rx.sandbox, 'forest', 'tree')));
    expect(problems).toEqual([]);
  });

  it("'auto' takes min(lanes, cores)", async () => {
    const file = path.join(src, 'small.bin');
    await writeRandomFile(file, 3 << 20);
    await send('auto1', [file], [], 1); // --lanes 1: one thread whatever the cores
    expect(await sha256File(path.join(rx.sandbox, 'auto1', 'small.bin'))).toBe(await sha256File(file));
  });
});
