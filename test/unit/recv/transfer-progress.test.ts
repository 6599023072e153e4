import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import { makeParts, request, settle, type Parts } from './parts.js';

let parts: Parts[] = [];
afterEach(() => {
  for (const p of parts) p.dispose();
  parts = [];
});
async function opened(sizes = [3000, 10], over: Parameters<typeof request>[1] = {}) {
  const p = makeParts();
  parts.push(p);
  const s = p.connect();
  p.opener.onRequest(s, request(1, over, sizes));
  await settle(p);
  const t = s.transfers.get(1)!;
  return { p, s, t };
}

describe('TransferProgress', () => {
  it('file-done events are batched into FilesDone; the last one completes the transfer (partials none)', async () => {
    const { p, s, t } = await opened();
    p.progress.onFileDone(s, 1, 1);
    expect(t.filesDone).toBe(1);
    p.progress.onFileDone(s, 1, 0);
    await settle(p);
    const msgs = p.endpoint.messages(s.localIndex).slice(1);
    expect(msgs).toEqual([
      { kind: 'filesDone', transferId: 1, fileIndex: [1, 0] },
      { kind: 'transferDone', transferId: 1, bytes: 3010, files: 2 },
    ]);
    expect(p.endpoint.closes).toEqual([{ localIndex: s.localIndex, transferId: 1, removePartials: false }]);
    expect(t).toMatchObject({ status: 'complete', bytesReceived: 3010 });
    expect(p.transferLog.counts()).toEqual({ receiving: 0, complete: 1, error: 0 });
  });

  it('an empty manifest completes at once', async () => {
    const { p, s, t } = await opened([]);
    expect(t.status).toBe('complete');
    expect(p.endpoint.messages(s.localIndex).map((m) => m.kind)).toEqual(['transferAccept', 'transferDone']);
  });

  it('a data-path error fails the transfer, removes its partials and tells the sender', async () => {
    const { p, s, t } = await opened([3000], { transferUid: new Uint8Array([9]), checkpointFrequencySeconds: 5 });
    expect(p.resume.records()).toEqual([t]);
    p.progress.onError(s, 1, 'no space left on device', ErrorCodes.DISK);
    expect(p.endpoint.closes.at(-1)).toEqual({ localIndex: s.localIndex, transferId: 1, removePartials: true });
    expect(t).toMatchObject({ status: 'error', errorMessage: 'no space left on device', resumable: false });
    expect(p.resume.records()).toEqual([]);
    await settle(p);
    expect(p.endpoint.messages(s.localIndex).at(-1)).toEqual({
      kind: 'transferError',
      transferId: 1,
      code: ErrorCodes.DISK,
      message: 'no space left on device',
    });
  });

  it('a cancel removes the partials and ends resume; a second cancel changes nothing', async () => {
    const { p, s, t } = await opened();
    p.progress.cancel(s, 1, '');
    p.progress.cancel(s, 1, 'again');
    expect(t).toMatchObject({ status: 'error', errorMessage: 'cancelled by sender: no reason given' });
    expect(p.endpoint.closes).toEqual([{ localIndex: s.localIndex, transferId: 1, removePartials: true }]);
  });

  it('after an event-queue overflow the addon decides: all files final completes, failed fails', async () => {
    const { p, s, t } = await opened();
    p.endpoint.setStats(s.localIndex, 1, { filesDone: 2, bytesReceived: 3010 });
    p.progress.sample(s, Date.now(), false);
    expect(t.status).toBe('receiving'); // no overflow: events decide
    p.progress.sample(s, Date.now(), true);
    expect(t.status).toBe('complete');

    const b = await opened();
    b.p.endpoint.setStats(b.s.localIndex, 1, { failed: true });
    b.p.progress.sample(b.s, Date.now(), true);
    expect(b.t).toMatchObject({ status: 'error', errorMessage: expect.stringContaining('its error event was lost') });
  });

  it('figures come from the addon: bytes, last receive time, last send time of the session', async () => {
    const { p, s, t } = await opened();
    p.endpoint.setStats(s.localIndex, 1, { bytesReceived: 2000, lastRecvUs: 123 });
    p.endpoint.sessionStatsOf.set(s.localIndex, { lastSendUs: 9e15 });
    p.progress.refreshStats(s, t);
    expect(t).toMatchObject({ bytesReceived: 2000, lastRecvTime: 123, lastSendTime: 9e15 });
  });

  it('a session that ends: a resumable transfer gets a final checkpoint and stays resumable; another does not', async () => {
    const { p, s, t } = await opened([3000], { transferUid: new Uint8Array([7]), checkpointFrequencySeconds: 5 });
    const before = p.endpoint.checkpoints.length;
    p.table.end(s, 'the sender went quiet');
    expect(p.endpoint.checkpoints.length).toBe(before + 1);
    expect(t).toMatchObject({ status: 'error', errorMessage: 'the sender went quiet', resumable: true });

    const b = await opened();
    b.p.table.end(b.s, 'bye');
    expect(b.t).toMatchObject({ status: 'error', resumable: false });
    expect(b.p.endpoint.checkpoints).toEqual([]);
  });
});
