// send-command.ts — `jetrecv send`: push files and directories to a receiver, with a
// progress bar on a terminal and a one-line summary at the end.
import { formatHelp, parseArgs, type CommandSpec } from '../config/args.js';
import { ErrorCodes, JetrecvError, UsageError } from '../errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { generateKeyPair, parsePublicKey, type KeyPair } from '../keys/key-encoding.js';
import { readKeyFile } from '../state/key-file.js';
import { sendFiles, kDefaultDatagramSize, type SendProgress } from '../send/sender.js';
import { defaultResumeDir } from '../send/resume-state.js';
import type { CipherName } from '../addon/endpoint.js';
import { kDatagramSizeRange } from '../addon/limits.js';
import { resolveThreadCount } from './thread-count.js';

export const sendSpec: CommandSpec = {
  name: 'send',
  summary: 'send files and directories to a receiver',
  usage: 'jetrecv send --to HOST[:PORT] --server-key KEY [options] PATH...',
  description:
    'Sends each PATH (a file, or a directory with everything beneath it) to the receiver, ' +
    "which places it at <sandbox>/<dest>/<name>. Encryption is always on; the receiver's public " +
    'key (--server-key) is required and a receiver that does not answer to it stays silent.',
  flags: [
    { name: 'to', type: 'string', valueName: 'HOST[:PORT]', help: 'receiver address; the port defaults to 8886' },
    { name: 'server-key', type: 'string', valueName: 'KEY', help: "the receiver's public key (base64, 44 characters)" },
    { name: 'key', type: 'path', valueName: 'FILE', help: "this sender's key file (jetrecv keygen); default: a new key for this run" },
    { name: 'dest', type: 'string', default: '/', valueName: 'PATH', help: "destination path beneath the receiver's sandbox" },
    {
      name: 'rate-max',
      type: 'rate',
      default: '0',
      allowZero: true,
      help: "never send faster than this many bits/s (e.g. '2G'; 0 = no cap, the receiver's feedback sets the pace)",
    },
    { name: 'rate-start', type: 'rate', default: '1G', help: 'initial send rate before the first receiver report' },
    {
      name: 'rate-min',
      type: 'rate',
      default: '1M',
      help: 'never pace slower than this many bits/s, even when the path looks congested (at most --rate-max)',
    },
    {
      name: 'rate-policy',
      type: 'string',
      default: 'fair',
      valueName: 'POLICY',
      help: "'fair': measure the path and share it with TCP and other transfers; 'fixed': hold --rate-max whatever the path does (dedicated links only)",
    },
    { name: 'lanes', type: 'int', default: 1, min: 1, max: 16, help: 'UDP sockets (source ports) the data is spread over' },
    {
      name: 'tx-threads',
      type: 'int',
      auto: true,
      default: 'auto',
      min: 1,
      max: 16,
      valueName: 'N',
      help: "TX threads (each seals and sends on lanes of its own, all under one rate), at most --lanes; 'auto': min(--lanes, cores)",
    },
    // Its range is checked once, by sendFiles (kDatagramSizeRange).
    {
      name: 'datagram-size',
      type: 'int',
      default: kDefaultDatagramSize,
      valueName: 'BYTES',
      help: `largest UDP payload per datagram, ${kDatagramSizeRange.min}-${kDatagramSizeRange.max}: 1472 for a 1500-byte MTU, 8972 for jumbo frames`,
    },
    { name: 'cipher', type: 'string', default: 'aes-256-gcm', valueName: 'CIPHER', help: "'aes-256-gcm' or 'chacha20-poly1305'" },
    {
      name: 'handshake-timeout',
      type: 'duration',
      default: '10s',
      help: 'give up when the receiver does not answer the handshake in this time',
    },
    {
      name: 'checkpoint-interval',
      type: 'int',
      default: 2,
      min: 0,
      max: 3600,
      valueName: 'SECONDS',
      help: 'ask the receiver to checkpoint this often, so an interrupted transfer resumes (0 = no checkpoints, no resume)',
    },
    {
      name: 'resume',
      type: 'bool',
      default: true,
      help: 'resume an unfinished identical send (same --key, receiver, --dest and files) instead of starting over; --no-resume starts afresh',
    },
    {
      name: 'resume-dir',
      type: 'path',
      valueName: 'DIR',
      help: 'where unfinished sends are remembered (default $XDG_CACHE_HOME/jetrecv/send or ~/.cache/jetrecv/send)',
    },
    {
      name: 'reconnect-timeout',
      type: 'duration',
      default: '60s',
      help: 'after losing the receiver (restart, shutdown), keep reconnecting this long to resume (0 = fail at once)',
    },
    { name: 'quiet', type: 'bool', short: 'q', help: 'no progress bar' },
    { name: 'json', type: 'bool', help: 'print the summary as JSON' },
    {
      name: 'log-level',
      type: 'string',
      default: 'warn',
      valueName: 'LEVEL',
      help: `diagnostics on stderr: one of ${LOG_LEVELS.join(', ')}`,
    },
  ],
  positionals: { name: 'PATH', help: 'files or directories to send', min: 1 },
};

/** Parses HOST[:PORT] (IPv4 or a name). */
export function parseTarget(text: string): { host: string; port: number } {
  const m = /^([^:\s]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`--to: expected HOST[:PORT], got '${text}'`, { flag: 'to' });
  const port = m[2] === undefined ? 8886 : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--to: port must be 1-65535, got '${m[2]}'`, { flag: 'to' });
  return { host: m[1]!, port };
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function renderProgress(p: SendProgress): string {
  const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesAcked / p.bytesTotal) : 1;
  const width = 24;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${human(p.bytesAcked)}/${human(p.bytesTotal)} ${(p.rateBps / 1e9).toFixed(2)} Gbit/s files ${p.filesDone}/${p.filesTotal} retx ${p.blocksRetransmitted}`;
}

export async function runSendCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(sendSpec, argv);
  if (parsed.help) {
    console.log(formatHelp(sendSpec));
    return 0;
  }
  const f = parsed.flags;
  if (f['to'] === undefined) throw new UsageError('--to HOST[:PORT] is required', { flag: 'to' });
  if (f['server-key'] === undefined)
    throw new UsageError("--server-key is required: the receiver's public key (shown when it starts, and by getServerInfo)", {
      flag: 'server-key',
    });
  const { host, port } = parseTarget(f['to'] as string);
  let serverKey: Uint8Array;
  try {
    serverKey = parsePublicKey(f['server-key'] as string, '--server-key');
  } catch (err) {
    throw new UsageError((err as Error).message, { flag: 'server-key' });
  }
  const cipher = f['cipher'] as string;
  if (cipher !== 'aes-256-gcm' && cipher !== 'chacha20-poly1305') {
    throw new UsageError(`--cipher: expected 'aes-256-gcm' or 'chacha20-poly1305', got '${cipher}'`, { flag: 'cipher' });
  }
  const ratePolicy = f['rate-policy'] as string;
  if (ratePolicy !== 'fair' && ratePolicy !== 'fixed') {
    throw new UsageError(`--rate-policy: expected 'fair' or 'fixed', got '${ratePolicy}'`, { flag: 'rate-policy' });
  }
  const rateMax = f['rate-max'] as number;
  const rateMin = f['rate-min'] as number;
  if (rateMax !== 0 && rateMin > rateMax) {
    throw new UsageError(`--rate-min (${rateMin} bit/s) must not exceed --rate-max (${rateMax} bit/s)`, { flag: 'rate-min' });
  }
  if (ratePolicy === 'fixed' && rateMax === 0) {
    throw new UsageError("--rate-policy fixed holds --rate-max: give --rate-max (e.g. '2G')", { flag: 'rate-policy' });
  }
  const lanes = f['lanes'] as number;
  const txThreadsFlag = f['tx-threads'] as number | 'auto';
  if (txThreadsFlag !== 'auto' && txThreadsFlag > lanes) {
    throw new UsageError(`--tx-threads (${txThreadsFlag}) must not exceed --lanes (${lanes}): each TX thread sends on lanes of its own`, {
      flag: 'tx-threads',
    });
  }
  const txThreads = resolveThreadCount(txThreadsFlag, lanes);
  const logLevel = f['log-level'] as string;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`, { flag: 'log-level' });
  }
  let keys: KeyPair;
  if (f['key'] !== undefined) {
    const kf = await readKeyFile(f['key'] as string);
    if (kf.warning) console.error(`jetrecv send: warning: ${kf.warning}`);
    keys = kf.keyPair;
  } else {
    keys = generateKeyPair();
  }
  const showBar = process.stderr.isTTY && f['quiet'] !== true;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await sendFiles({
      host,
      port,
      serverKey,
      keys,
      destinationPath: f['dest'] as string,
      paths: parsed.positionals,
      rateMaxBps: f['rate-max'] as number,
      rateStartBps: f['rate-start'] as number,
      rateMinBps: rateMin,
      ratePolicy,
      lanes,
      txThreads,
      datagramSize: f['datagram-size'] as number,
      cipher: cipher as CipherName,
      handshakeTimeoutMs: f['handshake-timeout'] as number,
      checkpointSeconds: f['checkpoint-interval'] as number,
      // Resume across runs needs a stable identity: without --key each run is a new sender.
      resumeDir: f['resume'] === false || f['key'] === undefined ? null : ((f['resume-dir'] as string | undefined) ?? defaultResumeDir()),
      reconnectTimeoutMs: f['reconnect-timeout'] as number,
      logger: createLogger(logLevel as LogLevel, 'stderr'),
      onWarning: (w) => console.error(`jetrecv send: warning: ${w}`),
      onProgress: showBar ? (p) => process.stderr.write(`\r${renderProgress(p)}\x1b[K`) : undefined,
      signal: abort.signal,
    });
    if (showBar) process.stderr.write('\r\x1b[K');
    if (f['json'] === true) {
      console.log(
        JSON.stringify({
          bytes: result.bytes,
          files: result.files,
          seconds: result.seconds,
          gbitPerSecond: result.gbitPerSecond,
          blocksSent: result.blocksSent,
          blocksRetransmitted: result.blocksRetransmitted,
          blocksTailCopies: result.blocksTailCopies,
          competingEvents: result.competingEvents,
          bytesSent: result.bytesSent,
          totalBlocks: result.totalBlocks,
          blocksResumed: result.blocksResumed,
          blocksResumedAtStart: result.blocksResumedAtStart,
          reconnects: result.reconnects,
          resumedEarlierRun: result.resumedEarlierRun,
          bytesResumedAtStart: result.bytesResumedAtStart,
        }),
      );
    } else {
      console.log(
        `sent ${result.bytes} bytes (${human(result.bytes)}) in ${result.files} files in ${result.seconds.toFixed(2)} s: ` +
          `${result.gbitPerSecond.toFixed(2)} Gbit/s, ${result.blocksRetransmitted} blocks retransmitted` +
          (result.bytesResumedAtStart > 0 ? `; resumed: ${human(result.bytesResumedAtStart)} were already there` : ''),
      );
    }
    return 0;
  } catch (err) {
    if (showBar) process.stderr.write('\n');
    if (err instanceof JetrecvError && err.code === ErrorCodes.CANCELLED) {
      console.error(`jetrecv send: ${err.message}`);
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
