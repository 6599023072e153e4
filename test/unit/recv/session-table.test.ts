import { afterEach, describe, expect, it } from 'vitest';
import { SendPolicy } from '../../../src/addon/send-policy.js';
import { RateLimitedLog } from '../../../src/log.js';
import { SessionTable, type ReceiveSession, type SessionTableOptions } from '../../../src/recv/session-table.js';
import { TransferRecord } from '../../../src/recv/transfer-record.js';
import { FakeEndpoint, handshake, silentLog } from './fake-endpoint.js';

const KEY_A = 'key-a';
const KEY_B = 'key-b';

function makeTable(opts: Partial<SessionTableOptions> = {}) {
  const endpoint = new FakeEndpoint();
  const events: string[] = [];
  const table = new SessionTable(
    endpoint,
    new SendPolicy(silentLog),
    silentLog,
    new RateLimitedLog(silentLog),
    {
      maxSessions: 10,
      maxSessionsPerKey: 2,
      maxSessionsPerSource: 3,
      sessionTimeoutMs: 30_000,
      noTransferTimeoutMs: 10_000,
      refusalLingerMs: 50,
      ...opts,
    },
    {
      onControl: () => {},
      onFault: () => {},
      onOpened: (s) => events.push(`opened ${s.localIndex}`),
      onEnding: (s, reason) => events.push(`ending ${s.localIndex}: ${reason}`),
      onEnded: (s) => events.push(`ended ${s.localIndex}`),
    },
  );
  endpoint.ackTo = (i, p) => table.receive(i, p);
  return { endpoint, table, events };
}

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup) f();
  cleanup = [];
});
function tracked(t: ReturnType<typeof makeTable>) {
  cleanup.push(() => {
    for (const s of t.table.all()) t.table.end(s, 'test over');
    t.endpoint.dispose();
  });
  return t;
}

describe('SessionTable', () => {
  it('admits a handshake: native session added, RESP sent, counted', () => {
    const { endpoint, table, events } = tracked(makeTable());
    const hs = handshake();
    const { session, refusal } = table.admit(hs, KEY_A, '10.0.0.1', 5000);
    expect(refusal).toBeNull();
    expect(endpoint.sessions.get(hs.localIndex)).toMatchObject({ remoteIndex: hs.remoteIndex, peerAddress: '10.0.0.1', peerPort: 5000 });
    expect(endpoint.raw).toEqual([{ address: '10.0.0.1', port: 5000, packet: hs.response }]);
    expect(table.get(hs.localIndex)).toBe(session);
    expect(table.admittedCount()).toBe(1);
    expect(events).toEqual([`opened ${hs.localIndex}`]);
  });

  it('over the per-key cap: the session only carries a final goodbye, holds no slot, and ends after the linger', async () => {
    const { endpoint, table, events } = tracked(makeTable({ maxSessionsPerKey: 1 }));
    table.admit(handshake(), KEY_A, '10.0.0.1', 5000);
    const { session, refusal } = table.admit(handshake(), KEY_A, '10.0.0.2', 5000);
    expect(refusal).toBe('max-sessions-per-key');
    expect(session.refusing).toBe(true);
    expect(table.admittedCount()).toBe(1); // the refused one gave its slot back at once
    expect(endpoint.messages(session.localIndex)).toEqual([
      { kind: 'goodbye', reason: 'too many sessions of this sender key (max 1)', final: true },
    ]);
    // Another key is still admitted meanwhile.
    expect(table.admit(handshake(), KEY_B, '10.0.0.3', 5000).refusal).toBeNull();
    expect(table.get(session.localIndex)).toBe(session); // lingering
    await new Promise((r) => setTimeout(r, 120));
    expect(table.get(session.localIndex)).toBeUndefined();
    expect(endpoint.removed).toContain(session.localIndex);
    expect(events).toContain(`ending ${session.localIndex}: refused: too many sessions of this sender key (max 1)`);
    expect(table.admittedCount()).toBe(2); // ending a refused session does not give back a slot it did not hold
  });

  it('the total and per-source caps refuse with their own reasons', () => {
    const { table } = tracked(makeTable({ maxSessions: 2, maxSessionsPerSource: 1 }));
    table.admit(handshake(), KEY_A, '10.0.0.1', 5000);
    expect(table.admit(handshake(), KEY_B, '10.0.0.1', 5001).refusal).toBe('max-sessions-per-source');
    table.admit(handshake(), KEY_B, '10.0.0.2', 5000);
    expect(table.admit(handshake(), 'key-c', '10.0.0.3', 5000).refusal).toBe('max-sessions');
  });

  it('a new handshake from the same key, address and port replaces the old session', () => {
    const { table, endpoint, events } = tracked(makeTable());
    const first = table.admit(handshake(), KEY_A, '10.0.0.1', 5000).session;
    const second = table.admit(handshake(), KEY_A, '10.0.0.1', 5000).session;
    expect(first.closed).toBe(true);
    expect(endpoint.removed).toEqual([first.localIndex]);
    expect(events).toContain(`ending ${first.localIndex}: replaced by a new handshake from the same sender`);
    expect(table.all()).toEqual([second]);
    expect(table.admittedCount()).toBe(1);
  });

  it('allocateIndex never hands out an index in use', () => {
    const { table } = tracked(makeTable());
    const a = table.allocateIndex();
    table.admit(handshake(a + 1), KEY_A, '10.0.0.1', 5000);
    expect(table.allocateIndex()).toBe(a + 2);
  });

  it('a silent sender is ended after the session timeout, unless it waits for our answer', () => {
    const { table, events } = tracked(makeTable({ sessionTimeoutMs: 1000 }));
    const s = table.admit(handshake(), KEY_A, '10.0.0.1', 5000).session;
    const later = Date.now() + 5000;
    s.lastOpenTransferMs = later; // keep the no-transfer rule out of this test
    table.checkLiveness(s, later, true); // busy: its silence counts from now
    expect(s.closed).toBe(false);
    table.checkLiveness(s, later + 1500, false);
    expect(s.closed).toBe(true);
    expect(events).toContain(`ending ${s.localIndex}: no packet from the sender for 1 s`);
  });

  it('a session with no transfer open gets a goodbye after noTransferTimeoutMs; a receiving one is kept', () => {
    const { table, endpoint } = tracked(makeTable({ noTransferTimeoutMs: 2000 }));
    const idle = table.admit(handshake(), KEY_A, '10.0.0.1', 5000).session;
    const busy: ReceiveSession = table.admit(handshake(), KEY_B, '10.0.0.2', 5000).session;
    busy.transfers.set(1, new TransferRecord(busy.localIndex, 1, KEY_B, '10.0.0.2', 5000, '/d', 10, 1));
    const now = Date.now();
    for (const s of [idle, busy]) {
      s.lastRecvUs = (now + 3000) * 1000;
      table.checkLiveness(s, now + 3000, false);
    }
    expect(idle.closed).toBe(true);
    expect(endpoint.messages(idle.localIndex)).toEqual([{ kind: 'goodbye', reason: 'no transfer open for 2 s', final: false }]);
    expect(busy.closed).toBe(false);
    expect(busy.lastOpenTransferMs).toBe(now + 3000);
  });

  it('end is idempotent and drops control packets afterwards', () => {
    const { table, events } = tracked(makeTable());
    const s = table.admit(handshake(), KEY_A, '10.0.0.1', 5000).session;
    table.end(s, 'bye');
    table.end(s, 'again');
    expect(events.filter((e) => e.startsWith('ended'))).toHaveLength(1);
    expect(table.admittedCount()).toBe(0);
    const before = s.lastRecvUs;
    table.receive(s.localIndex, new Uint8Array(8));
    expect(s.lastRecvUs).toBe(before);
  });
});
