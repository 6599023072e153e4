// The transfer events the receiver's parts emit (over a fake endpoint): where each state
// changes, one event carrying the Receive Transfer Structure as the API shows it; a listener
// that throws is skipped and the transfer goes on.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import type { TransferEvent } from '../../../src/recv/transfer-events.js';
import { makeParts, request, settle, type Parts } from './parts.js';

let parts: Parts[] = [];
afterEach(() => {
  for (const p of parts) p.dispose();
  parts = [];
});

async function opened(sizes = [3000, 10]) {
  const p = makeParts();
  parts.push(p);
  const seen: TransferEvent[] = [];
  p.events.subscribe((e) => seen.push(e));
  const s = p.connect();
  p.opener.onRequest(s, request(1, {}, sizes));
  await settle(p);
  return { p, s, seen };
}

describe('TransferEvents', () => {
  it('started, one fileComplete per file (with its path), then transferComplete', async () => {
    const { p, s, seen } = await opened();
    p.progress.onFileDone(s, 1, 1);
    p.progress.onFileDone(s, 1, 0);
    expect(seen.map((e) => e.type)).toEqual(['transferStarted', 'fileComplete', 'fileComplete', 'transferComplete']);
    expect(seen[0]).toMatchObject({
      resumed: false,
      transfer: { status: 'receiving', filesTotal: 2, totalSize: 3010, destinationPath: '/incoming' },
    });
    expect(seen[1]).toMatchObject({ file: { index: 1, path: 'incoming/f1', size: 10 }, transfer: { filesDone: 1 } });
    expect(seen[3]!.transfer).toEqual(p.transferLog.transfers()[0]);
    expect(seen[3]!.transfer).toMatchObject({ status: 'complete', bytesReceived: 3010 });
    for (const e of seen) expect(e.transfer.transferId).toBe(seen[0]!.transfer.transferId);
  });

  it('a data-path error emits transferFailed; a cancel transferCancelled; a session that ends transferFailed', async () => {
    const a = await opened();
    a.p.progress.onError(a.s, 1, 'no space left on device', ErrorCodes.DISK);
    expect(a.seen.at(-1)).toMatchObject({ type: 'transferFailed', transfer: { status: 'error', errorMessage: 'no space left on device' } });
    const b = await opened();
    b.p.progress.cancel(b.s, 1, 'user abort');
    b.p.progress.cancel(b.s, 1, 'again');
    expect(b.seen.map((e) => e.type)).toEqual(['transferStarted', 'transferCancelled']);
    const c = await opened();
    c.p.table.end(c.s, 'sender went silent');
    expect(c.seen.at(-1)).toMatchObject({ type: 'transferFailed', transfer: { status: 'error', errorMessage: 'sender went silent' } });
  });

  it('a listener that throws is skipped: the others still get the event and the transfer completes', async () => {
    const p = makeParts();
    parts.push(p);
    const seen: string[] = [];
    p.events.subscribe(() => {
      throw new Error('broken consumer');
    });
    p.events.subscribe((e) => seen.push(e.type));
    const s = p.connect();
    p.opener.onRequest(s, request(1, {}, [10]));
    await settle(p);
    p.progress.onFileDone(s, 1, 0);
    expect(seen).toEqual(['transferStarted', 'fileComplete', 'transferComplete']);
    expect(s.transfers.get(1)!.status).toBe('complete');
  });
});
