#!/usr/bin/env node
// run.mjs — `npm run bench`: jetrecv against its peers on this machine, in one run, over
// 127.0.0.1 only. Prints a table and saves everything as JSON under bench/results/.
// Plain Node ESM (no build step for the harness itself); jetrecv is run as its CLI
// (bin/jetrecv.js, which needs `npm run build`). Missing peers are reported as skipped.
// Method and how to read the output: bench/README.md.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sectionPeers } from './peers.mjs';
import { sectionVeth } from './veth.mjs';
import { parseWanFlag, printWanTable, sectionWan, wanUsage } from './wan.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const jetrecvBin = path.join(repoRoot, 'bin', 'jetrecv.js');
const relayCli = path.join(repoRoot, 'test', 'tools', 'impair-relay-cli.mjs');
const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
const kSections = ['ceiling', 'jetrecv', 'peers', 'veth', 'files', 'concurrent', 'loss', 'wan'];
// Sections run when --only is not given: wan (the emulated WAN, long and root only) is asked for.
const kDefaultSections = kSections.filter((s) => s !== 'wan');
/** Debian packages --install-peers installs: the peers, GNU time, openssl (TLS peer's key), ip, nft and ethtool (namespaces). */
const kPeerPackages = ['iperf3', 'uftp', 'socat', 'time', 'openssl', 'iproute2', 'nftables', 'ethtool'];

// ---------------------------------------------------------------- options

const usage = `usage: npm run bench -- [options]
  --quick              small sizes, 1 run each: a smoke check of the whole harness
  --only LIST          comma-separated sections: ${kSections.join(', ')} (default: all but wan)
  --size SIZE          test file size, e.g. 4G, 512M (default 4G; --quick: 64M)
  --runs N             rounds: each runs every configuration once, interleaved
                       (A B C A B C …); rows report best and median (default 3; --quick: 1)
  --datagram-sizes L   jetrecv/iperf3 datagram sizes (default 1472,8972)
  --tmpfs-dir DIR      tmpfs for sources and the tmpfs destination (default /dev/shm)
  --disk-dir DIR       a directory on a real disk for the disk destination (default /var/tmp)
  --no-disk            skip every disk destination
  --files N            files in the many-small-files run (default 20000; --quick: 2000)
  --senders N          concurrent senders (default 8)
  --install-peers      apt-get install ${kPeerPackages.join(' ')} first (needs root and apt)
  --tune-sysctl        raise net.core.rmem_max/wmem_max to 100 MB for the run (restored after)
  --no-drop-caches     do not drop the page cache before disk runs (default: drop when root)
  --serve-arg ARG      extra argument for every \`jetrecv serve\` (repeatable), e.g.
                       --serve-arg=--direct-io=off for an A/B run
  --send-arg ARG       extra argument for every \`jetrecv send\` (repeatable), e.g.
                       --send-arg=--lanes=2 --send-arg=--tx-threads=2
  --out FILE           JSON output (default bench/results/<timestamp>.json)
  --keep               keep the work directories (for debugging)
${wanUsage}`;

function die(message) {
  console.error(`bench: ${message}\n\n${usage}`);
  process.exit(2);
}

/** '4G', '512M', '64K', '1000' -> bytes (binary units). */
export function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?B?)?$/i.exec(String(text).trim());
  if (!m) throw new Error(`expected a size like 4G, 512M or 65536, got '${text}'`);
  const mult = { K: 1024, M: MiB, G: GiB, T: 1024 * GiB }[(m[2] ?? '').charAt(0).toUpperCase()] ?? 1;
  const v = Math.round(Number(m[1]) * mult);
  if (v <= 0) throw new Error(`size must be > 0, got '${text}'`);
  return v;
}

function parseOptions(argv) {
  const o = {
    quick: false,
    only: [...kDefaultSections],
    wanQuick: false,
    wanSize: undefined,
    wanSizeLong: undefined,
    wanTools: undefined,
    wanQueueMs: 50,
    size: undefined,
    runs: undefined,
    datagramSizes: [1472, 8972],
    tmpfsDir: '/dev/shm',
    diskDir: '/var/tmp',
    disk: true,
    files: undefined,
    senders: 8,
    installPeers: false,
    tuneSysctl: false,
    dropCaches: true,
    out: undefined,
    keep: false,
    serveArgs: [],
    sendArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const eq = /^(--serve-arg|--send-arg)=(.*)$/s.exec(flag);
    if (eq) {
      (eq[1] === '--serve-arg' ? o.serveArgs : o.sendArgs).push(eq[2]);
      continue;
    }
    const value = () => {
      const v = argv[++i];
      if (v === undefined) die(`${flag} needs a value`);
      return v;
    };
    const int = (v, min) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) die(`${flag}: expected an integer >= ${min}, got '${v}'`);
      return n;
    };
    switch (flag) {
      case '--help':
      case '-h':
        console.log(usage);
        process.exit(0);
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--only': {
        o.only = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const s of o.only) if (!kSections.includes(s)) die(`--only: unknown section '${s}' (expected ${kSections.join(', ')})`);
        break;
      }
      case '--size':
        try {
          o.size = parseSize(value());
        } catch (e) {
          die(`--size: ${e.message}`);
        }
        break;
      case '--runs':
        o.runs = int(value(), 1);
        break;
      case '--datagram-sizes': {
        o.datagramSizes = value()
          .split(',')
          .map((v) => int(v, 312));
        if (o.datagramSizes.some((n) => n > 65507)) die('--datagram-sizes: at most 65507');
        break;
      }
      case '--tmpfs-dir':
        o.tmpfsDir = value();
        break;
      case '--disk-dir':
        o.diskDir = value();
        break;
      case '--no-disk':
        o.disk = false;
        break;
      case '--files':
        o.files = int(value(), 1);
        break;
      case '--senders':
        o.senders = int(value(), 1);
        break;
      case '--install-peers':
        o.installPeers = true;
        break;
      case '--tune-sysctl':
        o.tuneSysctl = true;
        break;
      case '--no-drop-caches':
        o.dropCaches = false;
        break;
      case '--out':
        o.out = value();
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--serve-arg':
        o.serveArgs.push(value());
        break;
      case '--send-arg':
        o.sendArgs.push(value());
        break;
      default:
        if (!parseWanFlag(o, flag, value, die)) die(`unknown option '${flag}'`);
    }
  }
  o.size ??= o.quick ? 64 * MiB : 4 * GiB;
  try {
    o.wanSize = o.wanSize === undefined ? (o.wanQuick || o.quick ? 64 * MiB : 256 * MiB) : parseSize(o.wanSize);
  } catch (e) {
    die(`--wan-size: ${e.message}`);
  }
  try {
    o.wanSizeLong = o.wanSizeLong === undefined ? o.wanSize : parseSize(o.wanSizeLong);
  } catch (e) {
    die(`--wan-size-long: ${e.message}`);
  }
  o.runs ??= o.quick ? 1 : 3;
  o.files ??= o.quick ? 2000 : 20000;
  o.iperfSeconds = o.quick ? 2 : 5;
  o.lossSize = Math.min(o.size, o.quick ? 32 * MiB : 512 * MiB);
  o.concurrentEach = Math.max(MiB, Math.floor(o.size / o.senders / MiB) * MiB);
  return o;
}

// ---------------------------------------------------------------- processes

const live = new Set(); // children still running, killed on exit
export const cleanups = []; // async cleanup steps, run once at the end or on a signal

/**
 * Spawns argv; `done` resolves {code, signal, stdout, stderr, seconds} when it exits. It is
 * killed after timeoutMs (0 = never) or when the `killOn` promise settles first.
 */
export function start(argv, { onLine, env, timeoutMs = 0, killOn } = {}) {
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  let stdout = '';
  let stderr = '';
  if (onLine) createInterface({ input: child.stdout }).on('line', onLine);
  child.stdout.on('data', (d) => {
    if (stdout.length < 4 * MiB) stdout += d;
  });
  child.stderr.on('data', (d) => {
    if (stderr.length < 4 * MiB) stderr += d;
  });
  let timer;
  const done = new Promise((resolve) => {
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
  if (timeoutMs > 0)
    timer = setTimeout(() => {
      stderr += `\n[bench: killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
  killOn?.then((why) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    stderr += `\n[bench: killed: ${why}]`;
    child.kill('SIGKILL');
  });
  return { child, pid: child.pid, done };
}

/** Runs argv to completion, measured by GNU time when present: adds {cpu: {user, sys, maxRssKiB}}. */
export async function timed(argv, opts = {}) {
  const timeFile = path.join(os.tmpdir(), `jetrecv-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const useGnuTime = existsSync('/usr/bin/time');
  const before = selfChildrenCpu();
  const r = await start(useGnuTime ? ['/usr/bin/time', '-f', '%U %S %M', '-o', timeFile, ...argv] : argv, opts).done;
  let cpu = null;
  if (useGnuTime) {
    try {
      const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop();
      const [u, s, m] = last.split(/\s+/).map(Number);
      if ([u, s, m].every(Number.isFinite)) cpu = { user: u, sys: s, maxRssKiB: m };
    } catch {
      /* no time output: the command did not start */
    }
    await rm(timeFile, { force: true });
  } else {
    const after = selfChildrenCpu();
    cpu = { user: after.user - before.user, sys: after.sys - before.sys, maxRssKiB: null };
  }
  return { ...r, cpu };
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** utime/stime of a live process in seconds, from /proc/<pid>/stat; null when it is gone. */
export function procCpu(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / clockTicks, sys: Number(f[12]) / clockTicks };
  } catch {
    return null;
  }
}

/** CPU of this process's waited-for children (cutime/cstime). */
function selfChildrenCpu() {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[13]) / clockTicks, sys: Number(f[14]) / clockTicks };
}

/** Peak resident set (VmHWM) of a live process in MiB; null when unreadable. */
export function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export async function stopChild(handle, signal = 'SIGTERM', graceMs = 10_000) {
  if (handle.child.exitCode !== null || handle.child.signalCode !== null) return handle.done;
  handle.child.kill(signal);
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), graceMs);
  const r = await handle.done;
  clearTimeout(timer);
  return r;
}

export function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Like sleep, but does not keep the process alive (for timeouts raced against events). */
const deadline = (ms) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Waits until something listens on TCP address:port (an IPv4 address), read from
 * /proc/net/tcp: this process's namespace, or network namespace `ns`.
 */
export async function waitTcpListen(port, { address = '127.0.0.1', ns = null, timeoutMs = 10_000 } = {}) {
  const ip = address
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join('');
  const hex = `${ip}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = ns
      ? (spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/tcp'], { encoding: 'utf8' }).stdout ?? '')
      : readFileSync('/proc/net/tcp', 'utf8');
    if (
      text.split('\n').some((l) => {
        const c = l.trim().split(/\s+/);
        return c[1] === hex && c[3] === '0A';
      })
    )
      return;
    await sleep(20);
  }
  throw new Error(`nothing listens on ${address}:${port}${ns ? ` in ${ns}` : ''} after ${timeoutMs} ms`);
}

// ---------------------------------------------------------------- files and numbers

/** Writes `size` pseudo-random bytes (AES-256-CTR keystream of a random key) to `file`. */
export async function writeRandomFile(file, size) {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  const zeros = Buffer.alloc(16 * MiB);
  const fh = await open(file, 'w');
  try {
    for (let off = 0; off < size; off += zeros.length) {
      const n = Math.min(zeros.length, size - off);
      await fh.write(cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n)));
    }
  } finally {
    await fh.close();
  }
}

export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 4 * MiB })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** One hash over every regular file beneath dir (sorted relative paths and contents). */
async function sha256Tree(dir) {
  const files = [];
  const walk = async (rel) => {
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile()) files.push(r);
    }
  };
  await walk('');
  files.sort();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(readFileSync(path.join(dir, f)));
  }
  return { hash: h.digest('hex'), count: files.length };
}

function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

export const round = (x, d = 2) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toFixed(d)) : null);
export const gbit = (bytes, seconds) => (seconds > 0 ? (bytes * 8) / seconds / 1e9 : null);
export const perGB = (cpu, bytes) => (cpu ? { user: round(cpu.user / (bytes / 1e9), 3), sys: round(cpu.sys / (bytes / 1e9), 3) } : null);
export const tail = (text, n = 600) => (text.length > n ? `…${text.slice(-n)}` : text).trim();

export async function dropCaches(opts) {
  if (!opts.dropCaches || process.getuid?.() !== 0) return false;
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** fsync of a file; seconds it took (the page cache written back for a disk destination). */
export async function fsyncSeconds(file) {
  const t0 = performance.now();
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return (performance.now() - t0) / 1000;
}

function fsType(dir) {
  const r = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

// ---------------------------------------------------------------- machine

function machineInfo(opts) {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const sysctl = (name) => {
    try {
      return Number(readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim());
    } catch {
      return null;
    }
  };
  const debVersion = (pkg) => {
    const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
    return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
  };
  const osRelease = existsSync('/etc/os-release')
    ? (/PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null)
    : null;
  return {
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? null,
    cores: os.cpus().length,
    memoryGiB: round(os.totalmem() / GiB, 1),
    kernel: os.release(),
    os: osRelease,
    node: process.version,
    rmemMax: sysctl('net.core.rmem_max'),
    wmemMax: sysctl('net.core.wmem_max'),
    rmemDefault: sysctl('net.core.rmem_default'),
    netdevMaxBacklog: sysctl('net.core.netdev_max_backlog'),
    tmpfsDir: opts.tmpfsDir,
    tmpfsType: fsType(opts.tmpfsDir),
    diskDir: opts.disk ? opts.diskDir : null,
    diskType: opts.disk ? fsType(opts.diskDir) : null,
    loadAverageAtStart: os.loadavg().map((x) => round(x, 2)),
    peers: Object.fromEntries(['iperf3', 'uftp', 'socat'].map((pkg) => [pkg, which(pkg) ? (debVersion(pkg) ?? 'installed') : null])),
  };
}

// ---------------------------------------------------------------- jetrecv

function jetrecvAvailable() {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) return 'jetrecv is not built (run npm run build)';
  for (const cmd of ['serve', 'send']) {
    const r = spawnSync(process.execPath, [jetrecvBin, cmd, '--help'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) return `\`jetrecv ${cmd} --help\` failed: ${tail(`${r.stdout}${r.stderr}`, 300)}`;
  }
  return null;
}

/**
 * Starts `jetrecv serve` on 127.0.0.1 (data port 0, API on 127.0.0.1 port 0 for /metrics)
 * and waits for its "jetrecv receiver ready" log line. `wrap` runs it inside a namespace.
 */
let extraServeArgs = []; // --serve-arg, set once by main()
let extraSendArgs = []; // --send-arg, set once by main()

export async function startReceiver(sandbox, { wrap = (a) => a, host = '127.0.0.1', serveArgs = [] } = {}) {
  await mkdir(sandbox, { recursive: true });
  let resolveReady;
  const ready = new Promise((r) => (resolveReady = r));
  const logs = [];
  const handle = start(
    wrap([
      process.execPath,
      jetrecvBin,
      'serve',
      '--recv-host',
      host,
      '--recv-port',
      '0',
      '--api-port',
      '0',
      '--sandbox-dir',
      sandbox,
      '--log-level',
      'info',
      ...extraServeArgs,
      ...serveArgs,
    ]),
    {
      onLine: (line) => {
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          return;
        }
        logs.push(rec);
        if (rec.msg === 'jetrecv receiver ready') resolveReady(rec);
      },
    },
  );
  const first = await Promise.race([ready, handle.done.then((r) => ({ exited: r })), deadline(30_000).then(() => ({ timeout: true }))]);
  if (first.exited || first.timeout) {
    await stopChild(handle, 'SIGKILL');
    const r = await handle.done;
    throw new Error(`jetrecv serve did not become ready${first.timeout ? ' in 30 s' : ` (exit ${r.code})`}: ${tail(r.stderr || r.stdout)}`);
  }
  return { handle, pid: handle.pid, recvPort: first.recvPort, publicKey: first.publicKey, apiPort: first.apiPort ?? null, logs };
}

/** Settles when the receiver exits: a sender still running then is killed, not left to time out. */
function receiverExit(rx) {
  return rx.handle.done.then((r) => `the receiver exited (${r.code ?? r.signal}): ${tail(r.stderr, 300)}`);
}

/** Scrapes /metrics of a receiver; returns {dropsByReason, counters} or null when there is none. */
async function scrapeMetrics(apiPort) {
  if (!apiPort) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return null;
    const text = await res.text();
    const dropsByReason = {};
    const counters = {};
    for (const line of text.split('\n')) {
      let m = /^jetrecv_packets_dropped_total\{reason="([^"]+)"\}\s+(\S+)/.exec(line);
      if (m) {
        dropsByReason[m[1]] = Number(m[2]);
        continue;
      }
      m = /^jetrecv_([a-z0-9_]+)_total\s+(\S+)/.exec(line);
      if (m) counters[m[1]] = Number(m[2]);
    }
    return { dropsByReason, counters };
  } catch {
    return null;
  }
}

function diffCounters(after, before) {
  if (!after) return null;
  const d = (a = {}, b = {}) =>
    Object.fromEntries(
      Object.entries(a)
        .map(([k, v]) => [k, v - (b[k] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
  return { dropsByReason: d(after.dropsByReason, before?.dropsByReason), counters: d(after.counters, before?.counters) };
}

/** Parses the `jetrecv send --json` summary line. */
export function parseSendJson(stdout) {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

export function sendArgv(target, publicKey, datagramSize, paths, extra = []) {
  return [
    process.execPath,
    jetrecvBin,
    'send',
    '--json',
    '--quiet',
    '--to',
    target,
    '--server-key',
    publicKey,
    '--datagram-size',
    String(datagramSize),
    ...extraSendArgs,
    ...extra,
    ...paths,
  ];
}

/**
 * One jetrecv transfer of `srcFile` into a fresh sandbox beneath `destRoot`: receiver CPU
 * (from /proc, ready to done), sender CPU (GNU time), receiver peak RSS, drops by reason,
 * retransmissions, and the sha256 of the received file. `wrap` runs the receiver (and the
 * sender, unless `wrapSend` is given) inside a namespace; the receiver listens on `host`.
 */
export async function jetrecvOnce({
  srcFile,
  srcSha,
  destRoot,
  datagramSize,
  disk,
  opts,
  sendTo,
  extraSend = [],
  serveArgs = [],
  wrap,
  wrapSend = wrap,
  host,
  label,
}) {
  const sandbox = path.join(destRoot, `jetrecv-sandbox-${process.pid}-${Date.now()}`);
  const size = statSync(srcFile).size;
  const rx = await startReceiver(sandbox, { wrap, host, serveArgs });
  // A receiver inside a namespace has its API there too, out of this process's reach.
  const apiPort = wrap ? null : rx.apiPort;
  let target = null;
  let finished = false;
  try {
    if (disk) await dropCaches(opts);
    const metrics0 = await scrapeMetrics(apiPort);
    const cpu0 = procCpu(rx.pid);
    target = sendTo ? await sendTo(rx) : { address: `127.0.0.1:${rx.recvPort}` };
    const timeoutMs = Math.max(180_000, (size / (20 * MiB)) * 1000);
    const sent = await timed((wrapSend ?? ((a) => a))(sendArgv(target.address, rx.publicKey, datagramSize, [srcFile], extraSend)), {
      timeoutMs,
      killOn: receiverExit(rx),
    });
    const cpu1 = procCpu(rx.pid);
    const rss = peakRssMiB(rx.pid);
    const metrics = diffCounters(await scrapeMetrics(apiPort), metrics0);
    finished = true;
    const relayStats = target.finish ? await target.finish() : null;
    const summary = parseSendJson(sent.stdout);
    if (sent.code !== 0 || !summary)
      throw new Error(`${label}: jetrecv send failed (exit ${sent.code}): ${tail(sent.stderr || sent.stdout)}`);
    const received = path.join(sandbox, path.basename(srcFile));
    const syncS = disk ? await fsyncSeconds(received) : 0;
    const sha = existsSync(received) ? await sha256File(received) : null;
    const rcvCpu = cpu0 && cpu1 ? { user: cpu1.user - cpu0.user, sys: cpu1.sys - cpu0.sys } : null;
    return {
      gbitPerSecond: summary.gbitPerSecond,
      seconds: summary.seconds,
      wallSeconds: round(sent.seconds, 3),
      gbitPerSecondWithSync: disk ? round(gbit(size, summary.seconds + syncS), 3) : undefined,
      syncSeconds: disk ? round(syncS, 3) : undefined,
      bytes: summary.bytes,
      blocksSent: summary.blocksSent,
      blocksRetransmitted: summary.blocksRetransmitted,
      retransmitPercent: summary.blocksSent > 0 ? round((100 * summary.blocksRetransmitted) / summary.blocksSent, 3) : null,
      receiverCpu: rcvCpu && { user: round(rcvCpu.user, 2), sys: round(rcvCpu.sys, 2) },
      receiverCpuPerGB: perGB(rcvCpu, size),
      senderCpu: sent.cpu && { user: sent.cpu.user, sys: sent.cpu.sys },
      senderCpuPerGB: perGB(sent.cpu, size),
      receiverPeakRssMiB: round(rss, 1),
      senderPeakRssMiB: sent.cpu?.maxRssKiB ? round(sent.cpu.maxRssKiB / 1024, 1) : null,
      receiverMetrics: metrics,
      receiverDropsTotal: metrics ? Object.values(metrics.dropsByReason).reduce((a, b) => a + b, 0) : null,
      relay: relayStats ?? undefined,
      sendCounters: summary.counters ?? undefined,
      sha256Ok: sha === srcSha,
    };
  } finally {
    if (target?.finish && !finished) await target.finish().catch(() => null);
    const r = await stopChild(rx.handle);
    if (r.code !== 0 && r.signal !== 'SIGTERM') console.error(`bench: jetrecv serve exited with ${r.code ?? r.signal}: ${tail(r.stderr)}`);
    if (!opts.keep) await rm(sandbox, { recursive: true, force: true });
  }
}

/**
 * The configurations of one bench run, measured interleaved: each of opts.runs rounds runs
 * every configuration once, in the order they were added (A B C, A B C, …), so a drift in
 * this machine's speed during the run hits every row alike instead of the rows measured last.
 * A section adds its configurations instead of measuring them: `add` puts the row into
 * `results` at once (rows keep the sections' order) and `run` fills in its runsDetail (one
 * entry per round; a failed round is recorded, not fatal) and summary (median, min, max).
 */
export function createPlan(opts) {
  const configs = [];
  const afterAll = [];
  return {
    /** `once(round)` measures the configuration once and returns the run's figures. */
    add(results, row, fields, once) {
      results.push(row);
      configs.push({ row, fields, once, runs: [] });
    },
    /** A step run after the last round (a section's input files removed, say). */
    after(fn) {
      afterAll.push(fn);
    },
    async run() {
      try {
        for (let i = 0; i < opts.runs; i++) {
          for (const c of configs) {
            process.stderr.write(`  [round ${i + 1}/${opts.runs}] ${c.row.name} … `);
            try {
              const r = await c.once(i);
              c.runs.push(r);
              process.stderr.write(
                `${r.gbitPerSecond !== undefined && r.gbitPerSecond !== null ? `${round(r.gbitPerSecond, 2)} Gbit/s` : 'ok'}${r.sha256Ok === false ? ' SHA MISMATCH' : ''}\n`,
              );
            } catch (err) {
              c.runs.push({ error: err.message });
              process.stderr.write(`failed: ${err.message.split('\n')[0]}\n`);
            }
          }
        }
      } finally {
        for (const c of configs) Object.assign(c.row, { runsDetail: c.runs, summary: summarizeRuns(c.runs, c.fields) });
        for (const fn of afterAll.splice(0)) await fn();
      }
    },
  };
}
export function summarizeRuns(runs, fields) {
  const ok = runs.filter((r) => !r.error);
  const out = { runs: runs.length, failed: runs.length - ok.length };
  for (const f of fields) {
    const get = typeof f === 'string' ? (r) => r[f] : f.get;
    const name = typeof f === 'string' ? f : f.name;
    out[name] = summarize(ok.map(get));
  }
  if (ok.some((r) => r.sha256Ok !== undefined)) out.sha256AllOk = ok.length > 0 && ok.every((r) => r.sha256Ok === true);
  return out;
}

export const jetrecvFields = [
  'gbitPerSecond',
  'gbitPerSecondWithSync',
  'retransmitPercent',
  'receiverPeakRssMiB',
  'receiverDropsTotal',
  { name: 'receiverCpuUserPerGB', get: (r) => r.receiverCpuPerGB?.user },
  { name: 'receiverCpuSysPerGB', get: (r) => r.receiverCpuPerGB?.sys },
  { name: 'senderCpuUserPerGB', get: (r) => r.senderCpuPerGB?.user },
  { name: 'senderCpuSysPerGB', get: (r) => r.senderCpuPerGB?.sys },
];

async function sectionJetrecv(ctx) {
  const { opts, results, plan } = ctx;
  for (const dest of ctx.destinations) {
    for (const dg of opts.datagramSizes) {
      const name = `jetrecv ${dg} → ${dest.name}`;
      plan.add(
        results,
        { section: 'jetrecv', name, tool: 'jetrecv', datagramSize: dg, dest: dest.name, bytes: opts.size },
        jetrecvFields,
        () =>
          jetrecvOnce({ srcFile: ctx.src, srcSha: ctx.srcSha, destRoot: dest.dir, datagramSize: dg, disk: dest.disk, opts, label: name }),
      );
      if (!dest.disk) continue;
      // The cost of durable completion (sync on finalize, the default): the same run without it.
      const noSync = `${name}, --no-sync-on-finalize`;
      plan.add(
        results,
        {
          section: 'jetrecv',
          name: noSync,
          tool: 'jetrecv',
          datagramSize: dg,
          dest: 'disk-nosync',
          syncOnFinalize: false,
          bytes: opts.size,
        },
        jetrecvFields,
        () =>
          jetrecvOnce({
            srcFile: ctx.src,
            srcSha: ctx.srcSha,
            destRoot: dest.dir,
            datagramSize: dg,
            disk: dest.disk,
            opts,
            serveArgs: ['--no-sync-on-finalize'],
            label: noSync,
          }),
      );
    }
  }
}

// ---------------------------------------------------------------- ceiling

const kBlockPacketOverhead = 56; // datagram bytes that are not file data (docs/PROTOCOL.md)

/** Rounds of each ceiling measurement; the best (lowest CPU per GB) counts. */
const kCeilingRounds = 3;
/** A ceiling figure that moved more than this between the start and the end of a run is flagged. */
const kCeilingDriftLimit = 0.2;

/**
 * CPU seconds per GB (10^9 bytes) of AES-256-GCM on one core of this machine, one call per
 * block of file data (datagram − 56 bytes) with a fresh IV and a tag each time, as the data
 * path does: `openssl speed -evp aes-256-gcm -bytes N` (and `-decrypt`), best of `rounds`.
 * That is the least an OpenSSL sealing or opening end spends per GB before any copy or packet
 * work. `openssl speed` counts calls in a wall-clock window, so a loaded machine makes the
 * floor look higher.
 */
function aesGcmFloor(payloadBytes, seconds, rounds) {
  const rate = (extra) => {
    const r = spawnSync(
      'openssl',
      ['speed', '-seconds', String(seconds), ...extra, '-evp', 'aes-256-gcm', '-bytes', String(payloadBytes)],
      { encoding: 'utf8' },
    );
    const m = /^AES-256-GCM\s+([\d.]+)k\s*$/m.exec(r.stdout ?? '');
    if (r.status !== 0 || !m) throw new Error(`openssl speed failed: ${tail(`${r.stdout ?? ''}${r.stderr ?? ''}`, 200)}`);
    return Number(m[1]) * 1000; // bytes per second
  };
  const best = (extra) => Math.min(...Array.from({ length: rounds }, () => 1e9 / rate(extra)));
  return { sealSecondsPerGB: round(best([]), 3), openSecondsPerGB: round(best(['-decrypt']), 3) };
}

/**
 * build/aead-speed (native/bench/aead_speed.cc): jetrecv's own AEAD contexts, AES-256-GCM
 * seal and open on every back end the build offers, thread CPU time, best of `rounds`.
 * Returns { defaultBackend, floors: { backend: { payload: { sealSecondsPerGB, openSecondsPerGB } } } },
 * or null without the binary.
 */
function aeadSpeedFloors(payloads, rounds) {
  const bin = path.join(repoRoot, 'build', 'aead-speed');
  if (!existsSync(bin)) return null;
  const r = spawnSync(bin, ['--sizes', payloads.join(','), '--rounds', String(rounds), '--seconds', '0.5'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`aead-speed failed: ${tail(`${r.stdout ?? ''}${r.stderr ?? ''}`, 200)}`);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const floors = {};
  for (const l of lines.filter((x) => x.cipher === 'aes-256-gcm')) {
    const slot = ((floors[l.backend] ??= {})[l.bytes] ??= {});
    slot[l.op === 'seal' ? 'sealSecondsPerGB' : 'openSecondsPerGB'] = round(l.cpuSecondsPerGB, 3);
  }
  return { defaultBackend: lines[0].defaultBackends['aes-256-gcm'], floors };
}

/**
 * The ceiling: per datagram size, `openssl speed` and jetrecv's own AEAD loop (each back end;
 * `usedByJetrecv` marks the one jetrecv runs here), each best of kCeilingRounds, with the
 * load average at the time. Runs first and, when other sections ran, again at the end
 * (`phase` 'before' / 'after'; see ceilingDrift).
 */
async function sectionCeiling(ctx, phase = 'before') {
  const { opts, results } = ctx;
  const rounds = opts.quick ? 1 : kCeilingRounds;
  const payloads = opts.datagramSizes.map((dg) => dg - kBlockPacketOverhead);
  const loadAverage = () => os.loadavg().map((x) => round(x, 2));
  if (!which('openssl')) {
    results.push({ section: 'ceiling', name: 'AES-256-GCM floor', skipped: 'openssl CLI not installed (apt-get install openssl)' });
  } else {
    const version = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout?.trim() ?? '?';
    for (const dg of opts.datagramSizes) {
      const payload = dg - kBlockPacketOverhead;
      console.error(
        `• AES-256-GCM floor (${phase}), ${payload}-byte blocks (${version}; Node has ${process.versions.openssl}), best of ${rounds}`,
      );
      results.push({
        section: 'ceiling',
        phase,
        name: `AES-256-GCM alone, ${payload}-byte blocks, 1 core (openssl speed, ${phase})`,
        tool: 'openssl',
        cipher: 'aes-256-gcm',
        datagramSize: dg,
        opensslVersion: version,
        nodeOpensslVersion: process.versions.openssl,
        aead: aesGcmFloor(payload, 1, rounds),
        loadAverage: loadAverage(),
      });
    }
  }
  console.error(`• AES-256-GCM in jetrecv's AEAD back ends (${phase}), build/aead-speed, best of ${rounds}`);
  const own = aeadSpeedFloors(payloads, rounds);
  if (own === null) {
    results.push({
      section: 'ceiling',
      name: 'AES-256-GCM in jetrecv (aead-speed)',
      skipped: 'build/aead-speed missing (npm run build:native)',
    });
    return;
  }
  for (const [backend, bySize] of Object.entries(own.floors)) {
    for (const dg of opts.datagramSizes) {
      const payload = dg - kBlockPacketOverhead;
      results.push({
        section: 'ceiling',
        phase,
        name: `AES-256-GCM ${backend}, ${payload}-byte blocks, 1 core (aead-speed, ${phase})`,
        tool: 'aead-speed',
        backend,
        usedByJetrecv: backend === own.defaultBackend,
        cipher: 'aes-256-gcm',
        datagramSize: dg,
        aead: bySize[payload],
        loadAverage: loadAverage(),
      });
    }
  }
}

/**
 * Ceiling figures that moved more than kCeilingDriftLimit between the 'before' and 'after'
 * ceilings of this run: the machine's speed changed under the other sections, so their
 * figures (and ratios between sections) are suspect. One row per moved figure.
 */
export function ceilingDrift(results) {
  const key = (r) => `${r.tool}|${r.backend ?? ''}|${r.datagramSize}`;
  const after = new Map(results.filter((r) => r.section === 'ceiling' && r.phase === 'after' && r.aead).map((r) => [key(r), r]));
  const out = [];
  for (const b of results.filter((r) => r.section === 'ceiling' && r.phase === 'before' && r.aead)) {
    const a = after.get(key(b));
    if (!a) continue;
    for (const op of ['sealSecondsPerGB', 'openSecondsPerGB']) {
      const change = a.aead[op] / b.aead[op] - 1;
      if (Math.abs(change) > kCeilingDriftLimit) {
        out.push({
          name: `${b.name.replace(/, before\)$/, ')')} ${op}`,
          before: b.aead[op],
          after: a.aead[op],
          change: round(change, 3),
          loadBefore: b.loadAverage,
          loadAfter: a.loadAverage,
        });
      }
    }
  }
  return out;
}

/**
 * The AEAD floor per GB for datagram size dg: jetrecv's own back end (aead-speed row marked
 * usedByJetrecv) where measured, else `openssl speed`; the best of every phase.
 */
export function aeadFloor(results, dg) {
  const rows = results.filter((r) => r.section === 'ceiling' && r.aead && r.datagramSize === dg);
  const own = rows.filter((r) => r.usedByJetrecv);
  const pick = own.length > 0 ? own : rows.filter((r) => r.tool === 'openssl');
  if (pick.length === 0) return null;
  return {
    sealSecondsPerGB: Math.min(...pick.map((r) => r.aead.sealSecondsPerGB)),
    openSecondsPerGB: Math.min(...pick.map((r) => r.aead.openSecondsPerGB)),
    source: own.length > 0 ? `jetrecv ${own[0].backend}` : 'openssl speed',
  };
}

// ---------------------------------------------------------------- many small files

async function sectionFiles(ctx) {
  const { opts, results, plan } = ctx;
  const count = opts.files;
  const name = `jetrecv ${count} × 4 KiB files → tmpfs`;
  const srcDir = path.join(ctx.work, 'small-files');
  await mkdir(srcDir, { recursive: true });
  const perDir = 1000; // files spread over subdirectories, as real trees are
  const block = randomBytes(4096 * 64);
  for (let i = 0; i < count; i++) {
    const sub = path.join(srcDir, `d${String(Math.floor(i / perDir)).padStart(3, '0')}`);
    if (i % perDir === 0) await mkdir(sub, { recursive: true });
    const off = (i % 64) * 4096;
    const data = Buffer.from(block.subarray(off, off + 4096));
    data.writeUInt32LE(i, 0); // every file distinct
    await writeFile(path.join(sub, `f${i}.bin`), data);
  }
  const srcTree = await sha256Tree(srcDir);
  const row = { section: 'files', name, tool: 'jetrecv', files: count, fileSize: 4096 };
  plan.add(results, row, ['filesPerSecond', 'receiverPeakRssMiB'], async () => {
    const sandbox = path.join(ctx.tmpfs.dir, `jetrecv-files-${process.pid}-${Date.now()}`);
    const rx = await startReceiver(sandbox);
    try {
      const cpu0 = procCpu(rx.pid);
      const sent = await timed(sendArgv(`127.0.0.1:${rx.recvPort}`, rx.publicKey, 8972, [srcDir]), {
        timeoutMs: 600_000,
        killOn: receiverExit(rx),
      });
      const cpu1 = procCpu(rx.pid);
      const summary = parseSendJson(sent.stdout);
      if (sent.code !== 0 || !summary) throw new Error(`jetrecv send failed (exit ${sent.code}): ${tail(sent.stderr || sent.stdout)}`);
      const got = await sha256Tree(path.join(sandbox, path.basename(srcDir))).catch(() => ({ hash: null, count: 0 }));
      return {
        filesPerSecond: round(summary.files / summary.seconds, 0),
        gbitPerSecond: summary.gbitPerSecond,
        seconds: summary.seconds,
        files: summary.files,
        receiverCpu: cpu0 && cpu1 ? { user: round(cpu1.user - cpu0.user, 2), sys: round(cpu1.sys - cpu0.sys, 2) } : null,
        senderCpu: sent.cpu && { user: sent.cpu.user, sys: sent.cpu.sys },
        receiverPeakRssMiB: round(peakRssMiB(rx.pid), 1),
        filesReceived: got.count,
        sha256Ok: got.hash === srcTree.hash && got.count === count,
      };
    } finally {
      await stopChild(rx.handle);
      if (!opts.keep) await rm(sandbox, { recursive: true, force: true });
    }
  });
  plan.after(() => (opts.keep ? undefined : rm(srcDir, { recursive: true, force: true })));
}

// ---------------------------------------------------------------- concurrent senders

async function sectionConcurrent(ctx) {
  const { opts, results, plan } = ctx;
  const n = opts.senders;
  const each = opts.concurrentEach;
  const name = `jetrecv ${n} concurrent senders × ${fmtSize(each)} → tmpfs`;
  const files = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(ctx.work, `concurrent-${i}.bin`);
    await writeRandomFile(f, each);
    files.push({ file: f, sha: await sha256File(f) });
  }
  const row = { section: 'concurrent', name, tool: 'jetrecv', senders: n, bytesPerSender: each };
  const fields = [
    'gbitPerSecond',
    'fairnessMinOverMax',
    'receiverPeakRssMiB',
    { name: 'receiverCpuUserPerGB', get: (r) => r.receiverCpuPerGB?.user },
    { name: 'receiverCpuSysPerGB', get: (r) => r.receiverCpuPerGB?.sys },
    { name: 'senderCpuUserPerGB', get: (r) => r.sendersCpuPerGB?.user },
    { name: 'senderCpuSysPerGB', get: (r) => r.sendersCpuPerGB?.sys },
  ];
  plan.add(results, row, fields, async () => {
    const sandbox = path.join(ctx.tmpfs.dir, `jetrecv-conc-${process.pid}-${Date.now()}`);
    const rx = await startReceiver(sandbox);
    try {
      const cpu0 = procCpu(rx.pid);
      const children0 = selfChildrenCpu();
      const t0 = performance.now();
      const senders = files.map(
        (f) =>
          start(sendArgv(`127.0.0.1:${rx.recvPort}`, rx.publicKey, 8972, [f.file]), { timeoutMs: 900_000, killOn: receiverExit(rx) }).done,
      );
      const done = await Promise.all(senders);
      const wall = (performance.now() - t0) / 1000;
      const cpu1 = procCpu(rx.pid);
      const children1 = selfChildrenCpu();
      const per = done.map((r) => parseSendJson(r.stdout));
      const failed = done
        .map((r, i) => (r.code !== 0 || !per[i] ? `sender ${i}: exit ${r.code}: ${tail(r.stderr, 200)}` : null))
        .filter(Boolean);
      if (failed.length) throw new Error(failed.join('; '));
      const rates = per.map((p) => p.gbitPerSecond);
      let shaOk = true;
      for (const f of files) shaOk &&= (await sha256File(path.join(sandbox, path.basename(f.file))).catch(() => null)) === f.sha;
      const total = each * n;
      return {
        gbitPerSecond: round(gbit(total, wall), 3),
        perSenderGbitPerSecond: rates.map((r) => round(r, 3)),
        fairnessMinOverMax: round(Math.min(...rates) / Math.max(...rates), 3),
        blocksRetransmitted: per.reduce((s, p) => s + p.blocksRetransmitted, 0),
        receiverCpuPerGB: cpu0 && cpu1 ? perGB({ user: cpu1.user - cpu0.user, sys: cpu1.sys - cpu0.sys }, total) : null,
        sendersCpuPerGB: perGB({ user: children1.user - children0.user, sys: children1.sys - children0.sys }, total),
        receiverPeakRssMiB: round(peakRssMiB(rx.pid), 1),
        sha256Ok: shaOk,
      };
    } finally {
      await stopChild(rx.handle);
      if (!opts.keep) await rm(sandbox, { recursive: true, force: true });
    }
  });
  plan.after(async () => {
    if (!opts.keep) for (const f of files) await rm(f.file, { force: true });
  });
}

// ---------------------------------------------------------------- loss

/** Starts the impairment relay CLI in front of a receiver; finish() returns its final stats. */
async function startRelay(recvPort, dropRate) {
  let resolveReady;
  let resolveFinal;
  const ready = new Promise((r) => (resolveReady = r));
  const final = new Promise((r) => (resolveFinal = r));
  const h = start(
    [process.execPath, relayCli, '--target', `127.0.0.1:${recvPort}`, '--dir', 'toServer', '--drop', String(dropRate), '--seed', '1'],
    {
      onLine: (line) => {
        let ev;
        try {
          ev = JSON.parse(line);
        } catch {
          return;
        }
        if (ev.event === 'ready') resolveReady(ev);
        if (ev.event === 'final') resolveFinal(ev);
      },
    },
  );
  const first = await Promise.race([ready, h.done.then((r) => ({ exited: r })), deadline(60_000).then(() => ({ timeout: true }))]);
  if (first.exited || first.timeout) throw new Error(`impairment relay did not start: ${tail(first.exited?.stderr ?? 'timeout')}`);
  return {
    address: `127.0.0.1:${first.port}`,
    async finish() {
      h.child.kill('SIGTERM');
      const f = await Promise.race([final, deadline(5000).then(() => null)]);
      await stopChild(h, 'SIGKILL', 1000);
      return f && { dropped: f.toServer.dropped, forwarded: f.toServer.forwarded, socketDrops: f.socketDrops };
    },
  };
}

/**
 * Datagrams the namespace's nft loss rule dropped. nft counts packets as the kernel sees
 * them, and on loopback a UDP GSO send stays one packet of several datagrams (up to 7 of
 * 8972 bytes, 44 of 1472) until the receiving socket, so a dropped packet is a burst. The
 * byte counter divided by one datagram's IP packet size counts the datagrams instead.
 */
async function nftDroppedDatagrams(ns, datagramSize) {
  const r = await ns.run(['nft', 'list', 'chain', 'inet', 'jetrecv_impair', 'input']);
  let bytes = 0;
  for (const m of r.stdout.matchAll(/counter packets \d+ bytes (\d+) drop/g)) bytes += Number(m[1]);
  return Math.round(bytes / (datagramSize + 28));
}

async function sectionLoss(ctx) {
  const { opts, results, plan } = ctx;
  const size = opts.lossSize;
  const src = path.join(ctx.work, 'loss.bin');
  await writeRandomFile(src, size);
  const sha = await sha256File(src);
  const dg = 8972;
  const rates = [0, 1, 5];
  // Into the disk directory when there is one: fresh tmpfs pages cost this kind of VM an
  // erratic amount of CPU (bench/README.md), which would drown the effect of the loss.
  const dest = ctx.destinations.find((d) => d.disk) ?? ctx.tmpfs;

  // Kernel-level loss: sender and receiver share a namespace whose lo drops N % of the UDP
  // datagrams to the receiver's data port (nft numgen); full speed, nothing in between.
  if (!ctx.lossNamespace) {
    results.push({ section: 'loss', name: 'jetrecv kernel loss (nft on lo)', skipped: ctx.lossNamespaceReason });
  } else {
    const ns = ctx.lossNamespace;
    for (const pct of rates) {
      const name = `jetrecv ${dg}, ${pct} % kernel loss (nft) → ${dest.name}`;
      const row = { section: 'loss', name, tool: 'jetrecv', method: 'nft', lossPercent: pct, datagramSize: dg, bytes: size };
      plan.add(results, row, [...jetrecvFields, 'retransmittedOverLost'], async () => {
        let before = 0;
        const r = await jetrecvOnce({
          srcFile: src,
          srcSha: sha,
          destRoot: dest.dir,
          datagramSize: dg,
          disk: dest.disk,
          opts,
          label: name,
          wrap: (argv) => ns.wrap(argv),
          sendTo: async (rx) => {
            await ns.setUdpLossPercent(pct, rx.recvPort);
            before = await nftDroppedDatagrams(ns, dg);
            return { address: `127.0.0.1:${rx.recvPort}`, finish: async () => ({ dropped: (await nftDroppedDatagrams(ns, dg)) - before }) };
          },
        });
        await ns.setUdpLossPercent(0);
        const lost = r.relay?.dropped ?? null;
        return { ...r, lossPercent: pct, datagramsLost: lost, retransmittedOverLost: lost ? round(r.blocksRetransmitted / lost, 3) : null };
      });
    }
  }

  // The impairment relay (a JS process, so capped in rate: --rate-max keeps it from being
  // the bottleneck). Same seed every run.
  const relayCap = '400M';
  for (const pct of rates) {
    const name = `jetrecv ${dg} via relay, ${pct} % loss, --rate-max ${relayCap} → ${dest.name}`;
    const row = { section: 'loss', name, tool: 'jetrecv', method: 'relay', lossPercent: pct, datagramSize: dg, bytes: size };
    plan.add(results, row, [...jetrecvFields, 'retransmittedOverLost'], async () => {
      const r = await jetrecvOnce({
        srcFile: src,
        srcSha: sha,
        destRoot: dest.dir,
        datagramSize: dg,
        disk: dest.disk,
        opts,
        label: name,
        extraSend: ['--rate-max', relayCap],
        sendTo: (rx) => startRelay(rx.recvPort, pct / 100),
      });
      const lost = r.relay ? r.relay.dropped + (r.relay.socketDrops ?? 0) : null;
      return { ...r, lossPercent: pct, datagramsLost: lost, retransmittedOverLost: lost ? round(r.blocksRetransmitted / lost, 3) : null };
    });
  }
  plan.after(() => (opts.keep ? undefined : rm(src, { force: true })));
}

// ---------------------------------------------------------------- report

function fmtSize(bytes) {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${round(bytes / MiB, 1)} MiB`;
  return `${bytes} B`;
}

/** A rate: the best run and the median of the rounds, "best / median". */
function fmtRate(s, d = 2) {
  if (!s) return '–';
  return s.n === 1 ? `${round(s.max, d)}` : `${round(s.max, d)} / ${round(s.median, d)}`;
}

function fmtStat(s, d = 2) {
  if (!s) return '–';
  if (s.n === 1 || s.min === s.max) return `${round(s.median, d)}`;
  return `${round(s.median, d)} [${round(s.min, d)}..${round(s.max, d)}]`;
}

/** A rate row's figure as { median, best } (best: the fastest run); null without the row. */
function rateOf(results, pred, field = 'gbitPerSecond') {
  const st = results.find((x) => !x.skipped && pred(x))?.summary?.[field];
  return st ? { median: st.median, best: st.max } : null;
}

/** The larger of rate figures, per statistic. */
function fastestOf(rates) {
  const known = rates.filter(Boolean);
  return known.length ? { median: Math.max(...known.map((x) => x.median)), best: Math.max(...known.map((x) => x.best)) } : null;
}

/**
 * A model of the fastest encrypted loopback transfer this machine allows, from this run's
 * figures: each end must at least run AES-256-GCM (aeadFloor: jetrecv's back end) and move the
 * bytes the way a plain TCP copy into a file does (socat's receiver and sender CPU per GB to
 * tmpfs). With both ends on the same cores, and one RX and one TX thread (jetrecv's
 * defaults), the rate is at most min(cores / (both floors), 1 / each floor) GB/s. Null when
 * the ceiling or the socat row is missing. One row per datagram size.
 */
function computeCpuBounds(results, cores) {
  const socat = results.find((r) => r.section === 'peers' && r.tool === 'socat' && !r.tls && r.dest === 'tmpfs' && r.summary)?.summary;
  const med = (x) => x?.median ?? 0;
  const socatRcv = med(socat?.receiverCpuUserPerGB) + med(socat?.receiverCpuSysPerGB);
  const socatSnd = med(socat?.senderCpuUserPerGB) + med(socat?.senderCpuSysPerGB);
  if (!(socatRcv > 0) || !(socatSnd > 0)) return [];
  return [...new Set(results.filter((r) => r.section === 'ceiling' && r.aead).map((r) => r.datagramSize))].map((datagramSize) => {
    const aead = aeadFloor(results, datagramSize);
    const rcv = aead.openSecondsPerGB + socatRcv;
    const snd = aead.sealSecondsPerGB + socatSnd;
    const gbPerSecond = Math.min(cores / (rcv + snd), 1 / rcv, 1 / snd);
    return {
      section: 'ceiling',
      name: `model: CPU bound, ${datagramSize}-byte datagrams → tmpfs`,
      tool: 'model',
      datagramSize,
      bound: {
        gbitPerSecond: round(gbPerSecond * 8, 2),
        receiverFloor: round(rcv, 3),
        senderFloor: round(snd, 3),
        cores,
        note: `AES-256-GCM floor (${aead.source}) + socat's copy cost per end; ${cores} cores for both ends`,
      },
    };
  });
}

/**
 * jetrecv against the peers, all from this run: each ratio of the rows' medians (`value`) and
 * of their best runs (`best`; CPU figures and model bounds are medians in both).
 */
function computeRatios(results, opts) {
  const ratios = [];
  const pair = (x) => (x === null || x === undefined ? null : typeof x === 'number' ? { median: x, best: x } : x);
  const div = (n, d) => (n && d ? round(n / d, 3) : null);
  const add = (name, num, den, target) => {
    const [n, d] = [pair(num), pair(den)];
    ratios.push({
      name,
      value: div(n?.median, d?.median),
      best: div(n?.best, d?.best),
      numerator: round(n?.median, 3),
      denominator: round(d?.median, 3),
      target: target ?? null,
    });
  };
  const rate =
    (section, tool, extra = () => true) =>
    (field) =>
      rateOf(results, (r) => r.section === section && r.tool === tool && extra(r), field);
  const jet = (dg, dest, section = 'jetrecv') => rate(section, 'jetrecv', (r) => r.datagramSize === dg && r.dest === dest)();
  const iperf = (dg, section = 'peers') => rate(section, 'iperf3', (r) => r.datagramSize === dg)();
  const socat = (dest, tls, section = 'peers') => rate(section, 'socat', (r) => r.dest === dest && r.tls === tls)();
  const uftpBest = fastestOf(
    results.filter((r) => r.tool === 'uftp' && r.dest === 'tmpfs' && r.summary).map((r) => rateOf(results, (x) => x === r)),
  );
  const jumbo = Math.max(...opts.datagramSizes);
  const std = Math.min(...opts.datagramSizes);
  add(`jetrecv ${jumbo} tmpfs / uftp best tmpfs`, jet(jumbo, 'tmpfs'), uftpBest, '>= 2.5');
  for (const dg of opts.datagramSizes) add(`jetrecv ${dg} tmpfs / iperf3 -l ${dg}`, jet(dg, 'tmpfs'), iperf(dg), '>= 1.0');
  add(`jetrecv ${jumbo} tmpfs / socat TLS 1.3 AES-256-GCM tmpfs`, jet(jumbo, 'tmpfs'), socat('tmpfs', true), '>= 1.0');
  const jetBestTmpfs = fastestOf(opts.datagramSizes.map((dg) => jet(dg, 'tmpfs')));
  add('jetrecv best tmpfs / socat TCP tmpfs', jetBestTmpfs, socat('tmpfs', false));
  const jetBestDisk = fastestOf(opts.datagramSizes.map((dg) => jet(dg, 'disk')));
  add('jetrecv best disk / socat TCP disk', jetBestDisk, socat('disk', false));
  add('jetrecv best disk / dd oflag=direct', jetBestDisk, rate('peers', 'dd')(), '>= 0.9');
  const jetDiskSync = rate('jetrecv', 'jetrecv', (r) => r.datagramSize === jumbo && r.dest === 'disk');
  add(`jetrecv ${jumbo} disk: +fsync / without`, jetDiskSync('gbitPerSecondWithSync'), jetDiskSync(), '>= 0.95');
  // Between two namespaces over veth: no 64 KiB loopback MTU for TCP.
  for (const dg of opts.datagramSizes) add(`veth: jetrecv ${dg} / iperf3 -l ${dg}`, jet(dg, 'tmpfs', 'veth'), iperf(dg, 'veth'), '>= 1.0');
  add(`veth: jetrecv ${jumbo} / socat TLS 1.3 AES-256-GCM`, jet(jumbo, 'tmpfs', 'veth'), socat('tmpfs', true, 'veth'), '>= 1.0');
  add(`veth: jetrecv ${jumbo} / socat TCP`, jet(jumbo, 'tmpfs', 'veth'), socat('tmpfs', false, 'veth'));
  add(`veth / loopback: socat TCP`, socat('tmpfs', false, 'veth'), socat('tmpfs', false));
  add(`veth / loopback: jetrecv ${jumbo}`, jet(jumbo, 'tmpfs', 'veth'), jet(jumbo, 'tmpfs'));
  const bound = (dg) => results.find((r) => r.bound && r.datagramSize === dg)?.bound.gbitPerSecond ?? null;
  for (const dg of opts.datagramSizes) add(`jetrecv ${dg} tmpfs / model CPU bound ${dg}`, jet(dg, 'tmpfs'), bound(dg));
  add(
    `model CPU bound ${jumbo} / (2.5 × uftp best): is the jumbo target reachable here? (>= 1 needed)`,
    bound(jumbo),
    uftpBest && { median: 2.5 * uftpBest.median, best: 2.5 * uftpBest.best },
  );
  add(`model CPU bound ${std} / iperf3 -l ${std}: is the standard-MTU target reachable here? (>= 1 needed)`, bound(std), iperf(std));
  const cpu = (pred) => {
    const r = results.find((x) => !x.skipped && pred(x));
    const u = r?.summary?.receiverCpuUserPerGB?.median;
    const s = r?.summary?.receiverCpuSysPerGB?.median;
    return u !== undefined && u !== null && s !== undefined && s !== null ? u + s : null;
  };
  const jetCpu = (dg) => cpu((r) => r.section === 'jetrecv' && r.datagramSize === dg && r.dest === 'tmpfs');
  for (const dg of opts.datagramSizes)
    add(`receiver CPU s/GB, jetrecv ${dg} tmpfs (a figure, not a ratio)`, jetCpu(dg), 1, dg >= 8000 ? '<= 0.5' : '<= 0.8');
  const uftpdCpu = cpu((r) => r.tool === 'uftp' && r.mode === 'aes256-gcm' && r.dest === 'tmpfs');
  add(`receiver CPU s/GB: jetrecv ${jumbo} tmpfs / uftpd aes256-gcm tmpfs`, jetCpu(jumbo), uftpdCpu, '<= 0.25');
  const aesOpen = aeadFloor(results, jumbo)?.openSecondsPerGB ?? null;
  const rcvFloor = results.find((r) => r.bound && r.datagramSize === jumbo)?.bound.receiverFloor ?? null;
  add(`AES-256-GCM open alone ${jumbo} / (0.25 × uftpd aes256-gcm CPU)`, aesOpen, uftpdCpu ? 0.25 * uftpdCpu : null);
  add(
    `model receiver floor ${jumbo} / (0.25 × uftpd aes256-gcm CPU): is the CPU target reachable here? (<= 1 needed)`,
    rcvFloor,
    uftpdCpu ? 0.25 * uftpdCpu : null,
  );
  const loss = (method, pct) => rateOf(results, (r) => r.section === 'loss' && r.method === method && r.lossPercent === pct);
  for (const method of ['nft', 'relay']) {
    for (const pct of [1, 5]) add(`goodput at ${pct} % loss / no loss (${method})`, loss(method, pct), loss(method, 0));
  }
  return ratios;
}

function printTable(results, ratios) {
  const rows = [['test', 'Gbit/s best / median', 'rcv CPU s/GB usr/sys', 'snd CPU s/GB usr/sys', 'rcv RSS MiB', 'retx %', 'notes']];
  for (const r of results) {
    if (r.skipped) {
      rows.push([r.name, 'skipped', '', '', '', '', r.skipped]);
      continue;
    }
    if (r.aead) {
      rows.push([r.name, '', '', '', '', '', `CPU-s/GB: seal ${r.aead.sealSecondsPerGB}, open ${r.aead.openSecondsPerGB}`]);
      continue;
    }
    if (r.bound) {
      rows.push([
        r.name,
        String(r.bound.gbitPerSecond),
        `${r.bound.receiverFloor} (floor)`,
        `${r.bound.senderFloor} (floor)`,
        '',
        '',
        r.bound.note,
      ]);
      continue;
    }
    const s = r.summary;
    const notes = [];
    if (s.failed)
      notes.push(
        `${s.failed}/${s.runs} runs failed: ${r.runsDetail
          .find((x) => x.error)
          ?.error.split('\n')[0]
          .slice(0, 80)}`,
      );
    if (s.sha256AllOk === false) notes.push('SHA256 MISMATCH');
    if (s.sha256AllOk === true) notes.push('sha256 ok');
    if (s.filesPerSecond) notes.push(`${fmtStat(s.filesPerSecond, 0)} files/s`);
    if (s.fairnessMinOverMax) notes.push(`fairness min/max ${fmtStat(s.fairnessMinOverMax)}`);
    if (s.passes) notes.push(`${fmtStat(s.passes, 0)} passes`);
    if (s.wallGbitPerSecond) notes.push(`wall ${fmtStat(s.wallGbitPerSecond)} Gbit/s`);
    if (s.gbitPerSecondWithSync) notes.push(`+fsync ${fmtStat(s.gbitPerSecondWithSync)} Gbit/s`);
    if (s.lostPercent) notes.push(`loss ${fmtStat(s.lostPercent)} %`);
    if (s.megabytesPerSecond) notes.push(`${fmtStat(s.megabytesPerSecond, 0)} MB/s`);
    if (s.receiverDropsTotal) notes.push(`rcv drops ${fmtStat(s.receiverDropsTotal, 0)}`);
    if (s.retransmittedOverLost) notes.push(`retx/lost ${fmtStat(s.retransmittedOverLost)}`);
    const cpu = (u, sy) => (u || sy ? `${fmtStat(u)} / ${fmtStat(sy)}` : '');
    rows.push([
      r.name,
      fmtRate(s.gbitPerSecond),
      cpu(s.receiverCpuUserPerGB, s.receiverCpuSysPerGB),
      cpu(s.senderCpuUserPerGB, s.senderCpuSysPerGB),
      fmtStat(s.receiverPeakRssMiB, 0),
      s.retransmitPercent ? fmtStat(s.retransmitPercent) : '',
      notes.join('; '),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.min(60, Math.max(...rows.map((r) => String(r[c]).length))));
  const line = (r) =>
    r
      .map((cell, c) => String(cell).padEnd(widths[c]))
      .join(' | ')
      .trimEnd();
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows.slice(1)) console.log(line(r));
  console.log('\nratios from this run (of the medians; of the best runs too where that differs):');
  const known = ratios.filter((q) => q.value !== null);
  for (const q of known)
    console.log(
      `  ${q.name}: ${q.value}${q.best !== null && q.best !== q.value ? ` (best runs: ${q.best})` : ''}${q.target ? `  (target ${q.target})` : ''}`,
    );
  if (known.length < ratios.length)
    console.log(`  (${ratios.length - known.length} not available: their sections did not run or failed; see the JSON)`);
}

// ---------------------------------------------------------------- main

async function tuneSysctl(opts) {
  if (!opts.tuneSysctl) return;
  if (process.getuid?.() !== 0) throw new Error('--tune-sysctl needs root');
  const names = ['net/core/rmem_max', 'net/core/wmem_max'];
  const saved = names.map((n) => [n, readFileSync(`/proc/sys/${n}`, 'utf8').trim()]);
  for (const n of names) writeFileSync(`/proc/sys/${n}`, '104857600');
  cleanups.push(async () => {
    for (const [n, v] of saved) writeFileSync(`/proc/sys/${n}`, v);
  });
}

async function installPeers() {
  if (process.getuid?.() !== 0) throw new Error('--install-peers needs root (it runs apt-get)');
  for (const argv of [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', ...kPeerPackages],
  ]) {
    console.error(`$ ${argv.join(' ')}`);
    const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed with exit ${r.status}`);
  }
}

async function runCleanups() {
  for (const c of live) c.kill('SIGKILL');
  // Last added first; a step added meanwhile (a section still setting up when a signal came)
  // is run too.
  for (let c = cleanups.pop(); c; c = cleanups.pop()) {
    try {
      await c();
    } catch (err) {
      console.error(`bench: cleanup: ${err.message}`);
    }
  }
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  extraServeArgs = opts.serveArgs;
  extraSendArgs = opts.sendArgs;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}: cleaning up`);
      runCleanups().finally(() => process.exit(130));
    });
  }
  if (opts.installPeers) await installPeers();
  await tuneSysctl(opts);
  const startedAt = new Date();
  const machine = machineInfo(opts);
  console.error(`jetrecv bench: ${machine.cpuModel}, ${machine.cores} cores, kernel ${machine.kernel}, rmem_max ${machine.rmemMax}`);
  console.error(`size ${fmtSize(opts.size)}, ${opts.runs} run(s) each, sections: ${opts.only.join(', ')}${opts.quick ? ' (quick)' : ''}`);
  if (machine.tmpfsType !== 'tmpfs') console.error(`bench: warning: ${opts.tmpfsDir} is ${machine.tmpfsType}, not tmpfs`);
  if (opts.disk && machine.diskType === 'tmpfs') console.error(`bench: warning: --disk-dir ${opts.diskDir} is on tmpfs, not a disk`);

  const work = path.join(opts.tmpfsDir, `jetrecv-bench-${process.pid}`);
  await mkdir(work, { recursive: true });
  cleanups.push(() => (opts.keep ? undefined : rm(work, { recursive: true, force: true })));
  const diskWork = opts.disk ? path.join(opts.diskDir, `jetrecv-bench-${process.pid}`) : null;
  if (diskWork) {
    await mkdir(diskWork, { recursive: true });
    cleanups.push(() => (opts.keep ? undefined : rm(diskWork, { recursive: true, force: true })));
  }
  const tmpfs = { name: 'tmpfs', dir: work, disk: false };
  const destinations = [tmpfs, ...(diskWork ? [{ name: 'disk', dir: diskWork, disk: true }] : [])];
  const ctx = {
    opts,
    results: [],
    plan: createPlan(opts),
    work,
    tmpfs,
    destinations,
    src: null,
    srcSha: null,
    loNamespace: null,
    loNamespaceReason: null,
    lossNamespace: null,
    lossNamespaceReason: null,
  };

  const needsBigFile = opts.only.some((s) => s === 'jetrecv' || s === 'peers' || s === 'veth');
  if (needsBigFile) {
    ctx.src = path.join(work, 'source.bin');
    console.error(`writing a ${fmtSize(opts.size)} random source file on ${opts.tmpfsDir} …`);
    await writeRandomFile(ctx.src, opts.size);
    ctx.srcSha = await sha256File(ctx.src);
  }

  // Namespaces (root only): lo-only for uftp, lo-only with nft loss for the loss section.
  let tools = null;
  try {
    tools = await import('../test/tools/load-tools.mjs').then((m) => m.loadTestTools());
  } catch (err) {
    ctx.loNamespaceReason = ctx.lossNamespaceReason = `test tools unavailable: ${err.message.split('\n')[0]}`;
  }
  if (tools && opts.only.includes('peers')) {
    const ns = await tools.netns.createLoopbackNamespace('jetrecv-bench-uftp');
    if (ns.value) cleanups.push(() => ns.value.close());
    ctx.loNamespace = ns.value;
    ctx.loNamespaceReason = ns.skipReason;
  }
  if (tools && opts.only.includes('loss')) {
    const check = tools.netns.checkKernelImpairment();
    if (!check.ok) ctx.lossNamespaceReason = check.skipReason;
    else {
      const ns = await tools.netns.createLoopbackNamespace('jetrecv-bench-loss');
      if (ns.value) cleanups.push(() => ns.value.close());
      ctx.lossNamespace = ns.value;
      ctx.lossNamespaceReason = ns.skipReason;
    }
  }

  const jetrecvProblem = opts.only.some((s) => s !== 'peers' && s !== 'ceiling') ? jetrecvAvailable() : null;
  // The ceiling measures at once (before and after the rest); wan runs its own matrix after
  // the interleaved rounds; every other section adds its configurations to ctx.plan.
  const planners = {
    jetrecv: sectionJetrecv,
    peers: sectionPeers,
    veth: (c) => sectionVeth(c, tools),
    files: sectionFiles,
    concurrent: sectionConcurrent,
    loss: sectionLoss,
  };
  const sectionFailed = (s, err) => {
    console.error(`bench: section ${s} failed: ${err.stack ?? err.message}`);
    ctx.results.push({ section: s, name: `${s} section`, skipped: `failed: ${err.message.split('\n')[0]}` });
  };
  try {
    if (opts.only.includes('ceiling')) await sectionCeiling(ctx).catch((err) => sectionFailed('ceiling', err));
    for (const s of opts.only.filter((x) => planners[x])) {
      if (s !== 'peers' && jetrecvProblem) ctx.results.push({ section: s, name: `jetrecv (${s})`, skipped: jetrecvProblem });
      else await planners[s](ctx).catch((err) => sectionFailed(s, err));
    }
    console.error(`• ${opts.runs} interleaved round(s) of every configuration`);
    await ctx.plan.run();
    if (opts.only.includes('wan')) {
      if (jetrecvProblem) ctx.results.push({ section: 'wan', name: 'jetrecv (wan)', skipped: jetrecvProblem });
      else await sectionWan(ctx, tools).catch((err) => sectionFailed('wan', err));
    }
    // The ceiling again after the other sections: did the machine's speed move under them?
    if (opts.only.includes('ceiling') && opts.only.some((s) => s !== 'ceiling')) {
      try {
        await sectionCeiling(ctx, 'after');
      } catch (err) {
        console.error(`bench: section ceiling (after) failed: ${err.stack ?? err.message}`);
      }
    }
  } finally {
    await runCleanups();
  }

  ctx.results.push(...computeCpuBounds(ctx.results, machine.cores));
  const ratios = computeRatios(ctx.results, opts);
  const drift = ceilingDrift(ctx.results);
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)) },
    options: { ...opts, sizeHuman: fmtSize(opts.size) },
    sourceSha256: ctx.srcSha,
    results: ctx.results,
    ratios,
    ceilingDrift: drift,
  };
  const outFile = opts.out ?? path.join(repoRoot, 'bench', 'results', `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log('');
  printTable(
    ctx.results.filter((r) => r.section !== 'wan'),
    ratios,
  );
  printWanTable(ctx.results);
  for (const d of drift) {
    console.log(
      `\nWARNING: ceiling moved ${round(d.change * 100, 0)} % during the run: ${d.name} ${d.before} → ${d.after} (load ${d.loadBefore.join(' ')} → ${d.loadAfter.join(' ')}); figures of this run are suspect`,
    );
  }
  console.log(`\nsaved ${path.relative(process.cwd(), outFile)}`);
  const mismatch = ctx.results.some((r) => r.summary?.sha256AllOk === false);
  if (mismatch) {
    console.error('bench: a received file did not match its source (see the JSON)');
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch(async (err) => {
    console.error(`bench: ${err.stack ?? err.message}`);
    await runCleanups();
    process.exit(1);
  });
}
