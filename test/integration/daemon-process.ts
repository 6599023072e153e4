// daemon-process.ts — helpers of the resume and shutdown tests: `jetrecv serve` and
// `jetrecv send` as real child processes (so they can be killed with SIGKILL or stopped
// with SIGTERM), and a reader of the receiver's checkpoint files.
import type { SendResult } from '../../src/send/sender.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { cliPath } from './harness.js';
import { decodeStoredTransfer, type StoredTransfer } from '../../src/recv/transfer-store.js';

export interface ServeProcess {
  child: ChildProcess;
  publicKey: string;
  port: number;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
}

/** Starts `jetrecv serve` (no API) and waits for its 'jetrecv receiver ready' line. */
export async function startServe(opts: { sandbox: string; stateDir: string; port: number; extra?: string[] }): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      cliPath,
      'serve',
      '--sandbox-dir',
      opts.sandbox,
      '--persistent-state-dir',
      opts.stateDir,
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      String(opts.port),
      '--no-api',
      '--log-level',
      'info',
      ...(opts.extra ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
  );
  const lines: string[] = [];
  let stderr = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = new Promise<{ publicKey: string; port: number }>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; publicKey?: string; recvPort?: number };
          if (j.msg === 'jetrecv receiver ready' && j.publicKey && j.recvPort) resolve({ publicKey: j.publicKey, port: j.recvPort });
        } catch {
          /* not JSON */
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    void exited.then((code) => reject(new Error(`jetrecv serve exited (${code}) before it was ready: ${stderr}`)));
  });
  const { publicKey, port } = await ready;
  return { child, publicKey, port, lines, exited };
}

export interface SendProcess {
  child: ChildProcess;
  /** Resolves when the process ends. */
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

/** Starts `jetrecv send ... --json` without waiting for it. */
export function startSend(args: string[]): SendProcess {
  const child = spawn(process.execPath, [cliPath, 'send', '--json', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => {
      // Let the pipes drain.
      setTimeout(() => resolve({ code, signal, stdout, stderr }), 50);
    }),
  );
  return { child, done };
}

/** The summary `jetrecv send --json` prints: the sender's result without its timing extras. */
export type SendSummary = Pick<
  SendResult,
  | 'bytes'
  | 'files'
  | 'blocksSent'
  | 'blocksRetransmitted'
  | 'bytesSent'
  | 'totalBlocks'
  | 'blocksResumed'
  | 'blocksResumedAtStart'
  | 'reconnects'
  | 'resumedEarlierRun'
>;

export function parseSummary(stdout: string): SendSummary {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as SendSummary;
}

/** Every valid transfer record in `<stateDir>/transfers` (unreadable ones are skipped). */
export async function readRecords(stateDir: string): Promise<StoredTransfer[]> {
  const dir = path.join(stateDir, 'transfers');
  const out: StoredTransfer[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    try {
      out.push(decodeStoredTransfer(await readFile(path.join(dir, n), 'utf8')));
    } catch {
      /* being replaced, or corrupt */
    }
  }
  return out;
}

/** Polls until `pred` returns a value (not undefined); fails after `timeoutMs`. */
export async function waitFor<T>(what: string, pred: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A free UDP port on 127.0.0.1 (bound and released). */
export async function freeUdpPort(): Promise<number> {
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}
