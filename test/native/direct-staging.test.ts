// direct-staging.test.ts — the real addon receiving hand-sealed BLOCK packets over
// loopback UDP into a file on a disk file system (/var/tmp, O_DIRECT): blocks are
// decrypted straight into their O_DIRECT staging chunk (blocks_decrypted_to_staging),
// and forged copies of blocks (a data byte flipped after sealing: the header still
// decrypts to the right file and offset, the tag fails) land in staging chunks
// without ever reaching the file: a checkpoint flushes the staged chunks and the
// forged blocks' regions of the partial still read as zeros; the file then
// completes with the real copies and its sha256 matches.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { open as openFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addon, type NativeEndpoint } from '../../src/addon/binding.js';
import { blockFrame, kBlockFrameHeaderLen, kDataHeaderLen, sealData } from '../tools/data-packet.js';

/** statfs f_type of tmpfs: O_DIRECT is never used there. */
const TMPFS_MAGIC = 0x01021994;
const MiB = 1 << 20;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function counter(e: NativeEndpoint, name: string): number {
  const out = new Float64Array(addon.counterNames.length);
  e.readCounters(out);
  return out[addon.counterNames.indexOf(name)] ?? Number.NaN;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  void what;
  return true;
}

async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await openFile(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fh.close();
  }
}

describe('BLOCK data decrypted straight into O_DIRECT staging chunks', () => {
  it('forged copies never reach the file; the real ones complete it (sha256)', async (ctx) => {
    if ((await statfs('/var/tmp')).type === TMPFS_MAGIC) {
      console.log('skipped: /var/tmp is tmpfs, where jetrecv never uses O_DIRECT');
      ctx.skip();
    }
    const root = await mkdtemp('/var/tmp/jetrecv-staging-');
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const rx = new addon.Endpoint({
      role: 'receiver',
      bindAddress: '127.0.0.1',
      port: 0,
      sockets: 1,
      rcvbufBytes: 8 << 20,
      sndbufBytes: 1 << 20,
      maxDatagram: 9000,
      feedbackIntervalMs: 20,
      directIo: 'auto',
      directIoThreads: 2,
      txThreads: 1,
      eventQueueCapacity: 65536,
      onEvents: () => {
        while (rx.drainEvents(64).length === 64);
      },
    });
    cleanups.push(() => rx.close());
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      client.close();
    });
    const key = randomBytes(32);
    rx.addSession({
      localIndex: 21, remoteIndex: 22, cipher: 'aes-256-gcm', sendKey: randomBytes(32), recvKey: key,
      peerAddress: '127.0.0.1', peerPort: client.address().port,
    });
    // 8916-byte blocks (8972-byte datagrams): block 117 straddles chunks 0 and 1.
    const bs = 8916;
    const size = 9 * MiB + 4321;
    const content = randomBytes(size);
    await rx.openReceiveTransfer(21, 9, {
      root, blockSize: bs, files: [{ path: 'big.bin', size, mode: 0o644, mtimeMs: 1_700_000_000_000 }], emptyDirs: [],
    });
    const port = rx.localPort();
    let nextCounter = 0n;
    const block = (i: number) => blockFrame(9, 0, i * bs, content.subarray(i * bs, Math.min(size, (i + 1) * bs)));
    const send = (bytes: Uint8Array) =>
      new Promise<void>((resolve, reject) => client.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    const sendBlock = (i: number) => send(sealData(key, 21, 0, nextCounter++, block(i)));
    const sendForged = (i: number) => {
      const packet = sealData(key, 21, 0, nextCounter++, block(i));
      packet[kDataHeaderLen + kBlockFrameHeaderLen + 100]! ^= 0x40; // a data byte: the header still decrypts right
      return send(packet);
    };
    const stats = () => rx.receiveTransferStats(21, 9)!;
    // Sends blocks (fresh counters each round) until the receiver holds `target` of them
    // (loopback may drop a datagram when this shared machine is busy).
    const deliver = async (blocks: number[], target: number) => {
      for (let round = 0; round < 5 && stats().blocksReceived < target; ++round) {
        for (const i of blocks) await sendBlock(i);
        await waitFor(() => stats().blocksReceived >= target, 'blocks', 3000);
      }
      expect(stats().blocksReceived).toBe(target);
    };

    const total = Math.ceil(size / bs);
    const straddling = Math.floor(MiB / bs);
    expect(straddling * bs < MiB && (straddling + 1) * bs > MiB).toBe(true);
    const victims = [1, straddling, 200]; // chunk 0, chunks 0 and 1, chunk 1
    const first = Array.from({ length: 300 }, (_, i) => i).filter((i) => !victims.includes(i));
    await deliver(first, first.length);
    expect(counter(rx, 'blocks_decrypted_to_staging')).toBeGreaterThan(0);

    // Forged copies: their chunks are staging now, so their data is decrypted there, then refused.
    for (let round = 0; round < 5 && counter(rx, 'drop_bad_tag') < victims.length; ++round) {
      for (const i of victims) await sendForged(i);
      await waitFor(() => counter(rx, 'drop_bad_tag') >= victims.length, 'drop_bad_tag', 3000);
    }
    expect(counter(rx, 'drop_bad_tag')).toBeGreaterThanOrEqual(victims.length);
    expect(stats().blocksReceived).toBe(first.length);

    // The checkpoint flushes the staged chunks (buffered): the forged regions stay zeros.
    const cp = await rx.checkpointReceiveTransfer(21, 9);
    expect(cp.blocksHeld).toBe(first.length);
    const partial = path.join(root, '.big.bin.jrpart');
    for (const v of victims) {
      expect((await readRange(partial, v * bs, bs)).equals(Buffer.alloc(bs)), `block ${v}`).toBe(true);
    }
    expect((await readRange(partial, 2 * bs, 50 * bs)).equals(content.subarray(2 * bs, 52 * bs))).toBe(true);

    // Then forged copies of later blocks before the real ones, and everything.
    for (const i of [400, 700, 1000]) await sendForged(i);
    await deliver(Array.from({ length: total }, (_, i) => i), total);
    await waitFor(() => stats().filesDone === 1, 'file done');
    expect(stats().filesDone).toBe(1);
    const got = await readFile(path.join(root, 'big.bin'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));
    expect(counter(rx, 'bytes_written')).toBe(size);
    expect(counter(rx, 'bytes_written_direct')).toBeGreaterThan(0);
    expect(counter(rx, 'write_errors')).toBe(0);
  });
});
