// impair-relay.test.ts — the UDP impairment relay with plain dgram sockets on 127.0.0.1:
// forwarding both ways with one upstream port per client, exact and repeatable seeded drops,
// duplicates, corruption, reordering, delay, dropIf, live changes, and port release on close.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  mulberry32,
  startImpairRelay,
  streamSeed,
  validateImpairment,
  type ImpairRelay,
  type ImpairRelayOptions,
} from '../tools/impair-relay.js';

interface Received {
  msg: Buffer;
  port: number;
}

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function udpSocket(
  onMessage?: (msg: Buffer, rinfo: dgram.RemoteInfo, sock: dgram.Socket) => void,
): Promise<{ sock: dgram.Socket; port: number; got: Received[] }> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const got: Received[] = [];
  sock.on('message', (msg, rinfo) => {
    got.push({ msg, port: rinfo.port });
    onMessage?.(msg, rinfo, sock);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  open.push({ close: () => new Promise<void>((resolve) => sock.close(() => resolve())) });
  return { sock, port: sock.address().port, got };
}

async function relayTo(port: number, opts: Omit<ImpairRelayOptions, 'target'> = {}): Promise<ImpairRelay> {
  const relay = await startImpairRelay({ target: { host: '127.0.0.1', port }, ...opts });
  open.push(relay);
  return relay;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A datagram carrying a u32 sequence number and `size` bytes in all. */
function packet(seq: number, size = 64): Buffer {
  const b = Buffer.alloc(size, seq & 0xff);
  b.writeUInt32LE(seq, 0);
  return b;
}

/**
 * Sends `count` numbered datagrams through the relay in windows, waiting after each window
 * until the relay has seen them all and the server has everything the relay forwarded, so
 * no kernel buffer overflows and every loss is the relay's own.
 */
async function pump(
  client: dgram.Socket,
  relay: ImpairRelay,
  server: { got: Received[] },
  count: number,
  size = 64,
  window = 200,
): Promise<void> {
  const base = relay.stats().toServer.received;
  for (let start = 0; start < count; start += window) {
    const end = Math.min(count, start + window);
    for (let i = start; i < end; i++) client.send(packet(i, size), relay.port, '127.0.0.1');
    await waitFor(() => relay.stats().toServer.received >= base + end, `relay to receive ${end} datagrams`);
    await waitFor(
      () => relay.stats().queued === 0 && server.got.length >= relay.stats().toServer.forwarded,
      'server to receive what the relay forwarded',
    );
  }
}

const seqs = (got: Received[]) => got.map((g) => g.msg.readUInt32LE(0));

describe('impair relay: forwarding', () => {
  it('relays both ways and gives each client its own upstream source port', async () => {
    const server = await udpSocket((msg, rinfo, sock) => sock.send(Buffer.concat([Buffer.from('re:'), msg]), rinfo.port, rinfo.address));
    const relay = await relayTo(server.port);
    const c1 = await udpSocket();
    const c2 = await udpSocket();
    for (let i = 0; i < 20; i++) {
      c1.sock.send(Buffer.from(`one-${i}`), relay.port, '127.0.0.1');
      c2.sock.send(Buffer.from(`two-${i}`), relay.port, '127.0.0.1');
    }
    await waitFor(() => c1.got.length === 20 && c2.got.length === 20, 'replies to both clients');
    // Replies went back to the client that sent the request, and came from the relay's port.
    expect(c1.got.every((g) => g.msg.toString().startsWith('re:one-') && g.port === relay.port)).toBe(true);
    expect(c2.got.every((g) => g.msg.toString().startsWith('re:two-') && g.port === relay.port)).toBe(true);
    // The server saw two stable source ports, one per client, neither of them the clients' own.
    const portsOne = new Set(server.got.filter((g) => g.msg.toString().startsWith('one-')).map((g) => g.port));
    const portsTwo = new Set(server.got.filter((g) => g.msg.toString().startsWith('two-')).map((g) => g.port));
    expect(portsOne.size).toBe(1);
    expect(portsTwo.size).toBe(1);
    expect([...portsOne][0]).not.toBe([...portsTwo][0]);
    expect(portsOne.has(c1.port) || portsTwo.has(c2.port)).toBe(false);
    const s = relay.stats();
    expect(s.clients).toBe(2);
    expect(s.toServer).toMatchObject({ received: 40, forwarded: 40, dropped: 0, duplicated: 0, corrupted: 0 });
    expect(s.toClient).toMatchObject({ received: 40, forwarded: 40 });
    expect(s.toServer.bytesForwarded).toBe(server.got.reduce((n, g) => n + g.msg.length, 0));
  });

  it('forwards datagrams unchanged and in order when no impairment is set', async () => {
    const server = await udpSocket();
    const relay = await relayTo(server.port);
    const client = await udpSocket();
    // Windows of 50: 200 datagrams of 1400 bytes overflow a receive buffer of the kernel default
    // (rmem_default 212992 on a fresh machine), and this test is about the relay, not the kernel.
    await pump(client.sock, relay, server, 1000, 1400, 50);
    expect(seqs(server.got)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(server.got.every((g, i) => g.msg.equals(packet(i, 1400)))).toBe(true);
  });
});

describe('impair relay: seeded impairments', () => {
  it('drops exactly the datagrams its seeded stream picks, repeatably', async () => {
    const count = 4000;
    const drop = 0.05;
    const seed = 42;
    const r = mulberry32(streamSeed(seed, 'toServer', 'drop'));
    const expectedKept = Array.from({ length: count }, (_, i) => i).filter(() => r() >= drop);
    const runs: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const server = await udpSocket();
      const relay = await relayTo(server.port, { seed, drop });
      const client = await udpSocket();
      await pump(client.sock, relay, server, count);
      expect(relay.stats().toServer.dropped).toBe(count - expectedKept.length);
      expect(relay.stats().socketDrops).toBe(0);
      runs.push(seqs(server.got));
    }
    expect(runs[0]).toEqual(expectedKept);
    expect(runs[1]).toEqual(runs[0]);
    // 5 % of 4000 = 200 expected; a seeded stream must land within a few standard deviations.
    const dropped = count - expectedKept.length;
    expect(dropped).toBeGreaterThan(150);
    expect(dropped).toBeLessThan(250);
    // Another seed picks other datagrams.
    const other = mulberry32(streamSeed(7, 'toServer', 'drop'));
    const keptOther = Array.from({ length: count }, (_, i) => i).filter(() => other() >= drop);
    expect(keptOther).not.toEqual(expectedKept);
  });

  it('impairs each direction on its own', async () => {
    const server = await udpSocket((msg, rinfo, sock) => sock.send(msg, rinfo.port, rinfo.address));
    const relay = await relayTo(server.port, { toClient: { drop: 1 } });
    const client = await udpSocket();
    await pump(client.sock, relay, server, 100);
    await waitFor(() => relay.stats().toClient.received === 100, 'echoes to reach the relay');
    expect(server.got.length).toBe(100);
    expect(client.got.length).toBe(0);
    expect(relay.stats().toClient.dropped).toBe(100);
    relay.setImpairment({ toClient: { drop: 0 } });
    expect(relay.impairment().toClient.drop).toBe(0);
    client.sock.send(packet(7), relay.port, '127.0.0.1');
    await waitFor(() => client.got.length === 1, 'an echo after the change');
    expect(seqs(client.got)).toEqual([7]);
  });

  it('duplicates datagrams and counts each extra copy', async () => {
    const server = await udpSocket();
    const relay = await relayTo(server.port, { seed: 3, duplicate: 0.1 });
    const client = await udpSocket();
    await pump(client.sock, relay, server, 2000);
    const s = relay.stats().toServer;
    const seen = new Map<number, number>();
    for (const q of seqs(server.got)) seen.set(q, (seen.get(q) ?? 0) + 1);
    const twice = [...seen.values()].filter((n) => n === 2).length;
    expect(seen.size).toBe(2000);
    expect([...seen.values()].every((n) => n === 1 || n === 2)).toBe(true);
    expect(twice).toBe(s.duplicated);
    expect(s.duplicated).toBeGreaterThan(120);
    expect(s.duplicated).toBeLessThan(280);
    expect(s.forwarded).toBe(2000 + s.duplicated);
  });

  it('corrupts by flipping exactly one byte of the chosen datagrams', async () => {
    const server = await udpSocket();
    const relay = await relayTo(server.port, { seed: 5, corrupt: 0.25 });
    const client = await udpSocket();
    await pump(client.sock, relay, server, 1000, 200);
    // Without drops or reordering, arrival i is datagram i (its sequence field may be the
    // corrupted byte, so it is not read back).
    let changed = 0;
    server.got.forEach((g, i) => {
      const sent = packet(i, 200);
      expect(g.msg.length).toBe(200);
      const diffs = [...g.msg].filter((b, k) => b !== sent[k]).length;
      expect(diffs).toBeLessThanOrEqual(1);
      changed += diffs;
    });
    const s = relay.stats().toServer;
    expect(server.got.length).toBe(1000);
    expect(s.corrupted).toBeGreaterThan(180);
    expect(s.corrupted).toBeLessThan(320);
    expect(changed).toBe(s.corrupted);
  });

  it('changes exactly one byte of every datagram at corrupt = 1', async () => {
    const server = await udpSocket();
    const relay = await relayTo(server.port, { seed: 9, corrupt: 1 });
    const client = await udpSocket();
    const original = Buffer.alloc(1000, 0xab);
    for (let i = 0; i < 50; i++) client.sock.send(original, relay.port, '127.0.0.1');
    await waitFor(() => server.got.length === 50, '50 corrupted datagrams');
    for (const g of server.got) {
      const diffs = [...g.msg].filter((b, i) => b !== original[i]).length;
      expect(diffs).toBe(1);
    }
    expect(relay.stats().toServer.corrupted).toBe(50);
  });

  it('reorders: held-back datagrams arrive after later ones, none lost', async () => {
    const server = await udpSocket();
    const relay = await relayTo(server.port, { seed: 11, reorder: 0.2, reorderDelayMs: 5 });
    const client = await udpSocket();
    await pump(client.sock, relay, server, 1000);
    const order = seqs(server.got);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    let inversions = 0;
    for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) inversions++;
    const s = relay.stats().toServer;
    expect(s.reordered).toBeGreaterThan(100);
    expect(inversions).toBeGreaterThan(0);
    expect(s.forwarded).toBe(1000);
  });

  it('delays datagrams by delayMs and keeps their order without jitter', async () => {
    const server = await udpSocket();
    const relay = await relayTo(server.port, { delayMs: 1000 });
    const client = await udpSocket();
    const sentAt = performance.now();
    for (let i = 0; i < 20; i++) client.sock.send(packet(i), relay.port, '127.0.0.1');
    await waitFor(() => relay.stats().toServer.received === 20, 'the relay to hold 20 datagrams');
    expect(server.got.length).toBe(0);
    await waitFor(() => server.got.length === 20, 'the delayed datagrams');
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(999);
    expect(seqs(server.got)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(relay.stats().toServer.delayed).toBe(20);
  });

  it('drops what dropIf picks, such as the last datagrams of a transfer', async () => {
    const server = await udpSocket();
    const calls: [string, number][] = [];
    const relay = await relayTo(server.port, {
      dropIf: (dir, pkt, index) => {
        calls.push([dir, index]);
        return dir === 'toServer' && pkt.readUInt32LE(0) >= 95;
      },
    });
    const client = await udpSocket();
    await pump(client.sock, relay, server, 100);
    expect(seqs(server.got)).toEqual(Array.from({ length: 95 }, (_, i) => i));
    expect(relay.stats().toServer.droppedByRule).toBe(5);
    expect(calls.map((c) => c[1])).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('impair relay: settings and lifecycle', () => {
  it('rejects bad settings with an error naming the field', async () => {
    expect(() => validateImpairment({ drop: 1.5 })).toThrow(/drop is a probability in \[0, 1\], got 1.5/);
    expect(() => validateImpairment({ toServer: { jitterMs: -1 } })).toThrow(/toServer\.jitterMs/);
    expect(() => validateImpairment({ reorderDelayMs: 0 })).toThrow(/reorderDelayMs must be > 0/);
    expect(() => validateImpairment({ ['dorp' as 'drop']: 0.1 })).toThrow(/unknown field 'dorp'/);
    await expect(startImpairRelay({ target: { host: '127.0.0.1', port: 0 } })).rejects.toThrow(/target\.port must be 1-65535, got 0/);
    await expect(startImpairRelay({ target: { host: '127.0.0.1', port: 9 }, duplicate: Number.NaN })).rejects.toThrow(
      /duplicate must be a finite number/,
    );
    const server = await udpSocket();
    const relay = await relayTo(server.port);
    expect(() => relay.setImpairment({ corrupt: 2 })).toThrow(/setImpairment: corrupt/);
    expect(relay.impairment().toServer.corrupt).toBe(0);
  });

  it('close releases the listening and upstream ports, and is idempotent', async () => {
    const server = await udpSocket((msg, rinfo, sock) => sock.send(msg, rinfo.port, rinfo.address));
    const relay = await startImpairRelay({ target: { host: '127.0.0.1', port: server.port } });
    const client = await udpSocket();
    client.sock.send(packet(1), relay.port, '127.0.0.1');
    await waitFor(() => server.got.length === 1, 'the first datagram');
    const upstreamPort = server.got[0]!.port;
    // Held for 2 s: long enough that a slow machine still closes the relay before it is due.
    relay.setImpairment({ delayMs: 2000 });
    client.sock.send(packet(2), relay.port, '127.0.0.1'); // still held when the relay closes
    await waitFor(() => relay.stats().queued === 1, 'a held datagram');
    await Promise.all([relay.close(), relay.close()]);
    await relay.close();
    for (const port of [relay.port, upstreamPort]) {
      const probe = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.bind(port, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
    await new Promise((r) => setTimeout(r, 2200)); // past the held datagram's due time
    expect(server.got.length).toBe(1); // it was discarded, not sent after close
  });
});
