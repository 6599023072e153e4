// command-hook.ts — runs the configured hook command for one transfer event: argv as given
// (no shell), the event JSON on stdin and as JETRECV_* environment variables, working
// directory the sandbox root, as the daemon's own user (no privilege change). The process is
// started by the hook runner child (hook-runner.ts), never forked from the daemon itself.
// Past the timeout, or when the daemon stops (`signal`), its whole process group is killed.
// Exit status, duration and the first bytes of its output are logged; the command line
// itself is not (it may carry credentials).
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Logger } from 'pino';
import { packageRoot } from '../addon/package-root.js';
import type { TransferEvent } from '../recv/transfer-events.js';
import type { RunnerJob, RunnerKill, RunnerResult } from './hook-runner.js';

/** Environment variables of the daemon a hook inherits; everything else is left out. */
const kInheritedEnv = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** The built runner (the daemon runs from dist/; so do the tests that start hooks). */
const kRunnerPath = path.join(packageRoot, 'dist', 'hooks', 'hook-runner.js');

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
  const env: Record<string, string> = {
    JETRECV_EVENT: event.type,
    JETRECV_EVENT_TIME: String(event.time),
    JETRECV_SANDBOX_DIR: sandboxRoot,
  };
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

/** The daemon's side of the hook runner: started on first use, again if it died. */
export class HookRunner {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (r: RunnerResult) => void>();

  constructor(private readonly log: Logger) {}

  /** Runs one job; resolves with its outcome (a dead runner: a failure). */
  run(job: Omit<RunnerJob, 'id'>, signal: AbortSignal): Promise<RunnerResult> {
    const id = this.nextId++;
    const failed = (error: string): RunnerResult => ({
      id,
      exitCode: null,
      signal: null,
      timedOut: false,
      killed: false,
      error,
      stdout: '',
      stderr: '',
      ms: 0,
    });
    if (signal.aborted) return Promise.resolve(failed('the daemon stops'));
    const child = this.start();
    return new Promise<RunnerResult>((resolve) => {
      // The daemon stops: the runner kills the group; the job ends now, whatever the runner still says.
      const onAbort = (): void => {
        this.send({ kill: id });
        this.settle(id, { ...failed(''), error: null, killed: true });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      });
      if (!child.connected) this.settle(id, failed('the hook runner is not running'));
      else child.send({ ...job, id } satisfies RunnerJob);
    });
  }

  /** Kills every running hook and ends the runner. */
  close(): void {
    this.send({ kill: null });
    if (this.child?.connected) this.child.disconnect();
    this.child = null;
  }

  private send(msg: RunnerKill): void {
    if (this.child?.connected) this.child.send(msg);
  }

  private settle(id: number, r: RunnerResult): void {
    const done = this.pending.get(id);
    this.pending.delete(id);
    done?.(r);
  }

  private start(): ChildProcess {
    if (this.child?.connected) return this.child;
    const child = fork(kRunnerPath, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
    child.on('message', (r: RunnerResult) => this.settle(r.id, r));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      const lost = [...this.pending.keys()];
      for (const id of lost)
        this.settle(id, {
          id,
          exitCode: null,
          signal: null,
          timedOut: false,
          killed: false,
          error: 'the hook runner exited',
          stdout: '',
          stderr: '',
          ms: 0,
        });
      if (lost.length > 0 || (code !== 0 && code !== null))
        this.log.warn({ code, signal, lostJobs: lost.length }, 'hook runner exited; it restarts with the next hook');
    });
    child.on('error', (err) => this.log.warn({ err: err.message }, 'hook runner failed'));
    this.child = child;
    return child;
  }
}

export interface CommandHookOptions {
  argv: readonly string[];
  timeoutMs: number;
  sandboxRoot: string;
  runner: HookRunner;
  log: Logger;
  /** The daemon stops: the hook is killed. */
  signal: AbortSignal;
}

/** Runs the hook for `event`; resolves true when it exited with status 0 in time. Never rejects. */
export async function runCommandHook(event: TransferEvent, o: CommandHookOptions): Promise<boolean> {
  const env: Record<string, string> = {};
  for (const name of kInheritedEnv) if (process.env[name] !== undefined) env[name] = process.env[name] as string;
  Object.assign(env, eventEnvironment(event, o.sandboxRoot));
  const r = await o.runner.run(
    { argv: [...o.argv], env, cwd: o.sandboxRoot, stdin: `${JSON.stringify(event)}\n`, timeoutMs: o.timeoutMs },
    o.signal,
  );
  const line = {
    hook: 'command',
    program: o.argv[0],
    event: event.type,
    transferId: event.transfer.transferId,
    ms: r.ms,
    stdout: r.stdout,
    stderr: r.stderr,
  };
  if (r.error !== null) {
    o.log.warn({ ...line, err: r.error }, 'hook command could not start');
    return false;
  }
  if (r.timedOut) {
    o.log.warn({ ...line, timeoutMs: o.timeoutMs, signal: r.signal }, 'hook command timed out and was killed');
    return false;
  }
  if (r.killed) {
    o.log.warn({ ...line, signal: r.signal }, 'hook command killed: the daemon stops');
    return false;
  }
  if (r.exitCode === 0) {
    o.log.info({ ...line, exitCode: 0 }, 'hook command done');
    return true;
  }
  o.log.warn({ ...line, exitCode: r.exitCode, signal: r.signal }, 'hook command failed');
  return false;
}
