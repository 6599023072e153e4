// event-overflow.test.ts — file-done events lost to a full native event queue must not
// leave a transfer hanging. A real receiver whose event queue holds only 16 events
// (DaemonConfig.eventQueueCapacity, docs/TESTING.md) gets a tree of 1,500 small files from
// a real `jetrecv send`: the RX thread finalizes files faster than the JS thread drains
// their events, so the queue overflows (counted as drop_event_queue_full). The receiver runs
// in this process, and the test holds its JS thread for 150 ms of every 200 while the send
// runs, so the overflow does not depend on how fast this host drains (a quiet CI machine
// once drained all 1,500 events in time and the test proved nothing). The receiver then
// reconciles each second with the addon's own figures, completes the transfer, and the
// sender exits 0 with every file intact.
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffTrees, listTree, sendTo, startTestReceiver, tempDir, type TestReceiver } from './harness.js';

const FILES = 1500;
let rx: TestReceiver;
let root: string;
let src: string;

beforeAll(async () => {
  rx = await startTestReceiver({ eventQueueCapacity: 16 });
  root = await tempDir('evq');
  src = path.join(root, 'tree');
  for (let d = 0; d < 10; d++) await mkdir(path.join(src, `d${d}`), { recursive: true });
  const writes: Promise<void>[] = [];
  for (let i = 0; i < FILES; i++) {
    writes.push(writeFile(path.join(src, `d${i % 10}`, `f${i}.bin`), randomBytes(200 + (i % 700))));
    if (writes.length >= 200) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
});
afterAll(async () => {
  await rx?.close();
  await rm(root, { recursive: true, force: true });
});

describe('native event queue overflow', () => {
  it('a transfer whose file-done events were dropped still completes, intact', async () => {
    const sending = sendTo(rx, [src], ['--json']);
    const hold = setInterval(() => {
      const until = Date.now() + 150;
      while (Date.now() < until); // the JS thread does nothing else: events pile up natively
    }, 200);
    const res = await sending.finally(() => clearInterval(hold));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const dropped = rx.daemon.receiver.counters()['drop_event_queue_full'] ?? 0;
    // The point of the test: events really were lost (else it proves nothing).
    expect(dropped, 'the 16-event queue never overflowed, so the backstop was not exercised').toBeGreaterThan(0);
    const [t] = rx.daemon.receiver.getTransfers();
    expect(t).toMatchObject({ status: 'complete' });
    expect(diffTrees(await listTree(src), await listTree(path.join(rx.sandbox, 'tree')))).toEqual([]);
  }, 120_000);
});
