import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import { haveRanges } from '../../../src/recv/transfer-opener.js';
import { makeParts, request, settle, type Parts } from './parts.js';

let parts: Parts[] = [];
afterEach(() => {
  for (const p of parts) p.dispose();
  parts = [];
});
function fixture(o: Parameters<typeof makeParts>[0] = {}): Parts {
  const p = makeParts(o);
  parts.push(p);
  return p;
}
const uid = new Uint8Array([1, 2, 3, 4]);

describe('TransferOpener', () => {
  it('accepts a new transfer: native open beneath the sandbox with a fresh partial tag, record in the log', async () => {
    const p = fixture();
    const s = p.connect();
    p.opener.onRequest(s, request(1));
    await settle(p);
    expect(p.endpoint.messages(s.localIndex)).toEqual([{ kind: 'transferAccept', transferId: 1, have: [] }]);
    const open = p.endpoint.opens[0]!;
    expect(open.spec).toMatchObject({ root: '/sandbox', blockSize: 1000, resumable: false, resume: undefined });
    expect(open.spec.files.map((f) => f.path)).toEqual(['incoming/f0', 'incoming/f1']);
    expect(open.spec.partialTag).toMatch(/^[0-9a-f]{16}$/);
    expect(p.transferLog.transfers()).toMatchObject([
      { status: 'receiving', destinationPath: '/incoming', filesTotal: 2, totalSize: 3010 },
    ]);
    // A retransmitted request gets the same answer.
    p.opener.onRequest(s, request(1));
    expect(p.endpoint.messages(s.localIndex)).toHaveLength(2);
    expect(p.endpoint.opens).toHaveLength(1);
  });

  it('refuses an older transfer protocol, a bad manifest, and the per-session cap', async () => {
    const p = fixture({ maxTransfersPerSession: 1 });
    const s = p.connect();
    p.opener.onRequest(s, request(1, { transferProtocol: 1 }));
    p.opener.onRequest(s, request(2, { files: [{ path: '../escape', size: 1, mode: 0o644, mtimeMs: 0 }] }));
    await settle(p);
    p.opener.onRequest(s, request(3));
    p.opener.onRequest(s, request(4)); // the cap: 3 is receiving
    await settle(p);
    const msgs = p.endpoint.messages(s.localIndex);
    expect(msgs[0]).toMatchObject({ kind: 'transferRefuse', transferId: 1, code: ErrorCodes.PROTOCOL });
    expect(msgs[1]).toMatchObject({ kind: 'transferRefuse', transferId: 2 });
    expect(msgs.filter((m) => m.kind === 'transferRefuse' && m.transferId === 4)).toMatchObject([
      { code: ErrorCodes.REFUSED, reason: 'too many open transfers in one session (max 1)' },
    ]);
    expect(p.endpoint.opens.map((o) => o.transferId)).toEqual([3]);
  });

  it('a failed native open is refused with its code and kept as a failed record', async () => {
    const p = fixture();
    const s = p.connect();
    p.endpoint.onOpen = () =>
      Promise.reject(Object.assign(new Error('destination is claimed by another transfer'), { code: ErrorCodes.PATH_BUSY }));
    p.opener.onRequest(s, request(1));
    await settle(p);
    expect(p.endpoint.messages(s.localIndex)).toMatchObject([{ kind: 'transferRefuse', transferId: 1, code: ErrorCodes.PATH_BUSY }]);
    expect(p.transferLog.transfers()).toMatchObject([{ status: 'error', errorMessage: 'destination is claimed by another transfer' }]);
    expect(s.transfers.size).toBe(0);
    // The id was never accepted: a new request under it is a new transfer.
    p.endpoint.onOpen = () => Promise.resolve();
    p.opener.onRequest(s, request(1));
    await settle(p);
    expect(p.endpoint.messages(s.localIndex).at(-1)).toEqual({ kind: 'transferAccept', transferId: 1, have: [] });
  });

  it('file-done events during the open are held back until after TransferAccept', async () => {
    const p = fixture();
    const s = p.connect();
    let release!: () => void;
    p.endpoint.onOpen = () => new Promise<void>((r) => (release = r));
    p.opener.onRequest(s, request(1, {}, [0, 10]));
    await new Promise((r) => setTimeout(r, 20));
    expect(p.opener.busy(s)).toBe(true);
    p.progress.onFileDone(s, 1, 0); // the empty file, finalized by the open
    await new Promise((r) => setImmediate(r)); // a FilesDone would be flushed now
    release();
    await settle(p);
    expect(p.endpoint.messages(s.localIndex).map((m) => m.kind)).toEqual(['transferAccept', 'filesDone']);
    expect(p.opener.busy(s)).toBe(false);
  });

  it('resumes the same key, uid and manifest with its partial tag; announces the checkpoint only if the addon restored it all', async () => {
    const p = fixture();
    const s1 = p.connect();
    p.opener.onRequest(s1, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    const first = p.endpoint.opens[0]!;
    expect(first.spec.resumable).toBe(true);
    // Blocks 0..1 of file 0 are durable at the session's end.
    p.endpoint.checkpointResult = { doneFiles: [1], ranges: [0, 0, 2], blocksHeld: 3, bytesHeld: 2010 };
    p.table.end(s1, 'sender went away');
    await settle(p);
    const [record] = p.resume.records();
    expect(record).toMatchObject({ status: 'error', resumable: true, checkpoint: { ranges: [0, 0, 2] } });

    const s2 = p.connect();
    p.endpoint.onOpen = async () => p.endpoint.setStats(s2.localIndex, 7, { blocksResumed: 3 });
    p.opener.onRequest(s2, request(7, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    const second = p.endpoint.opens[1]!;
    expect(second.spec.partialTag).toBe(first.spec.partialTag);
    expect(second.spec.resume).toEqual({ doneFiles: [1], ranges: [0, 0, 2] });
    expect(p.endpoint.messages(s2.localIndex)[0]).toEqual({
      kind: 'transferAccept',
      transferId: 7,
      have: [
        { fileIndex: 1, firstBlock: 0, blockCount: 1 },
        { fileIndex: 0, firstBlock: 0, blockCount: 2 },
      ],
    });
    expect(p.transferLog.transfers()).toHaveLength(1); // the same record, receiving again
    expect(record).toMatchObject({ status: 'receiving', sessionIndex: s2.localIndex, wireTransferId: 7 });

    // A third open where the addon restored less than listed: nothing is announced.
    const s3 = p.connect();
    p.table.end(s2, 'gone again');
    await settle(p);
    p.endpoint.onOpen = async () => p.endpoint.setStats(s3.localIndex, 9, { blocksResumed: 1 });
    p.opener.onRequest(s3, request(9, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    expect(p.endpoint.messages(s3.localIndex)[0]).toEqual({ kind: 'transferAccept', transferId: 9, have: [] });
  });

  it('a uid that comes back with another manifest starts a new transfer with a new partial tag', async () => {
    const p = fixture();
    const s1 = p.connect();
    p.opener.onRequest(s1, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    p.table.end(s1, 'away');
    await settle(p);
    const s2 = p.connect();
    p.opener.onRequest(s2, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }, [3000, 11]));
    await settle(p);
    expect(p.endpoint.opens[1]!.spec.resume).toBeUndefined();
    expect(p.endpoint.opens[1]!.spec.partialTag).not.toBe(p.endpoint.opens[0]!.spec.partialTag);
    expect(p.transferLog.transfers()).toHaveLength(2);
  });

  it('another sender key with the same uid does not resume', async () => {
    const p = fixture();
    const s1 = p.connect('key-a');
    p.opener.onRequest(s1, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    p.table.end(s1, 'away');
    await settle(p);
    const s2 = p.connect('key-b');
    p.opener.onRequest(s2, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    expect(p.endpoint.opens[1]!.spec.resume).toBeUndefined();
    expect(p.endpoint.opens[1]!.spec.partialTag).not.toBe(p.endpoint.opens[0]!.spec.partialTag);
  });

  it('a resume while the old session still runs the transfer: final checkpoint there, closed with partials kept', async () => {
    const p = fixture();
    const s1 = p.connect();
    p.opener.onRequest(s1, request(1, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    const s2 = p.connect();
    p.opener.onRequest(s2, request(2, { transferUid: uid, checkpointFrequencySeconds: 5 }));
    await settle(p);
    expect(p.endpoint.closes).toEqual([{ localIndex: s1.localIndex, transferId: 1, removePartials: false }]);
    expect(s1.transfers.has(1)).toBe(false);
    expect(p.endpoint.opens[1]!.spec.partialTag).toBe(p.endpoint.opens[0]!.spec.partialTag);
  });

  it('haveRanges: whole done files, then held ranges', () => {
    expect(haveRanges([1], [0, 4, 2], [5000, 1500], 1000)).toEqual([
      { fileIndex: 1, firstBlock: 0, blockCount: 2 },
      { fileIndex: 0, firstBlock: 4, blockCount: 2 },
    ]);
  });
});

describe('TransferOpener: a cancel or error while the native open runs', () => {
  for (const resumed of [false, true]) {
    it(`${resumed ? 'a resume' : 'a new transfer'} cancelled during its open is closed with its partials and never accepted`, async () => {
      const p = fixture();
      const over = { transferUid: uid, checkpointFrequencySeconds: 5 };
      if (resumed) {
        const s0 = p.connect();
        p.opener.onRequest(s0, request(1, over));
        await settle(p);
        p.table.end(s0, 'away');
        await settle(p);
      }
      const s = p.connect();
      let release!: () => void;
      p.endpoint.onOpen = () => new Promise<void>((r) => (release = r));
      p.opener.onRequest(s, request(2, over));
      await new Promise((r) => setTimeout(r, 20));
      p.progress.cancel(s, 2, 'changed my mind');
      release();
      await settle(p);
      expect(p.endpoint.messages(s.localIndex).map((m) => m.kind)).not.toContain('transferAccept');
      expect(p.endpoint.closes.at(-1)).toEqual({ localIndex: s.localIndex, transferId: 2, removePartials: true });
      expect(p.endpoint.open.size).toBe(0);
      expect(p.resume.records()).toEqual([]);
      const records = p.transferLog.transfers();
      expect(records).toHaveLength(1);
      // A new transfer is logged with the cancel; a resumed one keeps its record, resumable no more.
      expect(records[0]).toMatchObject({ status: 'error', errorMessage: resumed ? 'away' : 'cancelled by sender: changed my mind' });
    });
  }
});
