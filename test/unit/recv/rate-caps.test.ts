// Receive rate limits (rate-caps.ts): the max-min division, each source's share split among
// its open transfers and pushed to the (fake) addon only when it changes, transfers of
// protocol-2 senders left out, the refusal of protocol-2 senders while a limit is set, and
// the opener capping a transfer before it accepts it.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.js';
import { maxMinShares } from '../../../src/recv/rate-caps.js';
import { makeParts, request, settle, type Parts } from './parts.js';

let parts: Parts[] = [];
afterEach(() => {
  for (const p of parts) p.dispose();
  parts = [];
});
function fixture(): Parts {
  const p = makeParts({ maxTransfersPerSession: 8 });
  parts.push(p);
  return p;
}

describe('maxMinShares', () => {
  it('meets the small demands in full and shares the rest equally', () => {
    expect(maxMinShares(90, [10, Infinity, Infinity])).toEqual([10, 40, 40]);
    expect(maxMinShares(90, [50, 50, 50])).toEqual([30, 30, 30]);
    expect(maxMinShares(100, [20, 30])).toEqual([20, 30]); // the limit is not reached
    expect(maxMinShares(0, [20, Infinity])).toEqual([20, Infinity]); // no global limit
    expect(maxMinShares(60, [])).toEqual([]);
  });
});

describe('RateCaps', () => {
  it('bounds each source by the per-source limit and splits its share among its transfers', async () => {
    const p = fixture();
    const a = p.connect('key-a');
    const b = p.connect('key-b');
    p.opener.onRequest(a, request(1));
    p.opener.onRequest(a, request(2));
    p.opener.onRequest(b, request(1));
    await settle(p);
    expect(p.endpoint.rateCaps.size).toBe(0); // no limits: nothing pushed
    p.rateCaps.set({ incomingBps: 0, incomingPerSourceBps: 20_000_000 });
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:1`)).toBe(10_000_000);
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:2`)).toBe(10_000_000);
    expect(p.endpoint.rateCaps.get(`${b.localIndex}:1`)).toBe(20_000_000);
    expect(p.rateCaps.sourceCapBps('key-a')).toBe(20_000_000);
    expect(p.rateCaps.sourceCapBps('key-new')).toBe(20_000_000); // one without transfers

    // A global limit below the sum: max-min among the sources, the per-source limit still bounds.
    p.rateCaps.set({ incomingBps: 30_000_000, incomingPerSourceBps: 20_000_000 });
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:1`)).toBe(7_500_000);
    expect(p.endpoint.rateCaps.get(`${b.localIndex}:1`)).toBe(15_000_000);
    expect(p.rateCaps.sourceCapBps('key-b')).toBe(15_000_000);
    expect(p.rateCaps.sourceCapBps('key-new')).toBe(10_000_000); // a third source would get a third

    // Lifted: 0 (no cap) is pushed once.
    p.rateCaps.set({ incomingBps: 0, incomingPerSourceBps: 0 });
    expect([...p.endpoint.rateCaps.values()]).toEqual([0, 0, 0]);
    expect(p.rateCaps.sourceCapBps('key-a')).toBe(0);
  });

  it('a transfer opened under a limit is capped before its accept; one that ends leaves its share', async () => {
    const p = fixture();
    p.rateCaps.set({ incomingBps: 40_000_000, incomingPerSourceBps: 0 });
    const a = p.connect('key-a');
    const b = p.connect('key-b');
    p.opener.onRequest(a, request(1));
    await settle(p);
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:1`)).toBe(40_000_000);
    p.opener.onRequest(b, request(1));
    await settle(p);
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:1`)).toBe(20_000_000);
    expect(p.endpoint.rateCaps.get(`${b.localIndex}:1`)).toBe(20_000_000);
    p.table.end(b, 'sender left');
    p.rateCaps.apply();
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:1`)).toBe(40_000_000);
  });

  it('refuses a protocol-2 sender while a limit is set, and never caps one opened before', async () => {
    const p = fixture();
    const a = p.connect('key-a');
    p.opener.onRequest(a, request(1, { transferProtocol: 2 })); // no limit yet: accepted
    await settle(p);
    expect(p.endpoint.messages(a.localIndex)).toMatchObject([{ kind: 'transferAccept', transferId: 1 }]);
    p.rateCaps.set({ incomingBps: 0, incomingPerSourceBps: 20_000_000 });
    expect(p.endpoint.rateCaps.size).toBe(0); // it could not decode the cap
    p.opener.onRequest(a, request(2, { transferProtocol: 2 }));
    p.opener.onRequest(a, request(3));
    await settle(p);
    const msgs = p.endpoint.messages(a.localIndex);
    expect(msgs[1]).toMatchObject({ kind: 'transferRefuse', transferId: 2, code: ErrorCodes.PROTOCOL });
    expect((msgs[1] as { reason: string }).reason).toContain('upgrade jetrecv on the sender');
    expect(msgs[2]).toMatchObject({ kind: 'transferAccept', transferId: 3 });
    expect(p.endpoint.rateCaps.get(`${a.localIndex}:3`)).toBe(20_000_000);
  });
});
