// hook-runner.ts — the child process that starts hook commands for the daemon. Starting a
// process forks its parent: from the daemon (hundreds of MiB) each fork would stall the
// receiver's event loop for milliseconds (about 20 ms measured under load), so the daemon
// starts this small process once and sends it jobs over the IPC channel instead. For each job
// it spawns argv (no shell) in its own process group with the given env and cwd, writes stdin,
// keeps the first bytes of the output, kills the group at the timeout or when told, and
// answers with the outcome. When the daemon goes away it kills every running hook and exits.
import { spawn, type ChildProcess } from 'node:child_process';

/** Bytes of stdout and of stderr kept. */
export const kHookOutputBytes = 4096;

/** A job from the daemon. */
export interface RunnerJob {
  id: number;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  stdin: string;
  timeoutMs: number;
}

/** Stop one job (`id`) or every job (`id` null): its process group is killed. */
export interface RunnerKill {
  kill: number | null;
}

/** The answer to a job. */
export interface RunnerResult {
  id: number;
  /** null when it did not exit by itself (killed) or did not start. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  killed: boolean;
  /** Why it could not start. */
  error: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Keeps the first kHookOutputBytes of a stream. */
class OutputHead {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  add(chunk: Buffer): void {
    const part = chunk.subarray(0, Math.max(0, kHookOutputBytes - this.size));
    if (part.length < chunk.length) this.truncated = true;
    if (part.length > 0) this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '…[truncated]' : '');
  }
}

const running = new Map<number, { child: ChildProcess; killed: boolean }>();

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function run(job: RunnerJob, reply: (r: RunnerResult) => void): void {
  const started = performance.now();
  const stdout = new OutputHead();
  const stderr = new OutputHead();
  let timedOut = false;
  let done = false;
  const finish = (r: Omit<RunnerResult, 'id' | 'stdout' | 'stderr' | 'ms' | 'timedOut' | 'killed'>): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const killed = running.get(job.id)?.killed ?? false;
    running.delete(job.id);
    reply({
      id: job.id,
      ...r,
      timedOut,
      killed,
      stdout: stdout.text(),
      stderr: stderr.text(),
      ms: Math.round(performance.now() - started),
    });
  };
  let child: ChildProcess;
  try {
    child = spawn(job.argv[0] as string, job.argv.slice(1), {
      shell: false,
      detached: true,
      cwd: job.cwd,
      env: job.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    done = true;
    reply({
      id: job.id,
      exitCode: null,
      signal: null,
      timedOut: false,
      killed: false,
      error: (err as Error).message,
      stdout: '',
      stderr: '',
      ms: 0,
    });
    return;
  }
  running.set(job.id, { child, killed: false });
  child.stdout?.on('data', (c: Buffer) => stdout.add(c));
  child.stderr?.on('data', (c: Buffer) => stderr.add(c));
  child.stdin?.on('error', () => {}); // a hook that does not read its stdin is fine
  child.stdin?.end(job.stdin);
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, job.timeoutMs);
  child.on('error', (err) => finish({ exitCode: null, signal: null, error: err.message }));
  // 'exit', not 'close': a process the hook left in the background may hold the pipes open.
  child.on('exit', (code, signal) => {
    setImmediate(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish({ exitCode: code, signal, error: null });
    });
  });
}

function kill(id: number | null): void {
  for (const [jobId, entry] of running) {
    if (id !== null && jobId !== id) continue;
    entry.killed = true;
    killGroup(entry.child);
  }
}

if (process.send !== undefined) {
  process.on('message', (msg: RunnerJob | RunnerKill) => {
    if ('kill' in msg) kill(msg.kill);
    // The daemon may be gone by the time a hook ends: a failed send is dropped.
    else run(msg, (r) => process.connected && process.send?.(r, undefined, undefined, () => {}));
  });
  process.on('disconnect', () => {
    kill(null);
    process.exit(0);
  });
}
