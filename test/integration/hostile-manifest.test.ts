// Hostile manifests against a real `jetrecv serve` process (issue 12, findings 1 and 10):
// whatever one sender's TransferRequest holds, the daemon keeps running and the sender
// gets a refusal whose reason is bounded; refusals produced after the native open (an
// asynchronous path) reach `jetrecv send`, which prints them and exits non-zero.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parsePublicKey } from '../../src/keys/key-encoding.js';
import { MAX_TEXT_BYTES, type ControlMessageInput } from '../../src/proto/control.js';
import { kMaxRefusalReasonBytes } from '../../src/recv/refusal.js';
import { connectRawSender } from './raw-sender.js';
import { runCli, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

let root: string;
let sandbox: string;
let serve: ServeProcess;
let exitCode: number | null | undefined;

beforeAll(async () => {
  root = await tempDir('hostile');
  sandbox = path.join(root, 'sandbox');
  await mkdir(sandbox);
  serve = await spawnServe(['--sandbox-dir', sandbox, '--recv-host', '127.0.0.1', '--recv-port', '0', '--no-api']);
  void serve.exited.then((c) => (exitCode = c));
});
afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

/** 16 components of 255 bytes: a 4,095-byte path, the longest the protocol allows. */
const longPath = Array.from({ length: 16 }, (_, i) => String.fromCharCode(97 + i).repeat(255)).join('/');
const file = (p: string) => ({ path: p, size: 10, mode: 0o644, mtimeMs: 0 });

function request(
  transferId: number,
  files: { path: string; size: number; mode: number; mtimeMs: number }[],
  emptyDirs: string[] = [],
  destinationPath = '/',
): ControlMessageInput {
  return {
    kind: 'transferRequest',
    transferId,
    destinationPath,
    blockSize: 1024,
    files,
    emptyDirs,
    checkpointFrequencySeconds: 0,
    transferUid: new Uint8Array(0),
    senderName: 'hostile',
  };
}

describe('a hostile manifest never takes the daemon down', () => {
  const cases: [string, ControlMessageInput][] = [
    ['the same 4,095-byte path twice', request(1, [file(longPath), file(longPath)])],
    ['a file plus a file beneath it', request(2, [file(longPath.slice(0, 3839)), file(longPath)])],
    ['a file plus an empty directory of the same path', request(3, [file(longPath)], [longPath])],
  ];
  for (const [name, msg] of cases) {
    it(`${name}: bounded refusal, daemon alive`, async () => {
      const raw = await connectRawSender(serve.recvPort, parsePublicKey(serve.publicKey));
      try {
        const transferId = (msg as { transferId: number }).transferId;
        const reply = await raw.request(msg, transferId);
        expect(reply.kind).toBe('transferRefuse');
        if (reply.kind !== 'transferRefuse') return;
        expect(Buffer.byteLength(reply.reason)).toBeLessThanOrEqual(kMaxRefusalReasonBytes);
        expect(kMaxRefusalReasonBytes).toBeLessThan(MAX_TEXT_BYTES);
        expect(reply.reason).toMatch(/twice|directory|file/);
        // Same session still serves: a good request is accepted.
        const ok = await raw.request(request(transferId + 100, [], [], `/ok-${transferId}`), transferId + 100);
        expect(ok.kind).toBe('transferAccept');
      } finally {
        raw.close();
      }
      expect(exitCode).toBeUndefined();
    }, 30_000);
  }
});

describe('refusals after the native open reach jetrecv send', () => {
  it('a long asynchronous refusal is printed by jetrecv send, which exits non-zero', async () => {
    // A regular file where the destination needs a directory: the native open refuses,
    // quoting the (long) path of the file it could not create.
    await writeFile(path.join(sandbox, 'blocker'), 'x');
    const src = path.join(root, 'src');
    await mkdir(src, { recursive: true });
    const name = 'f';
    await writeRandomFile(path.join(src, name), 1000);
    // 4,094 bytes: with '/f' the joined path is 4,096, the longest allowed.
    const dest = ['blocker', ...Array.from({ length: 20 }, () => 'd'.repeat(200)), 'e'.repeat(66)].join('/');
    expect(Buffer.byteLength(dest)).toBe(4094);
    const res = await runCli(
      [
        'send',
        '--to',
        `127.0.0.1:${serve.recvPort}`,
        '--server-key',
        serve.publicKey,
        '--handshake-timeout',
        '5s',
        '--dest',
        dest,
        path.join(src, name),
      ],
      { timeoutMs: 40_000 },
    );
    expect(res.code).not.toBe(0);
    expect(res.code).not.toBeNull();
    expect(res.stderr).toMatch(/refused/i);
    expect(res.stderr).toMatch(/blocker/);
    expect(exitCode).toBeUndefined();
  }, 60_000);
});
