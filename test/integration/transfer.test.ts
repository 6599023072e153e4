// End-to-end transfers over loopback: the real `jetrecv send` CLI into a real receiver
// (real addon, UDP sockets, files); every file is compared by sha256.
import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile, rm, stat, statfs, utimes, chmod } from 'node:fs/promises';
import path from 'node:path';
import { diffTrees, listTree, runCli, sendTo, sha256File, writeRandomFile, useReceiverAndSourceDir, type TestReceiver } from './harness.js';
import { sampleValue, scrapeMetrics, spawnJetrecv } from './serve-process.js';

let rx: TestReceiver;
let src: string;

useReceiverAndSourceDir('src', (r, s) => {
  rx = r;
  src = s;
});

describe('transfers over loopback', () => {
  it('moves one 256 MiB file intact', async () => {
    const file = path.join(src, 'big.bin');
    await writeRandomFile(file, 256 << 20);
    const res = await sendTo(rx, [file], ['--dest', '/big', '--datagram-size', '8972']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/sent 268435456 bytes .* Gbit\/s, \d+ blocks retransmitted/);
    expect(await sha256File(path.join(rx.sandbox, 'big', 'big.bin'))).toBe(await sha256File(file));
  });

  it('moves a tree of 2,000 small files with nested and empty directories', async () => {
    const tree = path.join(src, 'tree');
    for (let i = 0; i < 2000; i++) {
      const dir = path.join(tree, `d${i % 10}`, `e${i % 7}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `f${i}.txt`), `file ${i} `.repeat(1 + (i % 50)));
    }
    await mkdir(path.join(tree, 'empty', 'deeper', 'still-empty'), { recursive: true });
    await mkdir(path.join(tree, 'lonely'), { recursive: true });
    const res = await sendTo(rx, [tree], ['--dest', 'trees']);
    expect(res.code, res.stderr).toBe(0);
    const expected = await listTree(src);
    const got = await listTree(path.join(rx.sandbox, 'trees'));
    // only the tree was sent to this destination
    const onlyTree = {
      files: new Map([...expected.files].filter(([p]) => p.startsWith('tree/'))),
      dirs: new Set([...expected.dirs].filter((d) => d.startsWith('tree'))),
      other: [],
    };
    expect(diffTrees(onlyTree, got)).toEqual([]);
    expect(got.files.size).toBe(2000);
  });

  it('moves an empty file and keeps mode and mtime', async () => {
    const file = path.join(src, 'empty.dat');
    await writeFile(file, '');
    await chmod(file, 0o640);
    const when = new Date('2021-03-04T05:06:07Z');
    await utimes(file, when, when);
    const res = await sendTo(rx, [file], ['--dest', 'empties']);
    expect(res.code, res.stderr).toBe(0);
    const st = await stat(path.join(rx.sandbox, 'empties', 'empty.dat'));
    expect(st.size).toBe(0);
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.mtimeMs).toBe(when.getTime());
  });

  it('moves files whose size is an exact multiple of the block size, and one byte off', async () => {
    const block = 1472 - 56;
    const dir = path.join(src, 'multiples');
    await mkdir(dir);
    await writeRandomFile(path.join(dir, 'exact.bin'), block * 1000);
    await writeRandomFile(path.join(dir, 'plus1.bin'), block * 1000 + 1);
    await writeRandomFile(path.join(dir, 'minus1.bin'), block * 1000 - 1);
    await writeRandomFile(path.join(dir, 'one-block.bin'), block);
    const res = await sendTo(rx, [dir], ['--dest', 'm', '--datagram-size', '1472']);
    expect(res.code, res.stderr).toBe(0);
    for (const name of ['exact.bin', 'plus1.bin', 'minus1.bin', 'one-block.bin']) {
      const got = path.join(rx.sandbox, 'm', 'multiples', name);
      expect((await stat(got)).size).toBe((await stat(path.join(dir, name))).size);
      expect(await sha256File(got)).toBe(await sha256File(path.join(dir, name)));
    }
  });

  it('serves two senders at once into different destination paths', async () => {
    const a = path.join(src, 'a.bin');
    const b = path.join(src, 'b.bin');
    await writeRandomFile(a, 24 << 20);
    await writeRandomFile(b, 24 << 20);
    const [ra, rb] = await Promise.all([sendTo(rx, [a], ['--dest', 'one']), sendTo(rx, [b], ['--dest', 'two'])]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    expect(await sha256File(path.join(rx.sandbox, 'one', 'a.bin'))).toBe(await sha256File(a));
    expect(await sha256File(path.join(rx.sandbox, 'two', 'b.bin'))).toBe(await sha256File(b));
    const transfers = rx.daemon.receiver.getTransfers();
    const byDest = new Map(transfers.map((t) => [t.destinationPath, t]));
    expect(byDest.get('/one')?.status).toBe('complete');
    expect(byDest.get('/two')?.status).toBe('complete');
  });
});

/** statfs f_type of tmpfs: O_DIRECT is never used there. */
const TMPFS_MAGIC = 0x01021994;

describe('direct I/O into a disk file system', () => {
  // A real `jetrecv serve` per mode, its sandbox under /var/tmp (ext4 here, unlike /dev/shm);
  // auto runs with 3 writer threads (other tests with files >= 8 MiB on /tmp use the default 2).
  for (const mode of ['auto', 'off'] as const) {
    it(`--direct-io ${mode}: a 24 MiB file arrives intact; /metrics shows ${mode === 'auto' ? 'direct bytes' : 'no direct bytes'}`, async (ctx) => {
      if ((await statfs('/var/tmp')).type === TMPFS_MAGIC) {
        console.log('skipped: /var/tmp is tmpfs, where jetrecv never uses O_DIRECT');
        ctx.skip();
      }
      const root = await mkdtemp('/var/tmp/jetrecv-direct-');
      const serve = spawnJetrecv([
        'serve',
        '--sandbox-dir',
        path.join(root, 'sandbox'),
        '--recv-host',
        '127.0.0.1',
        '--recv-port',
        '0',
        '--api-port',
        '0',
        '--direct-io',
        mode,
        ...(mode === 'auto' ? ['--direct-io-threads', '3'] : []),
      ]);
      try {
        const info = await serve.ready();
        const file = path.join(root, 'big.bin');
        const size = 24 << 20;
        await writeRandomFile(file, size);
        const res = await runCli([
          'send',
          '--to',
          `127.0.0.1:${info.recvPort}`,
          '--server-key',
          info.publicKey,
          '--quiet',
          // Jumbo datagrams: blocks large enough to be decrypted straight into staging.
          '--datagram-size',
          '8972',
          '--dest',
          'd',
          file,
        ]);
        expect(res.code, res.stderr).toBe(0);
        expect(await sha256File(path.join(root, 'sandbox', 'd', 'big.bin'))).toBe(await sha256File(file));
        const { families } = await scrapeMetrics(info.apiPort as number);
        const direct = sampleValue(families, 'jetrecv_bytes_written_direct_total');
        expect(sampleValue(families, 'jetrecv_bytes_written_total')).toBe(size);
        expect(sampleValue(families, 'jetrecv_write_errors_total')).toBe(0);
        const decryptedToStaging = sampleValue(families, 'jetrecv_blocks_decrypted_to_staging_total');
        if (mode === 'auto') {
          // Whole 1 MiB chunks only, never the last one (it holds EOF).
          expect(direct).toBeGreaterThan(0);
          expect(direct % (1 << 20)).toBe(0);
          expect(direct).toBeLessThan(size);
          // Most blocks skip the staging copy: decrypted straight into their chunk.
          expect(decryptedToStaging).toBeGreaterThan(0);
        } else {
          expect(direct).toBe(0);
          expect(decryptedToStaging).toBe(0);
        }
      } finally {
        await serve.stop();
        await rm(root, { recursive: true, force: true });
      }
    });
  }
});
