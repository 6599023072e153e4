// idle-feedback.test.ts — issue 12 finding 9: a transfer whose sender sends nothing
// must not cost a FEEDBACK datagram every feedback interval, and one session cannot
// hold many open transfers. A raw sender (real addon, handshake and control channel)
// opens transfers and then sends no block; the receiver's feedback_sent counter says
// how many FEEDBACK frames went out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../src/keys/key-encoding.js';
import { connectRawSender } from './raw-sender.js';
import { startTestReceiver, type TestReceiver } from './harness.js';

const request = (transferId: number) => ({
  kind: 'transferRequest' as const,
  transferId,
  destinationPath: `idle-${transferId}`,
  blockSize: 1416,
  files: [{ path: 'never-sent.bin', size: 10 << 20, mode: 0o644, mtimeMs: Date.now() }],
  emptyDirs: [],
  checkpointFrequencySeconds: 0,
  transferUid: new Uint8Array(0),
  senderName: 'test',
});

let rx: TestReceiver;
beforeAll(async () => {
  rx = await startTestReceiver(); // feedback interval 10 ms (the receiver default)
});
afterAll(async () => {
  await rx?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('idle transfers', () => {
  it('back off their FEEDBACK when no block arrives', async () => {
    const sender = await connectRawSender(rx.daemon.recvPort, parsePublicKey(rx.daemon.publicKey));
    try {
      const transfers = 4;
      for (let id = 1; id <= transfers; id++) expect((await sender.request(request(id), id)).kind).toBe('transferAccept');
      await sleep(1500); // the back-off reaches its ceiling
      const before = rx.daemon.receiver.counters()['feedback_sent']!;
      const windowS = 3;
      await sleep(windowS * 1000);
      const sent = rx.daemon.receiver.counters()['feedback_sent']! - before;
      // Without back-off: 100 per second per transfer (1200 here). With it: two per
      // second per transfer (24); the bound leaves room for a slow, shared machine.
      expect(sent).toBeLessThan(transfers * windowS * 5);
      // ... but an idle transfer is not forgotten: it still reports.
      expect(sent).toBeGreaterThanOrEqual(transfers);
    } finally {
      sender.close();
    }
  });

  it('one session holds at most 8 open transfers', async () => {
    const sender = await connectRawSender(rx.daemon.recvPort, parsePublicKey(rx.daemon.publicKey));
    try {
      for (let id = 101; id <= 108; id++) expect((await sender.request(request(id), id)).kind).toBe('transferAccept');
      const ninth = await sender.request(request(109), 109);
      expect(ninth.kind).toBe('transferRefuse');
      if (ninth.kind === 'transferRefuse') {
        expect(ninth.code).toBe('JETRECV_ERR_REFUSED');
        expect(ninth.reason).toMatch(/too many open transfers in one session \(max 8\)/);
      }
    } finally {
      sender.close();
    }
  });
});
