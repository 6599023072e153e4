// command-hook.ts — runs the configured hook command for one transfer event: argv as given
// (no shell), the event JSON on stdin and as JETRECV_* environment variables, working
// directory the sandbox root, as the daemon's own user (no privilege change). Past the
// timeout, or when the daemon stops (`signal`), its whole process group is killed. Exit status, duration and the first bytes of
// its output are logged; the command line itself is not (it may carry credentials).
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Logger } from 'pino';
import type { TransferEvent } from '../recv/transfer-events.js';

/** Bytes of stdout and of stderr kept for the log. */
export const kHookOutputBytes = 4096;

/** Environment variables of the daemon a hook inherits; everything else is left out. */
const kInheritedEnv = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** JETRECV_TRANSFER_ID for transferId: the structure's names in upper snake case. */
function envName(key: string): string {
  return `JETRECV_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * The JETRECV_* variables of an event: JETRECV_EVENT and JETRECV_EVENT_TIME, one per field of
 * the Receive Transfer Structure (JETRECV_TRANSFER_ID, JETRECV_STATUS, ...; null is ''),
 * JETRECV_SANDBOX_DIR, and for fileComplete JETRECV_FILE_INDEX, JETRECV_FILE_PATH (beneath the
 * sandbox), JETRECV_FILE_FULL_PATH and JETRECV_FILE_SIZE; for transferStarted JETRECV_RESUMED.
 */
export function eventEnvironment(event: TransferEvent, sandboxRoot: string): Record<string, string> {
  const env: Record<string, string> = { JETRECV_EVENT: event.type, JETRECV_EVENT_TIME: String(event.time), JETRECV_SANDBOX_DIR: sandboxRoot };
  for (const [key, value] of Object.entries(event.transfer)) env[envName(key)] = value === null ? '' : String(value);
  if (event.file) {
    env['JETRECV_FILE_INDEX'] = String(event.file.index);
    env['JETRECV_FILE_PATH'] = event.file.path ?? '';
    env['JETRECV_FILE_FULL_PATH'] = event.file.path === null ? '' : path.join(sandboxRoot, event.file.path);
    env['JETRECV_FILE_SIZE'] = event.file.size === null ? '' : String(event.file.size);
  }
  if (event.resumed !== undefined) env['JETRECV_RESUMED'] = event.resumed ? '1' : '0';
  return env;
}

/** Keeps the first kHookOutputBytes of a stream. */
class OutputTail {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  add(chunk: Buffer): void {
    if (this.size >= kHookOutputBytes) {
      this.truncated = true;
      return;
    }
    const part = chunk.subarray(0, kHookOutputBytes - this.size);
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '…[truncated]' : '');
  }
}

export interface CommandHookOptions {
  argv: readonly string[];
  timeoutMs: number;
  sandboxRoot: string;
  log: Logger;
  /** The daemon stops: the hook is killed like a timed-out one. */
  signal: AbortSignal;
}

/** Runs the hook for `event`; resolves true when it exited with status 0 in time. Never rejects. */
export function runCommandHook(event: TransferEvent, o: CommandHookOptions): Promise<boolean> {
  const started = performance.now();
  const program = o.argv[0] as string;
  const env: Record<string, string> = {};
  for (const name of kInheritedEnv) if (process.env[name] !== undefined) env[name] = process.env[name] as string;
  Object.assign(env, eventEnvironment(event, o.sandboxRoot));
  const context = { hook: 'command', program, event: event.type, transferId: event.transfer.transferId };
  return new Promise<boolean>((resolve) => {
    let child;
    try {
      child = spawn(program, o.argv.slice(1), { shell: false, detached: true, cwd: o.sandboxRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      o.log.warn({ ...context, err: (err as Error).message }, 'hook command could not start');
      resolve(false);
      return;
    }
    const stdout = new OutputTail();
    const stderr = new OutputTail();
    child.stdout.on('data', (c: Buffer) => stdout.add(c));
    child.stderr.on('data', (c: Buffer) => stderr.add(c));
    child.stdin.on('error', () => {}); // a hook that does not read its stdin is fine
    child.stdin.end(`${JSON.stringify(event)}\n`);
    let timedOut = false;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, o.timeoutMs);
    timer.unref();
    const onStop = (): void => killGroup();
    o.signal.addEventListener('abort', onStop, { once: true });
    if (o.signal.aborted) killGroup();
    let done = false;
    const finish = (ok: boolean, fields: Record<string, unknown>, message: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onStop);
      const ms = Math.round(performance.now() - started);
      const line = { ...context, ...fields, ms, stdout: stdout.text(), stderr: stderr.text() };
      if (ok) o.log.info(line, message);
      else o.log.warn(line, message);
      resolve(ok);
    };
    child.on('error', (err) => finish(false, { err: err.message }, 'hook command could not start'));
    // 'exit', not 'close': a process the hook left running in the background may hold the pipes.
    child.on('exit', (code, signal) => {
      // Let the pipes deliver what is buffered, then stop reading.
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        if (o.signal.aborted && !timedOut) finish(false, { signal }, 'hook command killed: the daemon stops');
        else if (timedOut) finish(false, { timeoutMs: o.timeoutMs, signal }, 'hook command timed out and was killed');
        else finish(code === 0, { exitCode: code, signal }, code === 0 ? 'hook command done' : 'hook command failed');
      });
    });
  });
}
