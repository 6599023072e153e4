// many-files.test.ts — a transfer of more files than the process may have open
// file descriptors: both `jetrecv serve` and `jetrecv send` run as child processes
// under `prlimit --nofile=256:256`, and a tree of 3,000 small files must arrive
// intact. Before the bounded fd cache (fd_cache.h) each side kept one fd per
// file for the whole transfer and failed with EMFILE ("Too many open files").
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, diffTrees, listTree, tempDir, type CliResult } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';
import { missingTools } from '../tools/host-tools.js';

const FD_LIMIT = 256;
const FILES = 3000;
const limited = ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`];
const noPrlimit = missingTools(['prlimit']);
if (noPrlimit !== null) console.log(`many-files tests skipped: prlimit(1) sets the fd limit; it ${noPrlimit}`);

/** `prlimit --nofile=N:N node jetrecv.js ARGS...` and its output. */
function runLimited(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = limited;
    const child = spawn(cmd as string, [...pre, process.execPath, cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(noPrlimit !== null)(`${FILES} files with RLIMIT_NOFILE ${FD_LIMIT} on both sides`, () => {
  let root: string;
  let src: string;
  let sandbox: string;
  let serve: ServeProcess;

  beforeAll(async () => {
    root = await tempDir('manyfiles');
    src = path.join(root, 'src', 'tree');
    sandbox = path.join(root, 'sandbox');
    await mkdir(sandbox, { recursive: true });
    // 30 directories of 100 files, 0..4 KiB of random bytes (some empty, some
    // of several blocks), plus an empty directory.
    for (let d = 0; d < 30; d++) await mkdir(path.join(src, `d${d}`), { recursive: true });
    await mkdir(path.join(src, 'empty-dir'), { recursive: true });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < FILES; i++) {
      const size = i % 97 === 0 ? 0 : (i * 7919) % 4096;
      writes.push(writeFile(path.join(src, `d${i % 30}`, `f${i}.bin`), randomBytes(size)));
      if (writes.length >= 200) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    serve = spawnJetrecv(['serve', '--sandbox-dir', sandbox, '--recv-port', '0', '--no-api'], { wrapper: limited });
  });

  afterAll(async () => {
    await serve?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('receives every file intact (sha256 of each)', async () => {
    const info = await serve.ready();
    // Default 1472-byte datagrams: files of up to 3 blocks.
    const res = await runLimited([
      'send',
      '--to',
      `127.0.0.1:${info.recvPort}`,
      '--server-key',
      info.publicKey,
      '--handshake-timeout',
      '5s',
      '--dest',
      'many',
      src,
    ]);
    expect(res.code, `send failed: ${res.stderr}\nreceiver: ${serve.stderr()}`).toBe(0);
    expect(serve.exitStatus(), `receiver died: ${serve.stderr()}`).toBeNull();
    const expected = await listTree(path.dirname(src));
    const got = await listTree(path.join(sandbox, 'many'));
    expect(diffTrees(expected, got)).toEqual([]);
    expect(got.files.size).toBe(FILES);
  }, 60_000);
});
