// contract.test.ts — the channel between TS and the addon holds its schema: every stats,
// result and event object the real addon builds has exactly the keys of its type in
// src/addon/binding.ts, each role queues only its own event types, and the constants the
// addon exports are the ones TS uses (and the ones the addon enforces).
import { randomBytes } from 'node:crypto';
import { truncateSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addon,
  type KernelBuffers,
  type NativeConstants,
  type NativeEvent,
  type PartialSweep,
  type ReceiveCheckpoint,
  type ReceiverEvent,
  type ReceiveTransferStats,
  type SenderEvent,
  type SendTransferStats,
  type SessionStats,
} from '../../src/addon/binding.js';
import { Endpoint, type EndpointConfig, type EndpointEvent, type EndpointRole } from '../../src/addon/endpoint.js';
import {
  DEFAULT_EVENT_QUEUE_CAPACITY,
  kBlockPacketOverhead,
  kDatagramSizeRange,
  kMaxBlockSize,
  kMaxControlPayload,
  kMaxDatagram,
} from '../../src/addon/limits.js';
import { HANDSHAKE_COOKIE_LENGTH, HANDSHAKE_INIT_LENGTH, HANDSHAKE_RESP_LENGTH, MAX_LANES } from '../../src/handshake/packets.js';

/** Exactly the keys of T, as data: a key missing from T or from the list fails to compile. */
type KeyList<T> = { readonly [K in keyof Required<T>]: true };
const keysOf = (list: object): string[] => Object.keys(list).sort();
const keysOfValue = (value: unknown): string[] => Object.keys(value as object).sort();

const sessionStatsKeys: KeyList<SessionStats> = { packetsRecv: true, bytesRecv: true, packetsSent: true, bytesSent: true, lastRecvUs: true, lastSendUs: true };
const receiveStatsKeys: KeyList<ReceiveTransferStats> = {
  bytesReceived: true, blocksReceived: true, totalBlocks: true, filesDone: true, recvRateBps: true, lastRecvUs: true, failed: true, blocksResumed: true,
};
const sendStatsKeys: KeyList<SendTransferStats> = {
  bytesSent: true, blocksSent: true, blocksRetransmitted: true, blocksTailCopies: true, blocksAcked: true, totalBlocks: true, rateBps: true, firstPassDone: true,
  receiverComplete: true, blocksResumed: true, competingEvents: true,
};
const checkpointKeys: KeyList<ReceiveCheckpoint> = { doneFiles: true, ranges: true, blocksHeld: true, bytesHeld: true };
const kernelBufferKeys: KeyList<KernelBuffers> = { rcvbuf: true, sndbuf: true };
const partialSweepKeys: KeyList<PartialSweep> = { removed: true, bytesRemoved: true, kept: true, leftAlone: true };
const constantKeys: KeyList<NativeConstants> = {
  blockPacketOverhead: true, maxDatagram: true, maxControlPayload: true, defaultEventQueueCapacity: true, maxLanes: true,
  handshakeInitLength: true, handshakeRespLength: true, handshakeCookieLength: true, earlyBlockSessionBytes: true,
};
/** Per event type, its keys. */
const eventKeys: { readonly [E in NativeEvent as E['type']]: KeyList<E> } = {
  handshake: { type: true, address: true, port: true, packet: true },
  control: { type: true, session: true, payload: true },
  fileDone: { type: true, session: true, transfer: true, file: true },
  transferError: { type: true, session: true, transfer: true, file: true, code: true, errno: true, message: true },
  receiverComplete: { type: true, session: true, transfer: true },
  overflow: { type: true, dropped: true },
};
const receiverEventTypes: Record<ReceiverEvent['type'], true> = { handshake: true, control: true, fileDone: true, transferError: true, overflow: true };
const senderEventTypes: Record<SenderEvent['type'], true> = { handshake: true, control: true, receiverComplete: true, transferError: true, overflow: true };

interface Side<R extends EndpointRole> {
  endpoint: Endpoint<R>;
  events: EndpointEvent<R>[];
}

const open: Endpoint[] = [];
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'jetrecv-contract-'));
});
afterEach(() => {
  for (const e of open.splice(0)) e.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function side<R extends EndpointRole>(role: R, overrides: Partial<EndpointConfig<R>> = {}): Side<R> {
  const events: EndpointEvent<R>[] = [];
  const config: EndpointConfig<R> = {
    role,
    bindAddress: '127.0.0.1',
    port: 0,
    sockets: 1,
    rcvbufBytes: 1 << 20,
    sndbufBytes: 1 << 20,
    maxDatagram: 1472,
    feedbackIntervalMs: 5,
    directIo: 'off',
    directIoThreads: 1,
    txThreads: 1,
    eventQueueCapacity: DEFAULT_EVENT_QUEUE_CAPACITY,
    ...overrides,
  };
  const endpoint = new Endpoint<R>(config, (ev) => events.push(ev));
  open.push(endpoint);
  return { endpoint, events };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A receiver and a sender holding one session (receiver index 1, sender index 2). */
function pair(): { rx: Side<'receiver'>; tx: Side<'sender'> } {
  const rx = side('receiver');
  const tx = side('sender');
  const toRx = randomBytes(32);
  const toTx = randomBytes(32);
  rx.endpoint.addSession({ localIndex: 1, remoteIndex: 2, cipher: 'aes-256-gcm', sendKey: toTx, recvKey: toRx, peerAddress: '127.0.0.1', peerPort: tx.endpoint.localPort() });
  tx.endpoint.addSession({ localIndex: 2, remoteIndex: 1, cipher: 'aes-256-gcm', sendKey: toRx, recvKey: toTx, peerAddress: '127.0.0.1', peerPort: rx.endpoint.localPort() });
  return { rx, tx };
}

/** Opens a receive transfer of one file of `size` random bytes and starts sending it; returns the receive root. */
async function sendOneFile(rx: Side<'receiver'>, tx: Side<'sender'>, transferId: number, size: number): Promise<string> {
  const root = path.join(dir, `root-${transferId}`);
  await mkdir(root);
  const src = path.join(dir, `source-${transferId}.bin`);
  await writeFile(src, randomBytes(size));
  await rx.endpoint.openReceiveTransfer(1, transferId, { root, blockSize: 1024, files: [{ path: 'a', size, mode: 0o644, mtimeMs: Date.now() }], emptyDirs: [] });
  tx.endpoint.startSendTransfer(2, transferId, { blockSize: 1024, files: [{ path: src, size }], rateMaxBps: 100e6, rateStartBps: 50e6 });
  return root;
}

function expectEventKeys(events: NativeEvent[], roleTypes: object): void {
  for (const ev of events) {
    expect(Object.keys(roleTypes), `an event of type ${ev.type} on this role`).toContain(ev.type);
    expect(keysOfValue(ev), `keys of a ${ev.type} event`).toEqual(keysOf(eventKeys[ev.type]));
  }
}

describe('the addon contract', () => {
  it('exports exactly the constants TS names, frozen, and TS uses them', () => {
    expect(keysOfValue(addon.constants)).toEqual(keysOf(constantKeys));
    expect(Object.isFrozen(addon.constants)).toBe(true);
    for (const value of Object.values(addon.constants)) expect(Number.isSafeInteger(value) && value > 0).toBe(true);
    // The handshake layouts are defined in TS (packets.ts); the RX threads pass only these lengths to JS.
    expect([HANDSHAKE_INIT_LENGTH, HANDSHAKE_RESP_LENGTH, HANDSHAKE_COOKIE_LENGTH]).toEqual([
      addon.constants.handshakeInitLength,
      addon.constants.handshakeRespLength,
      addon.constants.handshakeCookieLength,
    ]);
    expect(MAX_LANES).toBe(addon.constants.maxLanes);
    expect(kMaxBlockSize).toBe(kMaxDatagram - kBlockPacketOverhead);
    expect(kDatagramSizeRange.max).toBe(kMaxDatagram);
  });

  it('enforces the exported constants: CONTROL payload, datagram size, block size, lanes', async () => {
    const { rx, tx } = pair();
    expect(() => tx.endpoint.sendControl(2, new Uint8Array(kMaxControlPayload))).not.toThrow();
    expect(() => tx.endpoint.sendControl(2, new Uint8Array(kMaxControlPayload + 1))).toThrow(RangeError);
    expect(() => side('sender', { maxDatagram: kMaxDatagram })).not.toThrow();
    expect(() => side('sender', { maxDatagram: kMaxDatagram + 1 })).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT' }));
    expect(() => side('sender', { maxDatagram: kBlockPacketOverhead })).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT' }));
    expect(() => side('sender', { sockets: addon.constants.maxLanes })).not.toThrow();
    expect(() => side('sender', { sockets: addon.constants.maxLanes + 1 })).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT' }));
    // A block fills a datagram with exactly kBlockPacketOverhead bytes to spare.
    const src = path.join(dir, 'fit.bin');
    await writeFile(src, randomBytes(10));
    const spec = (blockSize: number) => ({ blockSize, files: [{ path: src, size: 10 }], rateMaxBps: 0, rateStartBps: 0 });
    expect(() => tx.endpoint.startSendTransfer(2, 1, spec(1472 - kBlockPacketOverhead))).not.toThrow();
    expect(() => tx.endpoint.startSendTransfer(2, 2, spec(1472 - kBlockPacketOverhead + 1))).toThrow();
    const root = path.join(dir, 'fit');
    await mkdir(root);
    const file = { path: 'f', size: 10, mode: 0o644, mtimeMs: Date.now() };
    await rx.endpoint.openReceiveTransfer(1, 1, { root, blockSize: kMaxBlockSize, files: [file], emptyDirs: [] });
    await expect(rx.endpoint.openReceiveTransfer(1, 2, { root, blockSize: kMaxBlockSize + 1, files: [{ ...file, path: 'g' }], emptyDirs: [] })).rejects.toThrow();
  });

  it('builds stats and results with exactly the keys of their types', async () => {
    const { rx, tx } = pair();
    const root = await sendOneFile(rx, tx, 9, 5000);
    await waitFor(() => tx.endpoint.sendTransferStats(2, 9)?.receiverComplete === true, 'the receiver to hold every block');

    expect(keysOfValue(rx.endpoint.sessionStats(1))).toEqual(keysOf(sessionStatsKeys));
    expect(keysOfValue(tx.endpoint.sessionStats(2))).toEqual(keysOf(sessionStatsKeys));
    expect(keysOfValue(rx.endpoint.receiveTransferStats(1, 9))).toEqual(keysOf(receiveStatsKeys));
    expect(keysOfValue(tx.endpoint.sendTransferStats(2, 9))).toEqual(keysOf(sendStatsKeys));
    expect(keysOfValue(await rx.endpoint.checkpointReceiveTransfer(1, 9))).toEqual(keysOf(checkpointKeys));
    expect(keysOfValue(rx.endpoint.kernelBuffers())).toEqual(keysOf(kernelBufferKeys));
    expect(keysOfValue(addon.sweepPartials(root, []))).toEqual(keysOf(partialSweepKeys));
    expect(Object.keys(rx.endpoint.counters())).toEqual(addon.counterNames);
  });

  it('queues each role only its own events, each with exactly the keys of its type', async () => {
    const { rx, tx } = pair();
    // handshake: INIT to the receiver, RESP and COOKIE REPLY to the sender.
    const packet = (length: number, type: number) => Object.assign(new Uint8Array(length), { 0: type });
    tx.endpoint.sendRaw('127.0.0.1', rx.endpoint.localPort(), packet(HANDSHAKE_INIT_LENGTH, 1));
    rx.endpoint.sendRaw('127.0.0.1', tx.endpoint.localPort(), packet(HANDSHAKE_RESP_LENGTH, 2));
    rx.endpoint.sendRaw('127.0.0.1', tx.endpoint.localPort(), packet(HANDSHAKE_COOKIE_LENGTH, 4));
    // control: both ways.
    tx.endpoint.sendControl(2, Buffer.from('to the receiver'));
    rx.endpoint.sendControl(1, Buffer.from('to the sender'));
    // fileDone and receiverComplete: one file sent whole.
    await sendOneFile(rx, tx, 3, 3000);
    // transferError: a source file that shrinks while it is sent (slowly: 8 Mbit/s for 4 MiB).
    const shrinking = path.join(dir, 'shrinking.bin');
    await writeFile(shrinking, randomBytes(4 << 20));
    tx.endpoint.startSendTransfer(2, 4, { blockSize: 1024, files: [{ path: shrinking, size: 4 << 20 }], rateMaxBps: 8e6, rateStartBps: 8e6, ratePolicy: 'fixed' });
    truncateSync(shrinking, 0);

    const seen = (s: Side<EndpointRole>, type: NativeEvent['type']) => s.events.some((e) => e.type === type);
    await waitFor(() => (['handshake', 'control', 'fileDone'] as const).every((t) => seen(rx, t)), 'the receiver events');
    await waitFor(() => (['handshake', 'control', 'receiverComplete', 'transferError'] as const).every((t) => seen(tx, t)), 'the sender events');
    expectEventKeys(rx.events, receiverEventTypes);
    expectEventKeys(tx.events, senderEventTypes);
  });

  it('reports lost events as an overflow event first in the drain, with its keys', async () => {
    const rx = side('receiver', { eventQueueCapacity: 16 });
    const tx = side('sender');
    const init = Object.assign(new Uint8Array(HANDSHAKE_INIT_LENGTH), { 0: 1 });
    for (let i = 0; i < 40; i++) tx.endpoint.sendRaw('127.0.0.1', rx.endpoint.localPort(), init);
    // Hold the JS thread (no drain) until the RX thread has dropped some: counters are pulled synchronously.
    const deadline = Date.now() + 10_000;
    while ((rx.endpoint.counters().drop_event_queue_full ?? 0) === 0 && Date.now() < deadline) { /* spin */ }
    await waitFor(() => rx.events.length > 0, 'the drain');
    expect(rx.events[0]?.type).toBe('overflow');
    expectEventKeys(rx.events, receiverEventTypes);
  });

  it("carries a receive transfer's rate cap to its sender in FEEDBACK, and lifts it", async () => {
    const { rx, tx } = pair();
    expect(() => rx.endpoint.setReceiveRateCap(1, 99, 5e6)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_UNKNOWN_TRANSFER' }));
    await sendOneFile(rx, tx, 7, 8 << 20); // sent at up to 100 Mbit/s
    rx.endpoint.setReceiveRateCap(1, 7, 5e6);
    const rate = () => tx.endpoint.sendTransferStats(2, 7)?.rateBps ?? 0;
    await waitFor(() => rate() > 0 && rate() <= 5e6, 'the sender paced at the cap');
    rx.endpoint.setReceiveRateCap(1, 7, 0);
    await waitFor(() => rate() > 5e6 || tx.events.some((e) => e.type === 'receiverComplete'), 'the sender past the lifted cap');
    expect(rate()).toBeGreaterThan(5e6);
  });
});
