// Graceful shutdown with real processes: SIGTERM to `jetrecv serve` in the middle of a
// transfer exits 0 after writing a final checkpoint of the live transfer; the running
// sender is told goodbye, keeps reconnecting, and when the receiver starts again on the
// same state directory it resumes from that checkpoint; every file ends intact and the
// transfer record survives the restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { listTree, runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { freeUdpPort, parseSummary, readRecords, startSend, startServe, waitFor, type ServeProcess } from './daemon-process.js';

const kFileSize = 16 << 20;
const kTotal = 2 * kFileSize;
const kBlock = 8972 - 56;

let root: string;
const running: ServeProcess[] = [];

beforeAll(async () => {
  root = await tempDir('shutdown');
});
afterAll(async () => {
  for (const p of running) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

describe('SIGTERM during a transfer', () => {
  it('checkpoints, exits 0, and the transfer resumes after the restart', async () => {
    const src = path.join(root, 'src');
    await mkdir(src);
    const files = ['one.bin', 'two.bin'];
    for (const f of files) await writeRandomFile(path.join(src, f), kFileSize);
    const keyFile = path.join(root, 'sender.key');
    expect((await runCli(['keygen', '--out', keyFile])).code).toBe(0);
    const sandbox = path.join(root, 'sandbox');
    const stateDir = path.join(root, 'state');
    await mkdir(sandbox);
    const port = await freeUdpPort();

    const rx1 = await startServe({ sandbox, stateDir, port });
    running.push(rx1);
    const send = startSend([
      '--to',
      `127.0.0.1:${port}`,
      '--server-key',
      rx1.publicKey,
      '--key',
      keyFile,
      '--dest',
      'in',
      '--rate-max',
      '40M',
      '--datagram-size',
      '8972',
      '--checkpoint-interval',
      '1',
      '--resume-dir',
      path.join(root, 'resume'),
      ...files.map((f) => path.join(src, f)),
    ]);
    await waitFor('a quarter of the bytes checkpointed', async () =>
      (await readRecords(stateDir)).find((r) => (r.checkpoint?.bytesHeld ?? 0) >= kTotal / 4),
    );

    rx1.child.kill('SIGTERM');
    expect(await rx1.exited).toBe(0);
    expect(rx1.lines.some((l) => l.includes('"jetrecv receiver stopped"'))).toBe(true);
    const [rec] = await readRecords(stateDir);
    expect(rec).toBeDefined();
    expect(rec!.resumable).toBe(true);
    expect(rec!.status).toBe('error'); // interrupted, waiting for the sender
    const held = rec!.checkpoint!.blocksHeld;
    expect(held * kBlock).toBeGreaterThanOrEqual(kTotal / 4 - kBlock);

    // The sender was told goodbye and keeps reconnecting; the receiver comes back.
    const rx2 = await startServe({ sandbox, stateDir, port });
    running.push(rx2);
    const res = await send.done;
    expect(res.code, res.stderr).toBe(0);
    const sum = parseSummary(res.stdout);
    expect(sum.reconnects).toBeGreaterThanOrEqual(1);
    expect(sum.blocksResumed).toBeGreaterThanOrEqual(held); // resumed from the final checkpoint
    const tree = await listTree(path.join(sandbox, 'in'));
    for (const f of files) expect(tree.files.get(f), f).toBe(await sha256File(path.join(src, f)));
    expect(tree.other).toEqual([]);
    expect([...tree.files.keys()].sort()).toEqual(files);

    // The same record (same API transfer id) continued and is now complete.
    const after = await readRecords(stateDir);
    expect(after.map((r) => [r.transferId, r.status])).toEqual([[rec!.transferId, 'complete']]);
    rx2.child.kill('SIGTERM');
    expect(await rx2.exited).toBe(0);
  }, 90_000);
});
