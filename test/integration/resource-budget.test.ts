// resource-budget.test.ts — issue 12 finding 3: a tiny manifest must not make the
// receiver allocate memory or promise disk it does not have. A real `jetrecv serve`
// child (its peak RSS read from /proc) and an in-process receiver whose sandbox is on
// tmpfs (/dev/shm) are sent hand-made TransferRequests by a raw sender.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statfsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { parsePublicKey } from '../../src/keys/key-encoding.js';
import { connectRawSender } from './raw-sender.js';
import { spawnServe, startTestReceiver, tempDir, type ServeProcess, type TestReceiver } from './harness.js';

const request = (transferId: number, files: { path: string; size: number }[], blockSize = 1416) => ({
  kind: 'transferRequest' as const,
  transferId,
  destinationPath: `budget-${transferId}`,
  blockSize,
  files: files.map((f) => ({ ...f, mode: 0o644, mtimeMs: Date.now() })),
  emptyDirs: [],
  checkpointFrequencySeconds: 0,
  transferUid: new Uint8Array(0),
  senderName: 'test',
});

/** Peak resident set size of a process, in bytes (VmHWM of /proc/PID/status). */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}

describe('memory budget (real jetrecv serve)', () => {
  let serve: ServeProcess;
  let root: string;
  beforeAll(async () => {
    root = await tempDir('budget-serve');
    serve = await spawnServe(['--sandbox-dir', path.join(root, 'sandbox'), '--recv-host', '127.0.0.1', '--recv-port', '0', '--no-api']);
  });
  afterAll(async () => {
    await serve?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('refuses one 5 TiB file with 256-byte blocks before allocating its bitmap', async () => {
    const sender = await connectRawSender(serve.recvPort, parsePublicKey(serve.publicKey));
    try {
      const before = peakRss(serve.pid);
      const reply = await sender.request(request(1, [{ path: 'huge.bin', size: 5 * 2 ** 40 }], 256), 1, 20_000);
      expect(reply.kind).toBe('transferRefuse');
      if (reply.kind !== 'transferRefuse') return;
      expect(reply.code).toBe('JETRECV_ERR_RESOURCE');
      expect(reply.reason).toMatch(/block/);
      // The bitmap alone would be 2.5 GiB; the refusal must come before any of it.
      expect(peakRss(serve.pid) - before).toBeLessThan(64 << 20);
      // ... and the daemon still serves: a small transfer on the same session is accepted.
      const ok = await sender.request(request(2, [{ path: 'small.bin', size: 1 << 20 }]), 2);
      expect(ok.kind).toBe('transferAccept');
    } finally {
      sender.close();
    }
  });
});

describe('--max-transfer-memory and --max-receive-memory (real jetrecv serve)', () => {
  it('a transfer over the configured per-transfer or total limit is refused, one under it accepted', async () => {
    const root = await tempDir('budget-flags');
    // 1 MiB per transfer, 2 MiB for all; in 256-byte blocks 1 GiB of file is 512 KiB of bitmap.
    const serve = await spawnServe([
      '--sandbox-dir',
      path.join(root, 'sandbox'),
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      '0',
      '--no-api',
      '--max-transfer-memory',
      String(1 << 20),
      '--max-receive-memory',
      String(2 << 20),
    ]);
    const sender = await connectRawSender(serve.recvPort, parsePublicKey(serve.publicKey));
    try {
      const big = await sender.request(request(1, [{ path: 'x.bin', size: 4 * 2 ** 30 }], 256), 1); // 2 MiB of bitmap
      expect(big.kind).toBe('transferRefuse');
      if (big.kind === 'transferRefuse') expect(big.reason).toMatch(/more than the 1 MiB one transfer may use/);
      for (let id = 2; id <= 6; id++) {
        const r = await sender.request(request(id, [{ path: 'x.bin', size: 2 ** 30 }], 256), id); // 512 KiB each
        expect(r.kind, `transfer ${id}`).toBe(id <= 4 ? 'transferAccept' : 'transferRefuse');
        if (r.kind === 'transferRefuse') {
          expect(r.code).toBe('JETRECV_ERR_RESOURCE');
          expect(r.reason).toMatch(/live transfers already hold/);
        }
      }
    } finally {
      sender.close();
      await serve.stop();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('disk space check (tmpfs)', () => {
  let rx: TestReceiver;
  let shmRoot: string;
  beforeAll(async () => {
    shmRoot = await mkdtemp('/dev/shm/jetrecv-budget-');
    rx = await startTestReceiver({ sandboxDir: shmRoot });
  });
  afterAll(async () => {
    await rx?.close();
    await rm(shmRoot, { recursive: true, force: true });
  });
  const freeBytes = () => {
    const s = statfsSync(shmRoot);
    return s.bavail * s.bsize;
  };

  it('refuses 40 large files that each fit but not together', async () => {
    const sender = await connectRawSender(rx.daemon.recvPort, parsePublicKey(rx.daemon.publicKey));
    try {
      const each = Math.floor(freeBytes() / 20); // 40 of them need twice what is free
      const files = Array.from({ length: 40 }, (_, i) => ({ path: `f${i}.bin`, size: each }));
      const reply = await sender.request(request(10, files), 10);
      expect(reply.kind).toBe('transferRefuse');
      if (reply.kind === 'transferRefuse') {
        expect(reply.code).toBe('JETRECV_ERR_NO_SPACE');
        expect(reply.reason).toMatch(/space/);
      }
    } finally {
      sender.close();
    }
  });

  it('counts what live transfers already reserved', async () => {
    const sender = await connectRawSender(rx.daemon.recvPort, parsePublicKey(rx.daemon.publicKey));
    try {
      const size = Math.floor(freeBytes() * 0.6); // one fits, two do not
      const first = await sender.request(request(20, [{ path: 'a.bin', size }]), 20);
      expect(first.kind).toBe('transferAccept');
      const second = await sender.request(request(21, [{ path: 'b.bin', size }]), 21);
      expect(second.kind).toBe('transferRefuse');
      if (second.kind === 'transferRefuse') expect(second.code).toBe('JETRECV_ERR_NO_SPACE');
    } finally {
      sender.close();
    }
  });
});
