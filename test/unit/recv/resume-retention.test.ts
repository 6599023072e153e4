import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TransferStore } from '../../../src/recv/transfer-store.js';
import { makeParts, request, settle, type Parts } from './parts.js';
import { silentLog } from './fake-endpoint.js';

let parts: Parts[] = [];
const dirs: string[] = [];
const stores: TransferStore[] = [];
afterEach(async () => {
  for (const p of parts) {
    p.dispose();
    await settle(p);
  }
  parts = [];
  for (const s of stores.splice(0)) await s.flush();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const uid = new Uint8Array([5, 5]);

/** Parts over a real state directory, with one resumable transfer whose session ended (file 1 done). */
async function withInterrupted(maxTransferRecords = 100) {
  const dir = mkdtempSync(path.join(tmpdir(), 'jetrecv-retention-'));
  dirs.push(dir);
  const { store } = await TransferStore.open(dir, silentLog);
  stores.push(store);
  const p = makeParts({ store, maxTransferRecords });
  parts.push(p);
  const s = p.connect();
  p.opener.onRequest(s, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }, [3000, 10]));
  await settle(p);
  p.endpoint.checkpointResult = { doneFiles: [1], ranges: [0, 0, 1], blocksHeld: 2, bytesHeld: 1010 };
  p.table.end(s, 'away');
  await settle(p);
  await store.flush();
  const [t] = p.resume.records();
  return { p, store, dir, t: t!, tag: p.endpoint.opens[0]!.spec.partialTag };
}

describe('ResumeRetention', () => {
  it('an idle resumable transfer past the retention is dropped: resume entry, API record, stored record, its unfinished partials', async () => {
    const { p, store, dir, t, tag } = await withInterrupted();
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    t.files = null; // the file list comes from the state directory
    p.retention.setRetention(0); // 0 = keep forever
    await p.retention.expire();
    expect(p.resume.records()).toEqual([t]);
    p.retention.setRetention(1);
    await new Promise((r) => setTimeout(r, 20));
    await p.retention.expire();
    expect(p.resume.records()).toEqual([]);
    expect(p.transferLog.transfers()).toEqual([]);
    expect(p.partialCalls).toEqual([{ path: 'incoming/f0', size: 3000, tag }]); // f1 was finished
    await store.flush();
    expect(await store.loadFiles(t.transferId)).toBeNull();
    expect(readdirSync(dir).filter((f) => f.includes(t.transferId))).toEqual([]);
  });

  it('partials a receiving transfer writes are left alone', async () => {
    const { p, t } = await withInterrupted();
    const s = p.connect('key-other');
    p.opener.onRequest(s, request(3, {}, [3000])); // writes incoming/f0 now
    await settle(p);
    p.retention.setRetention(1);
    await new Promise((r) => setTimeout(r, 20));
    await p.retention.expire();
    expect(p.resume.records()).not.toContain(t);
    expect(p.partialCalls).toEqual([]);
  });

  it('a receiving resumable transfer never expires', async () => {
    const p = makeParts();
    parts.push(p);
    const s = p.connect();
    p.opener.onRequest(s, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    p.retention.setRetention(1);
    await new Promise((r) => setTimeout(r, 20));
    await p.retention.expire();
    expect(p.resume.records()).toHaveLength(1);
  });

  it('a resumable record evicted by count loses its resume entry, stored record and partials', async () => {
    const { p, store, t, tag } = await withInterrupted(1);
    const s = p.connect('key-b');
    p.opener.onRequest(s, request(2, { destinationPath: '/other' }, [5]));
    await settle(p);
    await store.flush();
    expect(p.transferLog.transfers().map((r) => r.transferId)).not.toContain(t.transferId);
    expect(p.resume.records()).toEqual([]);
    expect(p.partialCalls).toEqual([{ path: 'incoming/f0', size: 3000, tag }]);
    expect(await store.loadFiles(t.transferId)).toBeNull();
  });

  it('the start-up sweep keeps the partial tags of resumable records only', async () => {
    const { p, tag } = await withInterrupted();
    p.retention.sweepOrphans();
    expect(p.sweeps).toEqual([[tag]]);
  });
});
