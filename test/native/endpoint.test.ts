// endpoint.test.ts — the real addon over loopback UDP: the doorbell delivers
// handshake and control events, garbage moves the right drop counters and queues
// nothing, DATA packets sealed with node:crypto (test/tools/data-packet.ts: an independent implementation
// of the documented key schedule) are accepted, and the lifecycle is safe.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { addon, type EndpointOptions, type NativeEndpoint, type NativeEvent } from '../../src/addon/binding.js';
import { controlFrame, kDataHeaderLen, kTagLen, sealData } from '../tools/data-packet.js';

const { handshakeInitLength: kHandshakeInitLen, handshakeRespLength: kHandshakeRespLen, handshakeCookieLength: kHandshakeCookieLen } = addon.constants;
const kEpochShift = 22n;

interface Harness {
  endpoint: NativeEndpoint;
  events: NativeEvent[];
  doorbells: number;
}

const open: NativeEndpoint[] = [];
const sockets: dgram.Socket[] = [];

afterEach(() => {
  for (const e of open.splice(0)) e.close();
  for (const s of sockets.splice(0)) s.close();
});

function makeEndpoint(role: 'receiver' | 'sender', overrides: Partial<EndpointOptions> = {}): Harness {
  const h: Harness = { endpoint: undefined as unknown as NativeEndpoint, events: [], doorbells: 0 };
  h.endpoint = new addon.Endpoint({
    role,
    bindAddress: '127.0.0.1',
    port: 0,
    sockets: role === 'receiver' ? 2 : 1,
    rcvbufBytes: 1 << 20,
    sndbufBytes: 1 << 20,
    maxDatagram: 1472,
    feedbackIntervalMs: 20,
    directIo: 'off',
    directIoThreads: 2,
    txThreads: 1,
    eventQueueCapacity: 65536,
    onEvents: () => {
      h.doorbells++;
      for (;;) {
        const batch = h.endpoint.drainEvents(64);
        h.events.push(...batch);
        if (batch.length < 64) break;
      }
    },
    ...overrides,
  });
  open.push(h.endpoint);
  return h;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function counters(e: NativeEndpoint): Record<string, number> {
  const out = new Float64Array(addon.counterNames.length);
  e.readCounters(out);
  return Object.fromEntries(addon.counterNames.map((n, i) => [n, out[i] ?? 0]));
}

async function udpClient(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

function sendUdp(s: dgram.Socket, port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => s.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

describe('native addon exports', () => {
  it('lists counter names that readCounters fills, in order', () => {
    expect(addon.counterNames.length).toBeGreaterThan(30);
    for (const name of ['rx_datagrams', 'drop_short', 'drop_bad_tag', 'drop_replay', 'drop_unknown_session']) {
      expect(addon.counterNames).toContain(name);
    }
    expect(new Set(addon.counterNames).size).toBe(addon.counterNames.length);
    const rx = makeEndpoint('receiver');
    const exact = new Float64Array(addon.counterNames.length);
    rx.endpoint.readCounters(exact);
    expect(Array.from(exact).every((v) => v === 0)).toBe(true);
    expect(() => rx.endpoint.readCounters(new Float64Array(addon.counterNames.length - 1))).toThrow(RangeError);
    expect(() => rx.endpoint.readCounters(new Uint8Array(100) as unknown as Float64Array)).toThrow(TypeError);
  });

  it('sdNotify returns false without NOTIFY_SOCKET and throws on an unusable one', () => {
    const saved = process.env.NOTIFY_SOCKET;
    try {
      delete process.env.NOTIFY_SOCKET;
      expect(addon.sdNotify('READY=1')).toBe(false);
      process.env.NOTIFY_SOCKET = 'relative/path';
      expect(() => addon.sdNotify('READY=1')).toThrow(/NOTIFY_SOCKET/);
    } finally {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    }
  });
});

describe('Endpoint', () => {
  it('delivers a handshake-sized packet as a handshake event via the doorbell', async () => {
    const rx = makeEndpoint('receiver');
    const tx = makeEndpoint('sender');
    expect(rx.endpoint.localPort()).toBeGreaterThan(0);
    expect(rx.endpoint.kernelBuffers().rcvbuf).toBeGreaterThan(0);
    const packet = new Uint8Array(kHandshakeInitLen).fill(0x5a);
    packet[0] = 1;
    tx.endpoint.sendRaw('127.0.0.1', rx.endpoint.localPort(), packet);
    await waitFor(() => rx.events.length > 0, 'handshake event');
    expect(rx.doorbells).toBeGreaterThanOrEqual(1);
    const ev = rx.events[0];
    expect(ev).toMatchObject({ type: 'handshake', address: '127.0.0.1', port: tx.endpoint.localPort() });
    expect(ev?.type === 'handshake' && Buffer.from(ev.packet).equals(Buffer.from(packet))).toBe(true);
    expect(counters(rx.endpoint).handshake_packets).toBe(1);

    const resp = new Uint8Array(kHandshakeRespLen).fill(7);
    resp[0] = 2;
    rx.endpoint.sendRaw('127.0.0.1', tx.endpoint.localPort(), resp);
    await waitFor(() => tx.events.length > 0, 'handshake response event');
    expect(tx.events[0]).toMatchObject({ type: 'handshake', port: rx.endpoint.localPort() });

    const cookie = new Uint8Array(kHandshakeCookieLen).fill(9);
    cookie[0] = 4;
    rx.endpoint.sendRaw('127.0.0.1', tx.endpoint.localPort(), cookie);
    await waitFor(() => tx.events.length > 1, 'cookie reply event');
    const cev = tx.events[1];
    expect(cev?.type === 'handshake' && Buffer.from(cev.packet).equals(Buffer.from(cookie))).toBe(true);
  });

  it('carries CONTROL frames both ways once both sides have the session', async () => {
    const rx = makeEndpoint('receiver');
    const tx = makeEndpoint('sender');
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    rx.endpoint.addSession({
      localIndex: 11, remoteIndex: 22, cipher: 'chacha20-poly1305', sendKey: k1, recvKey: k2,
      peerAddress: '127.0.0.1', peerPort: tx.endpoint.localPort(),
    });
    tx.endpoint.addSession({
      localIndex: 22, remoteIndex: 11, cipher: 'chacha20-poly1305', sendKey: k2, recvKey: k1,
      peerAddress: '127.0.0.1', peerPort: rx.endpoint.localPort(),
    });
    const payload = randomBytes(1200);
    tx.endpoint.sendControl(22, payload);
    await waitFor(() => rx.events.length > 0, 'control event');
    const ev = rx.events[0];
    expect(ev).toMatchObject({ type: 'control', session: 11 });
    expect(ev?.type === 'control' && Buffer.from(ev.payload).equals(payload)).toBe(true);

    rx.endpoint.sendControl(11, Buffer.from('accept'));
    await waitFor(() => tx.events.length > 0, 'reply control event');
    expect(tx.events[0]).toMatchObject({ type: 'control', session: 22 });

    expect(rx.endpoint.sessionStats(11)).toMatchObject({ packetsRecv: 1, packetsSent: 1 });
    expect(rx.endpoint.sessionStats(12345)).toBeNull();
    expect(() => tx.endpoint.sendControl(22, new Uint8Array(addon.constants.maxControlPayload + 1))).toThrow(RangeError);
    expect(() => tx.endpoint.sendControl(99, new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'JETRECV_ERR_UNKNOWN_SESSION' }),
    );
    expect(() => rx.endpoint.addSession({
      localIndex: 11, remoteIndex: 22, cipher: 'aes-256-gcm', sendKey: k1, recvKey: k2,
      peerAddress: '127.0.0.1', peerPort: 1,
    })).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_DUPLICATE_SESSION' }));
    rx.endpoint.removeSession(11);
    expect(rx.endpoint.sessionStats(11)).toBeNull();
  });

  it('accepts a DATA packet sealed with node:crypto per the documented key schedule', async () => {
    const rx = makeEndpoint('receiver');
    const client = await udpClient();
    const peerToRx = randomBytes(32);
    rx.endpoint.addSession({
      localIndex: 5, remoteIndex: 6, cipher: 'aes-256-gcm', sendKey: randomBytes(32), recvKey: peerToRx,
      peerAddress: '127.0.0.1', peerPort: client.address().port,
    });
    const port = rx.endpoint.localPort();
    // Counters on both sides of an epoch boundary, on lane 3: different epoch keys.
    const boundary = 1n << kEpochShift;
    await sendUdp(client, port, sealData(peerToRx, 5, 3, boundary - 1n, controlFrame(Buffer.from('epoch0'))));
    await sendUdp(client, port, sealData(peerToRx, 5, 3, boundary, controlFrame(Buffer.from('epoch1'))));
    await waitFor(() => rx.events.length >= 2, 'two control events');
    const payloads = rx.events.map((e) => (e.type === 'control' ? Buffer.from(e.payload).toString() : e.type));
    expect(payloads.sort()).toEqual(['epoch0', 'epoch1']);
  });

  it('counts garbage under its drop reason and queues no event', async () => {
    const rx = makeEndpoint('receiver');
    const client = await udpClient();
    const key = randomBytes(32);
    rx.endpoint.addSession({
      localIndex: 77, remoteIndex: 1, cipher: 'aes-256-gcm', sendKey: randomBytes(32), recvKey: key,
      peerAddress: '127.0.0.1', peerPort: client.address().port,
    });
    const port = rx.endpoint.localPort();
    const good = sealData(key, 77, 0, 0n, controlFrame(Buffer.from('ok')));
    const flipped = Buffer.from(good);
    flipped[kDataHeaderLen + 2]! ^= 0x01;
    const cases: [string, Uint8Array, string][] = [
      ['empty datagram', new Uint8Array(0), 'drop_short'],
      ['random bytes with an unknown type', Buffer.concat([Buffer.from([0x99]), randomBytes(300)]), 'drop_bad_type'],
      ['truncated handshake', Buffer.concat([Buffer.from([1]), randomBytes(kHandshakeInitLen - 2)]), 'drop_bad_length'],
      ['truncated DATA', Buffer.from(good.subarray(0, kDataHeaderLen + kTagLen)), 'drop_bad_length'],
      ['wrong session index', sealData(key, 78, 0, 1n, controlFrame(Buffer.from('x'))), 'drop_unknown_session'],
      ['flipped ciphertext bit', flipped, 'drop_bad_tag'],
      ['wrong key', sealData(randomBytes(32), 77, 0, 2n, controlFrame(Buffer.from('x'))), 'drop_bad_tag'],
      ['unknown frame type', sealData(key, 77, 0, 3n, Buffer.from([0x33, 0, 0, 0])), 'drop_bad_frame'],
    ];
    for (const [what, bytes, reason] of cases) {
      const before = counters(rx.endpoint);
      await sendUdp(client, port, bytes);
      await waitFor(() => counters(rx.endpoint)[reason] === (before[reason] ?? 0) + 1, `${reason} after ${what}`);
      expect(counters(rx.endpoint).rx_datagrams, what).toBe((before.rx_datagrams ?? 0) + 1);
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(rx.events).toEqual([]);
    expect(rx.endpoint.drainEvents()).toEqual([]);

    // The intact packet is delivered once; its replay is a counted drop.
    await sendUdp(client, port, good);
    await waitFor(() => rx.events.length === 1, 'control event');
    await sendUdp(client, port, good);
    await waitFor(() => counters(rx.endpoint).drop_replay === 1, 'drop_replay');
    expect(rx.events).toHaveLength(1);
  });

  it('closes idempotently and refuses commands afterwards', () => {
    const rx = makeEndpoint('receiver');
    rx.endpoint.close();
    rx.endpoint.close();
    expect(() => rx.endpoint.sendRaw('127.0.0.1', 9, new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'JETRECV_ERR_CLOSED' }),
    );
    expect(rx.endpoint.sessionStats(1)).toBeNull();
    expect(rx.endpoint.drainEvents()).toEqual([]);
    const out = new Float64Array(addon.counterNames.length);
    rx.endpoint.readCounters(out);
  });

  it('keeps undrained events readable after close without ringing again', async () => {
    let rings = 0;
    const rx = makeEndpoint('receiver', { onEvents: () => void rings++ });
    const tx = makeEndpoint('sender');
    const packet = new Uint8Array(kHandshakeInitLen);
    packet[0] = 1;
    for (let i = 0; i < 3; i++) tx.endpoint.sendRaw('127.0.0.1', rx.endpoint.localPort(), packet);
    await waitFor(() => counters(rx.endpoint).handshake_packets === 3, 'three handshakes queued');
    await waitFor(() => rings === 1, 'one coalesced doorbell');
    rx.endpoint.close();
    expect(rx.endpoint.drainEvents(1)).toHaveLength(1);
    expect(rx.endpoint.drainEvents(1)).toHaveLength(1);
    expect(rx.endpoint.drainEvents(5)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(rings).toBe(1);
  });

  it('routeMtu reads the MTU of the local route (loopback: 65535 or 65536) and refuses a non-numeric address', () => {
    expect([65535, 65536]).toContain(addon.routeMtu('127.0.0.1', 9));
    expect(() => addon.routeMtu('localhost', 9)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT' }));
  });

  it('rejects bad options and arguments with coded errors', () => {
    expect(() => makeEndpoint('receiver', { role: 'both' as 'receiver' })).toThrow(RangeError);
    expect(() => makeEndpoint('receiver', { directIo: 'on' as 'auto' })).toThrow(/opts\.directIo must be 'auto' or 'off'/);
    expect(() => makeEndpoint('receiver', { eventQueueCapacity: 8 })).toThrow(/opts\.eventQueueCapacity/);
    expect(() => makeEndpoint('receiver', { directIoThreads: 0 })).toThrow(/opts\.directIoThreads/);
    expect(() => makeEndpoint('receiver', { bindAddress: 'localhost' })).toThrow(
      expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT', errno: 22 }),
    );
    expect(() => makeEndpoint('sender', { sockets: addon.constants.maxLanes + 1 })).toThrow(
      expect.objectContaining({ code: 'JETRECV_ERR_INVALID_ARGUMENT' }),
    );
    const rx = makeEndpoint('receiver');
    expect(() => rx.endpoint.addSession({
      localIndex: 1, remoteIndex: 2, cipher: 'aes-256-gcm', sendKey: new Uint8Array(31), recvKey: new Uint8Array(32),
      peerAddress: '127.0.0.1', peerPort: 9,
    })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'JETRECV_ERR_INVALID_ARGUMENT' }));
    expect(() => rx.endpoint.addSession({
      localIndex: -1, remoteIndex: 2, cipher: 'aes-256-gcm', sendKey: new Uint8Array(32), recvKey: new Uint8Array(32),
      peerAddress: '127.0.0.1', peerPort: 9,
    })).toThrow(RangeError);
    expect(() => rx.endpoint.startSendTransfer(1, 1, { blockSize: 1024, files: [], rateMaxBps: 0, rateStartBps: 0 })).toThrow(
      expect.objectContaining({ code: 'JETRECV_ERR_WRONG_ROLE' }),
    );
  });
});
