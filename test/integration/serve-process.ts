// serve-process.ts — helpers of the operations tests (systemd-notify, sighup, metrics,
// serve-cli): `jetrecv serve` as a real child process with its JSON log lines parsed, a
// $NOTIFY_SOCKET listener (python3, because Node has no AF_UNIX datagram sockets), free
// loopback ports, and a strict parser of the Prometheus text format 0.0.4.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { cliPath, repoRoot } from './harness.js';
import { missingTools } from '../tools/host-tools.js';

/** One pino JSON line of the daemon's stdout. */
export interface LogLine {
  level: number;
  msg: string;
  component?: string;
  [key: string]: unknown;
}

/** What the daemon's 'jetrecv receiver ready' log line says. */
export interface ReadyInfo {
  publicKey: string;
  recvPort: number;
  apiPort: number | null;
  sandboxDir: string;
}

/** Polls `check` every 20 ms until it returns a value other than undefined/false. */
export async function until<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 30_000,
  alive?: () => string | null,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = check();
    if (got !== undefined && got !== false) return got;
    const dead = alive?.() ?? null;
    if (dead !== null) throw new Error(`gave up waiting for ${what}: ${dead}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  /** Every JSON line of stdout so far, in order. */
  logs: LogLine[];
  /** stdout lines that were not JSON (there should be none). */
  otherStdout: string[];
  stderr(): string;
  /** Resolves with the exit status once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Null while running. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Waits for a log line matching `pred` at index >= `from` (default 0). */
  waitForLog(pred: (l: LogLine) => boolean, what: string, opts?: { from?: number; timeoutMs?: number }): Promise<LogLine>;
  /** Waits for 'jetrecv receiver ready'. */
  ready(timeoutMs?: number): Promise<ReadyInfo>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. Idempotent. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `jetrecv ARGS...` (the built CLI in dist/, with JETRECV_NATIVE_ADDON inherited).
 * NOTIFY_SOCKET and WATCHDOG_* are removed from the inherited environment; pass them in `env`.
 */
export function spawnJetrecv(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; /** runs `WRAPPER... node cli` */ wrapper?: string[] } = {},
): ServeProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JETRECV_API_PASSWORD']) delete env[k];
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const [command, ...prefix] = [...(opts.wrapper ?? []), process.execPath];
  const child = spawn(command as string, [...prefix, cliPath, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const otherStdout: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        otherStdout.push(line);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let status: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
  });
  const deadText = (): string | null =>
    status === null ? null : `jetrecv exited (code ${status.code}, signal ${status.signal}); stderr: ${stderr.trim() || '(empty)'}`;
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  const proc: ServeProcess = {
    child,
    pid: child.pid as number,
    logs,
    otherStdout,
    stderr: () => stderr,
    exited,
    exitStatus: () => status,
    waitForLog(pred, what, o = {}) {
      const from = o.from ?? 0;
      return until(
        () => logs.slice(from).find(pred),
        `log line: ${what}`,
        o.timeoutMs ?? 30_000,
        () =>
          // Lines may still be in the pipe when the process exits: only give up once it closed.
          status !== null && !logs.slice(from).some(pred) ? deadText() : null,
      );
    },
    async ready(timeoutMs = 30_000) {
      const line = await proc.waitForLog((l) => l.msg === 'jetrecv receiver ready', 'jetrecv receiver ready', { timeoutMs });
      return {
        publicKey: line['publicKey'] as string,
        recvPort: line['recvPort'] as number,
        apiPort: (line['apiPort'] as number | null) ?? null,
        sandboxDir: line['sandboxDir'] as string,
      };
    },
    stop(graceMs = 20_000) {
      stopping ??= (async () => {
        if (status === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const st = await exited;
        clearTimeout(timer);
        return st;
      })();
      return stopping;
    },
  };
  return proc;
}

/** A free TCP or UDP port on 127.0.0.1 (free when asked; another process could take it). */
export async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'tcp') {
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    return port;
  }
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => sock.once('error', reject).bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

// ---- $NOTIFY_SOCKET listener --------------------------------------------------------------

/**
 * Python: binds an AF_UNIX datagram socket (a path, or '@name' for the abstract namespace),
 * prints {"listening": true}, then one JSON line per datagram. With probe ports, on the first
 * datagram holding READY=1 it immediately checks, before printing, whether the UDP port answers
 * with ICMP "port unreachable" (closed) or stays silent (bound), and whether the TCP port
 * accepts a connection; the UDP probe is one datagram with an unknown type byte (0xff).
 */
const NOTIFY_LISTENER_PY = String.raw`
import json, socket, sys, time
path, udp_port, tcp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0' + path[1:] if path.startswith('@') else path)
print(json.dumps({"listening": True}), flush=True)

def probe_udp(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(("127.0.0.1", port))
    u.settimeout(0.5)
    try:
        u.send(b"\xff")
        u.recv(1)
        return "answered"
    except ConnectionRefusedError:
        return "closed"
    except socket.timeout:
        return "open"
    finally:
        u.close()

def probe_tcp(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "open"
    except OSError as e:
        return "closed: %s" % e

probed = False
while True:
    data = s.recv(65536)
    text = data.decode("utf-8", "replace")
    out = {"text": text, "t": time.monotonic()}
    if udp_port and not probed and "READY=1" in text.split("\n"):
        probed = True
        out["probe"] = {"udp": probe_udp(udp_port), "tcp": probe_tcp(tcp_port)}
    print(json.dumps(out), flush=True)
`;

export interface NotifyMessage {
  text: string;
  /** KEY=VALUE assignments of the datagram (newline-separated). */
  fields: Record<string, string>;
  /** When the listener received it: CLOCK_MONOTONIC seconds of the listener process. */
  t: number;
  /** Only on the first READY=1 when probe ports were given. */
  probe?: { udp: string; tcp: string };
}

export interface NotifyListener {
  /** The value for NOTIFY_SOCKET. */
  socketPath: string;
  messages: NotifyMessage[];
  waitFor(pred: (m: NotifyMessage) => boolean, what: string, opts?: { from?: number; timeoutMs?: number }): Promise<NotifyMessage>;
  close(): void;
}

/**
 * null when python3 can listen on an AF_UNIX datagram socket (the NOTIFY_SOCKET listener),
 * else the reason to print when skipping: README's set-up does not install python3.
 */
export function python3SkipReason(): string | null {
  const missing = missingTools(['python3']);
  if (missing !== null) return `the NOTIFY_SOCKET listener ${missing}`;
  const probe = spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX'], { encoding: 'utf8' });
  if (probe.status !== 0) return `python3 cannot open an AF_UNIX socket: ${probe.error?.message ?? probe.stderr.trim()}`;
  return null;
}

/** Listens on `socketPath` (a path or '@abstract-name') for sd_notify datagrams. */
export async function listenNotify(socketPath: string, probe: { udpPort: number; tcpPort: number } | null = null): Promise<NotifyListener> {
  const child = spawn('python3', ['-u', '-c', NOTIFY_LISTENER_PY, socketPath, String(probe?.udpPort ?? 0), String(probe?.tcpPort ?? 0)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: NotifyMessage[] = [];
  let listening = false;
  let stderr = '';
  let partial = '';
  let exited = false;
  child.on('exit', () => (exited = true));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const obj = JSON.parse(line) as { listening?: boolean; text?: string; t?: number; probe?: { udp: string; tcp: string } };
      if (obj.listening) {
        listening = true;
        continue;
      }
      const text = obj.text as string;
      const fields: Record<string, string> = {};
      for (const assignment of text.split('\n')) {
        const eq = assignment.indexOf('=');
        if (eq > 0) fields[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      }
      messages.push({ text, fields, t: obj.t as number, ...(obj.probe ? { probe: obj.probe } : {}) });
    }
  });
  const dead = (): string | null => (exited ? `the notify listener exited: ${stderr.trim()}` : null);
  await until(() => listening, 'the notify listener to bind', 10_000, dead);
  return {
    socketPath,
    messages,
    waitFor(pred, what, o = {}) {
      return until(() => messages.slice(o.from ?? 0).find(pred), `sd_notify message: ${what}`, o.timeoutMs ?? 30_000, dead);
    },
    close() {
      child.kill('SIGKILL');
    },
  };
}

// ---- Prometheus text format 0.0.4 ---------------------------------------------------------

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'untyped' | 'histogram' | 'summary';
  help: string | undefined;
  samples: PromSample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad sample value '${text}'`);
  return Number(text);
}

function unescapeLabel(text: string, where: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\' || c === '"') return c;
    throw new Error(`${where}: bad escape '\\${c}' in a label value`);
  });
}

/**
 * Parses Prometheus text exposition format 0.0.4 strictly: every line is blank, a comment,
 * `# HELP`, `# TYPE` (once per family, before its samples) or a sample of a declared family;
 * names, labels, escapes and values are checked; the text ends with a line feed and no
 * series appears twice. Throws naming the line on any violation.
 */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  const families = new Map<string, PromFamily>();
  const seenSeries = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  const sampleRe = new RegExp(`^(${METRIC_NAME})(?:\\{(.*)\\})?[ \\t]+(\\S+)(?:[ \\t]+(-?\\d+))?$`);
  const labelRe = new RegExp(`^(${LABEL_NAME})="((?:[^"\\\\\\n]|\\\\.)*)"`);
  lines.forEach((line, i) => {
    const where = `line ${i + 1} '${line}'`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (m === null) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined];
      if (!new RegExp(`^${METRIC_NAME}$`).test(name)) throw new Error(`${where}: bad metric name`);
      let fam = families.get(name);
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'untyped', 'histogram', 'summary'].includes(rest ?? '')) throw new Error(`${where}: bad type`);
        if (fam !== undefined && (fam.samples.length > 0 || fam.type !== 'untyped'))
          throw new Error(`${where}: TYPE after samples or twice`);
        if (fam === undefined) families.set(name, (fam = { name, type: 'untyped', help: undefined, samples: [] }));
        fam.type = rest as PromFamily['type'];
      } else {
        if (fam === undefined) families.set(name, (fam = { name, type: 'untyped', help: undefined, samples: [] }));
        if (fam.help !== undefined) throw new Error(`${where}: HELP twice`);
        fam.help = rest ?? '';
      }
      return;
    }
    const m = sampleRe.exec(line);
    if (m === null) throw new Error(`${where}: not a sample line`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      let rest = labelText;
      for (;;) {
        const lm = labelRe.exec(rest);
        if (lm === null) throw new Error(`${where}: bad labels`);
        const [whole, lname, lvalue] = lm as unknown as [string, string, string];
        if (lname in labels) throw new Error(`${where}: label ${lname} twice`);
        labels[lname] = unescapeLabel(lvalue, where);
        rest = rest.slice(whole.length);
        if (rest === '' || rest === ',') break;
        if (!rest.startsWith(',')) throw new Error(`${where}: bad labels`);
        rest = rest.slice(1);
      }
    }
    const fam = families.get(name) ?? families.get(name.replace(/_(sum|count|bucket)$/, ''));
    if (fam === undefined || fam.type === 'untyped') throw new Error(`${where}: sample of a family without a TYPE line`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSeries.has(series)) throw new Error(`${where}: series repeated`);
    seenSeries.add(series);
    fam.samples.push({ name, labels, value: parseValue(valueText, where) });
  });
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; throws if absent. */
export function sampleValue(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const fam = families.get(name);
  const hit = fam?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hit === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the exposition`);
  return hit.value;
}

/** GET /metrics of a daemon's API port: content type and parsed families. */
export async function scrapeMetrics(
  apiPort: number,
): Promise<{ contentType: string | null; text: string; families: Map<string, PromFamily> }> {
  const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${text}`);
  return { contentType: res.headers.get('content-type'), text, families: parsePrometheus(text) };
}
