// harness.ts — shared helpers of the integration tests: a real receiver daemon (in this
// process, so counters are readable), the real `jetrecv` CLI as a child process, and
// file-tree utilities (random files, sha256 of every file).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, mkdir, open, readdir, rm, lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startDaemon, type Daemon, type DaemonConfig } from '../../src/daemon.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(repoRoot, 'bin', 'jetrecv.js');

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `jetrecv-${prefix}-`));
}

export interface TestReceiver {
  daemon: Daemon;
  sandbox: string;
  stateDir: string | undefined;
  root: string;
  close(): Promise<void>;
}

/**
 * The fixture most transfer tests share: one receiver (startTestReceiver) and one temporary
 * source directory for the whole file, started in beforeAll and removed in afterAll; `set`
 * receives both once they exist.
 */
export function useReceiverAndSourceDir(srcPrefix: string, set: (rx: TestReceiver, src: string) => void): void {
  let rx: TestReceiver | undefined;
  let src: string | undefined;
  beforeAll(async () => {
    rx = await startTestReceiver();
    src = await tempDir(srcPrefix);
    set(rx, src);
  });
  afterAll(async () => {
    await rx?.close();
    if (src !== undefined) await rm(src, { recursive: true, force: true });
  });
}

/** Starts a real receiver on 127.0.0.1 with an ephemeral data port and no API. */
export async function startTestReceiver(overrides: Partial<DaemonConfig> = {}, opts: { persistent?: boolean } = {}): Promise<TestReceiver> {
  const root = await tempDir('recv');
  const sandbox = path.join(root, 'sandbox');
  await mkdir(sandbox);
  const stateDir = opts.persistent ? path.join(root, 'state') : undefined;
  const logger = pino({ level: process.env.JETRECV_TEST_LOG ?? 'silent' });
  const daemon = await startDaemon(
    {
      sandboxDir: sandbox,
      persistentStateDir: stateDir,
      recvHost: '127.0.0.1',
      recvPort: 0,
      apiHost: '127.0.0.1',
      apiPort: 0,
      apiAllowRemoteControl: false,
      apiEnabled: false,
      superusers: [],
      rxThreads: 1,
      socketBufferBytes: 32 << 20,
      minCipher: 'chacha20-poly1305',
      serverName: 'test',
      sessionTimeoutMs: 30_000,
      ...overrides,
    },
    logger,
  );
  return {
    daemon,
    sandbox,
    stateDir,
    root,
    async close() {
      await daemon.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `jetrecv ARGS...` (the built CLI) and collects its output. */
export function runCli(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; /** runs `WRAPPER... node cli` */ wrapper?: string[] } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = [...(opts.wrapper ?? []), process.execPath];
    const child = spawn(command as string, [...prefix, cliPath, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `jetrecv send` to a test receiver. */
export function sendTo(rx: TestReceiver, paths: string[], extra: string[] = []): Promise<CliResult> {
  return runCli([
    'send',
    '--to',
    `127.0.0.1:${rx.daemon.recvPort}`,
    '--server-key',
    rx.daemon.publicKey,
    '--handshake-timeout',
    '5s',
    ...extra,
    ...paths,
  ]);
}

/** Writes `size` random bytes to `file` in 4 MiB chunks. */
export async function writeRandomFile(file: string, size: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const chunk = 4 << 20;
    for (let off = 0; off < size; off += chunk) {
      await fh.write(randomBytes(Math.min(chunk, size - off)));
    }
  } finally {
    await fh.close();
  }
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export interface TreeListing {
  files: Map<string, string>; // relative path -> sha256
  dirs: Set<string>; // every directory, relative
  other: string[]; // anything that is neither (symlinks, partial files are listed here too if hidden)
}

/** sha256 of every regular file beneath `dir`, plus the set of directories. */
export async function listTree(dir: string): Promise<TreeListing> {
  const out: TreeListing = { files: new Map(), dirs: new Set(), other: [] };
  async function walk(rel: string): Promise<void> {
    for (const ent of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) {
        out.dirs.add(r);
        await walk(r);
      } else if (ent.isFile()) {
        out.files.set(r, await sha256File(path.join(dir, r)));
      } else {
        out.other.push(r);
      }
    }
  }
  await walk('');
  return out;
}

/** Fails with a readable diff when two trees differ in files, contents or directories. */
export function diffTrees(expected: TreeListing, actual: TreeListing): string[] {
  const problems: string[] = [];
  for (const [p, h] of expected.files) {
    const got = actual.files.get(p);
    if (got === undefined) problems.push(`missing file ${p}`);
    else if (got !== h) problems.push(`content differs: ${p}`);
  }
  for (const p of actual.files.keys()) if (!expected.files.has(p)) problems.push(`unexpected file ${p}`);
  for (const d of expected.dirs) if (!actual.dirs.has(d)) problems.push(`missing directory ${d}`);
  for (const d of actual.dirs) if (!expected.dirs.has(d)) problems.push(`unexpected directory ${d}`);
  for (const o of actual.other) problems.push(`unexpected non-file ${o}`);
  return problems;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

export interface ServeProcess {
  pid: number;
  recvPort: number;
  apiPort: number | null;
  publicKey: string;
  /** Every line the daemon printed on stdout (JSON log lines). */
  logs: string[];
  stderr: () => string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Starts `jetrecv serve ARGS` as a child process and resolves once it logs
 * 'jetrecv receiver ready' (its ports are bound), or rejects with its output if it exits.
 */
export function spawnServe(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'serve', ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    let stderr = '';
    let buf = '';
    let ready = false;
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jetrecv serve did not become ready; stderr: ${stderr}\nlogs: ${logs.join('\n')}`));
    }, opts.timeoutMs ?? 20_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        if (ready) continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; recvPort?: number; apiPort?: number | null; publicKey?: string };
          if (rec.msg === 'jetrecv receiver ready') {
            ready = true;
            clearTimeout(timer);
            resolve({
              pid: child.pid!,
              recvPort: rec.recvPort!,
              apiPort: rec.apiPort ?? null,
              publicKey: rec.publicKey!,
              logs,
              stderr: () => stderr,
              exited,
              stop(signal = 'SIGTERM') {
                child.kill(signal);
                return exited;
              },
            });
          }
        } catch {
          // not JSON: keep it in logs
        }
      }
    });
    void exited.then((code) => {
      if (!ready) {
        clearTimeout(timer);
        reject(Object.assign(new Error(`jetrecv serve exited with ${code} before it was ready: ${stderr}`), { code, stderr, logs }));
      }
    });
  });
}
