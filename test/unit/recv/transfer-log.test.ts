import { describe, expect, it } from 'vitest';
import { TransferLog } from '../../../src/recv/transfer-log.js';
import { TransferRecord } from '../../../src/recv/transfer-record.js';

const record = (key: string, port = 5000) => new TransferRecord(1, 1, key, '10.0.0.1', port, '/d', 100, 2);

describe('TransferLog', () => {
  it('shows each sender with its sessions and transfers; a sender that never had a transfer leaves nothing', () => {
    const log = new TransferLog(10, () => {});
    log.sessionOpened('key-a', 1, '10.0.0.1', 5000);
    log.sessionOpened('key-b', 2, '10.0.0.2', 5001);
    const t = record('key-a');
    log.remember(t);
    log.attach(t);
    log.attach(t); // once
    expect(log.sourceViews('me')).toMatchObject([
      {
        clientPublicKey: 'key-a',
        destinationPublicKey: 'me',
        encryptedConnectionState: 'connected',
        activeTransferCount: 1,
        sourceIP: '10.0.0.1',
        sourcePort: 5000,
      },
      { clientPublicKey: 'key-b', activeTransferCount: 0 },
    ]);
    log.sessionEnded('key-a', 1);
    log.sessionEnded('key-b', 2);
    expect(log.sourceViews('me')).toMatchObject([{ clientPublicKey: 'key-a', encryptedConnectionState: 'disconnected' }]);
  });

  it('counts by status; sampled bytes and last receive time per source', () => {
    const log = new TransferLog(10, () => {});
    log.sessionOpened('key-a', 1, '10.0.0.1', 5000);
    const a = record('key-a');
    const b = record('key-a');
    for (const t of [a, b]) {
      log.remember(t);
      log.attach(t);
    }
    a.complete();
    b.bytesReceived = 40;
    b.lastRecvTime = Date.now() * 1000;
    log.sample(Date.now());
    expect(log.counts()).toEqual({ receiving: 1, complete: 1, error: 0 });
    expect(log.sourceViews('me')[0]).toMatchObject({
      completeTransferCount: 1,
      activeTransferCount: 1,
      bytesReceived: 140,
      lastRecvTime: b.lastRecvTime,
    });
    expect(log.transfers().map((s) => s.transferId)).toEqual([a.transferId, b.transferId]);
  });

  it('beyond the count the oldest finished record leaves both views (a receiving one stays)', () => {
    const evicted: TransferRecord[] = [];
    const log = new TransferLog(2, (t) => evicted.push(t));
    log.sessionOpened('key-a', 1, '10.0.0.1', 5000);
    const [live, done, next] = [record('key-a'), record('key-a'), record('key-a')];
    for (const t of [live, done]) {
      log.remember(t);
      log.attach(t);
    }
    done.fail('x');
    log.remember(next);
    expect(evicted).toEqual([done]);
    expect(log.transfers().map((s) => s.transferId)).toEqual([live.transferId, next.transferId]);
    expect(log.sourceViews('me')[0]).toMatchObject({ errorTransferCount: 0, activeTransferCount: 1 });
  });

  it('restored records show under their sender, disconnected; forget removes them', () => {
    const log = new TransferLog(10, () => {});
    const t = record('key-r', 7000);
    t.fail('interrupted');
    log.restore(t);
    expect(log.sourceViews('me')).toMatchObject([
      { clientPublicKey: 'key-r', sourcePort: 7000, encryptedConnectionState: 'disconnected', errorTransferCount: 1 },
    ]);
    log.forget(t);
    expect(log.transfers()).toEqual([]);
    expect(log.sourceViews('me')).toMatchObject([{ errorTransferCount: 0 }]);
  });
});
