// Security of the receive path: wrong keys, garbage packets and manifests that try to
// leave the sandbox. Each test checks that nothing was written where it does not belong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { generateKeyPair, encodeKey, parsePublicKey } from '../../src/keys/key-encoding.js';
import { connectRawSender } from './raw-sender.js';
import { exists, runCli, sendTo, sha256File, startTestReceiver, tempDir, writeRandomFile, type TestReceiver } from './harness.js';
import { TRANSFER_PROTOCOL } from '../../src/proto/control.js';

let rx: TestReceiver;
let src: string;
let outside: string;

beforeAll(async () => {
  rx = await startTestReceiver();
  src = await tempDir('sec-src');
  outside = await tempDir('outside');
});
afterAll(async () => {
  await rx?.close();
  await rm(src, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

function sendDatagrams(port: number, packets: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    let left = packets.length;
    for (const p of packets) {
      sock.send(p, port, '127.0.0.1', (err) => {
        if (err) reject(err);
        if (--left === 0) {
          sock.close();
          resolve();
        }
      });
    }
  });
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('who gets in', () => {
  it('a sender using the wrong receiver key gets no session and writes nothing', async () => {
    const file = path.join(src, 'secret.bin');
    await writeRandomFile(file, 100_000);
    const before = rx.daemon.receiver.counters();
    const res = await runCli([
      'send',
      '--to',
      `127.0.0.1:${rx.daemon.recvPort}`,
      '--server-key',
      encodeKey(generateKeyPair().publicKey),
      '--handshake-timeout',
      '2s',
      '--dest',
      'wrongkey',
      file,
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no answer from 127\.0\.0\.1:\d+/);
    const after = rx.daemon.receiver.counters();
    // Its INITs carry a mac1 for another key: dropped natively (finding 5) or by the responder.
    const seen = (c: Record<string, number>) => c['handshake_packets']! + c['drop_handshake_mac1']!;
    expect(seen(after) - seen(before)).toBeGreaterThanOrEqual(2);
    expect(rx.daemon.receiver.getSources().length).toBe(0);
    expect(await exists(path.join(rx.sandbox, 'wrongkey'))).toBe(false);
  });

  it('garbage and truncated packets are counted as drops and change nothing', async () => {
    const before = rx.daemon.receiver.counters();
    const header = (type: number, len: number) => {
      const b = randomBytes(len);
      b[0] = type;
      return b;
    };
    const packets: Buffer[] = [
      ...Array.from({ length: 50 }, () => header(0x7f, 100)), // unknown type
      ...Array.from({ length: 20 }, () => header(0x01, 135)), // handshake, wrong length
      ...Array.from({ length: 20 }, () => header(0x03, 20)), // data, shorter than header+tag
      ...Array.from({ length: 30 }, () => {
        const b = header(0x03, 200);
        b.writeUInt32LE(0xdeadbeef, 4); // no such session
        return b;
      }),
    ];
    await sendDatagrams(rx.daemon.recvPort, packets);
    await waitFor(() => {
      const c = rx.daemon.receiver.counters();
      return c['drop_unknown_session']! - before['drop_unknown_session']! >= 30 && c['drop_bad_type']! - before['drop_bad_type']! >= 50;
    });
    const after = rx.daemon.receiver.counters();
    expect(after['drop_bad_type']! - before['drop_bad_type']!).toBe(50);
    expect(after['drop_bad_length']! - before['drop_bad_length']!).toBe(40);
    expect(after['drop_unknown_session']! - before['drop_unknown_session']!).toBe(30);
    expect(after['blocks_written']).toBe(before['blocks_written']);
    expect(rx.daemon.receiver.getSources().length).toBe(0);

    // and a real transfer still works afterwards
    const file = path.join(src, 'after-garbage.bin');
    await writeRandomFile(file, 3 << 20);
    const res = await sendTo(rx, [file], ['--dest', 'after']);
    expect(res.code, res.stderr).toBe(0);
    expect(await sha256File(path.join(rx.sandbox, 'after', 'after-garbage.bin'))).toBe(await sha256File(file));
  });
});

describe('nothing leaves the sandbox', () => {
  const key = () => parsePublicKey(rx.daemon.publicKey);
  const request = (transferId: number, destinationPath: string, filePath: string) => ({
    kind: 'transferRequest' as const,
    transferId,
    destinationPath,
    blockSize: 1416,
    files: [{ path: filePath, size: 10, mode: 0o644, mtimeMs: Date.now() }],
    emptyDirs: [],
    checkpointFrequencySeconds: 0,
    transferUid: new Uint8Array(0),
    senderName: 'test',
    transferProtocol: TRANSFER_PROTOCOL,
  });

  it('refuses ../, absolute paths and symlink escapes, and writes nothing outside', async () => {
    await symlink(outside, path.join(rx.sandbox, 'evil'));
    const sender = await connectRawSender(rx.daemon.recvPort, key());
    try {
      const cases: [string, string, RegExp][] = [
        ['dest', '../escape.txt', /\.\./],
        ['dest', 'a/../../escape.txt', /\.\./],
        ['dest', '/etc/escape.txt', /absolute/],
        ['../up', 'x.txt', /\.\./],
        ['evil', 'x.txt', /symlink|sandbox|escape/i],
        ['/', 'evil/y.txt', /symlink|sandbox|escape/i],
      ];
      let id = 100;
      for (const [dest, file, why] of cases) {
        const reply = await sender.request(request(++id, dest, file), id);
        expect(reply.kind, `${dest} + ${file}`).toBe('transferRefuse');
        if (reply.kind === 'transferRefuse') expect(reply.reason).toMatch(why);
      }
    } finally {
      sender.close();
    }
    expect(await readdir(outside)).toEqual([]);
    expect(await exists(path.join(rx.sandbox, '..', 'escape.txt'))).toBe(false);
    expect(await exists(path.join(rx.sandbox, 'dest'))).toBe(false);
  });

  it('refuses a sender of transfer protocol 1 (no path timing) with a reason naming the upgrade', async () => {
    const sender = await connectRawSender(rx.daemon.recvPort, key());
    try {
      const v1 = { ...request(300, 'v1', 'old.txt'), transferProtocol: 1 };
      const reply = await sender.request(v1, 300);
      expect(reply.kind).toBe('transferRefuse');
      if (reply.kind === 'transferRefuse') {
        expect(reply.code).toBe('JETRECV_ERR_PROTOCOL');
        expect(reply.reason).toMatch(/transfer protocol 1.*needs 2.*upgrade/);
      }
    } finally {
      sender.close();
    }
    expect(await exists(path.join(rx.sandbox, 'v1'))).toBe(false);
  });

  it('a real sender whose destination goes through an escaping symlink is told why', async () => {
    await mkdir(path.join(rx.sandbox, 'ok'), { recursive: true });
    await symlink(outside, path.join(rx.sandbox, 'ok', 'link'));
    const file = path.join(src, 'payload.txt');
    await writeFile(file, 'hello');
    const res = await sendTo(rx, [file], ['--dest', 'ok/link']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/refused/i);
    expect(await readdir(outside)).toEqual([]);
  });
});
