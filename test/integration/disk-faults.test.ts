// disk-faults.test.ts — faults of the receiving host's file systems, with a real receiver
// (in this process, so getTransfers() is at hand) and real `jetrecv send` processes:
// - the sandbox file system is full (an 8 MiB tmpfs mounted beneath the sandbox): the
//   transfer that does not fit fails, the sender is told (non-zero exit, the OS error in
//   its message), nothing of it is left on that file system (its space is back), and a
//   transfer to another file system, running at the same time, completes intact;
// - the destination directory is removed mid-transfer;
// - the destination directory becomes read-only mid-transfer (a read-only bind mount).
// The last two fail that transfer with status 'error' and an errorMessage naming the file
// and the OS error; the sender is told; other transfers carry on.
// Needs root (mount); without it the tests are skipped with the reason printed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exists, sendTo, sha256File, startTestReceiver, tempDir, writeRandomFile, type TestReceiver } from './harness.js';

/** Whether this process may mount file systems; the reason when it may not. */
function probeMount(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetrecv-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const noMount = probeMount();
if (noMount) console.log(`disk-faults tests skipped: ${noMount}`);

/** Regular files and partials anywhere beneath dir. */
async function filesBeneath(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!ent.isDirectory()) out.push(path.join(ent.parentPath ?? (ent as unknown as { path: string }).path, ent.name));
  }
  return out;
}

async function until<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(noMount !== null)('host faults: full, vanished and read-only destinations', () => {
  let rx: TestReceiver;
  let src: string;
  const mounts: string[] = [];

  beforeAll(async () => {
    rx = await startTestReceiver();
    src = await tempDir('disk-src');
  });
  afterEach(() => {
    for (const m of mounts.splice(0).reverse()) {
      try {
        execFileSync('umount', [m], { stdio: 'pipe' });
      } catch {
        // already gone
      }
    }
  });
  afterAll(async () => {
    await rx?.close();
    await rm(src, { recursive: true, force: true });
  });

  const transferTo = (dest: string) => rx.daemon.receiver.getTransfers().find((t) => t.destinationPath === `/${dest}`);

  it('a full file system fails that transfer, frees its space, and a transfer to another file system completes', async () => {
    const small = path.join(rx.sandbox, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    mounts.push(small);
    const tooBig = path.join(src, 'too-big.bin');
    const fits = path.join(src, 'fits.bin');
    const other = path.join(src, 'other.bin');
    await writeRandomFile(tooBig, 16 << 20);
    await writeRandomFile(fits, 6 << 20);
    await writeRandomFile(other, 24 << 20);

    // The other transfer (to the sandbox's own file system) runs during the failure.
    const otherDone = sendTo(rx, [other], ['--dest', 'elsewhere', '--rate-max', '100M']);
    await until('the other transfer to start', () => transferTo('elsewhere'));
    const full = await sendTo(rx, [tooBig], ['--dest', 'small']);
    expect(full.code).not.toBe(0);
    expect(full.stderr).toMatch(/No space left on device/);
    expect(full.stderr).toMatch(/too-big\.bin/);
    // The receiver keeps a record of the failed transfer, with the reason.
    const failed = transferTo('small');
    expect(failed?.status).toBe('error');
    expect(failed?.errorMessage).toMatch(/No space left on device/);
    // Space is reserved when the transfer opens (fallocate), so a disk that cannot hold it
    // fails it before any data is sent, and the partial files it made are removed.
    expect(await filesBeneath(small)).toEqual([]);
    const fs = statfsSync(small);
    expect(fs.bavail * fs.bsize).toBeGreaterThan(7.5 * 2 ** 20);

    // The space is back: a transfer that fits goes through on the same file system.
    const ok = await sendTo(rx, [fits], ['--dest', 'small']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await sha256File(path.join(small, 'fits.bin'))).toBe(await sha256File(fits));

    const otherRes = await otherDone;
    expect(otherRes.code, otherRes.stderr).toBe(0);
    expect(await sha256File(path.join(rx.sandbox, 'elsewhere', 'other.bin'))).toBe(await sha256File(other));
  });

  it('a destination directory removed mid-transfer fails that transfer with a clear error; others complete', async () => {
    const doomed = path.join(src, 'vanishing.bin');
    const steady = path.join(src, 'steady.bin');
    await writeRandomFile(doomed, 16 << 20);
    await writeRandomFile(steady, 8 << 20);
    const sending = sendTo(rx, [doomed], ['--dest', 'vanish/sub', '--rate-max', '24M', '--rate-start', '24M']);
    await until('data of the doomed transfer', () => (transferTo('vanish/sub')?.bytesReceived ?? 0) > 0);
    await rm(path.join(rx.sandbox, 'vanish'), { recursive: true, force: true });
    const steadyRes = await sendTo(rx, [steady], ['--dest', 'steady']);

    const res = await sending;
    expect(res.code).not.toBe(0);
    // Named: the directory that vanished (or the file), and the OS error.
    expect(res.stderr).toMatch(/(vanish\/sub|vanishing\.bin).*No such file or directory/);
    const record = await until('the transfer to be marked error', () => {
      const t = transferTo('vanish/sub');
      return t?.status === 'error' ? t : undefined;
    });
    expect(record.errorMessage).toMatch(/(vanish\/sub|vanishing\.bin).*No such file or directory/);
    // Nothing was recreated in its place.
    expect(await exists(path.join(rx.sandbox, 'vanish'))).toBe(false);

    expect(steadyRes.code, steadyRes.stderr).toBe(0);
    expect(await sha256File(path.join(rx.sandbox, 'steady', 'steady.bin'))).toBe(await sha256File(steady));
  });

  it('a destination made read-only mid-transfer fails that transfer with a clear error; others complete', async () => {
    const dest = path.join(rx.sandbox, 'ro-dest');
    await mkdir(dest);
    const doomed = path.join(src, 'readonly.bin');
    const steady = path.join(src, 'steady2.bin');
    await writeRandomFile(doomed, 16 << 20);
    await writeRandomFile(steady, 8 << 20);
    const sending = sendTo(rx, [doomed], ['--dest', 'ro-dest', '--rate-max', '24M', '--rate-start', '24M']);
    await until('data of the doomed transfer', () => (transferTo('ro-dest')?.bytesReceived ?? 0) > 0);
    // Root ignores permission bits, so make it read-only for real: a read-only bind mount.
    execFileSync('mount', ['--bind', dest, dest]);
    mounts.push(dest);
    execFileSync('mount', ['-o', 'remount,bind,ro', dest]);
    const steadyRes = await sendTo(rx, [steady], ['--dest', 'steady2']);

    const res = await sending;
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/readonly\.bin/);
    expect(res.stderr).toMatch(/Read-only file system/);
    const record = await until('the transfer to be marked error', () => {
      const t = transferTo('ro-dest');
      return t?.status === 'error' ? t : undefined;
    });
    expect(record.errorMessage).toMatch(/readonly\.bin.*Read-only file system/);
    expect(await exists(path.join(dest, 'readonly.bin'))).toBe(false);

    expect(steadyRes.code, steadyRes.stderr).toBe(0);
    expect(await sha256File(path.join(rx.sandbox, 'steady2', 'steady2.bin'))).toBe(await sha256File(steady));
  });
});
