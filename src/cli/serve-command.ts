// serve-command.ts — `jetrecv serve`: run the receiver daemon until SIGTERM/SIGINT.
import path from 'node:path';
import { hostname } from 'node:os';
import { formatHelp, parseArgs, type CommandSpec } from './args.js';
import { UsageError } from '../errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { startDaemon, type DaemonConfig } from '../daemon.js';
import type { CipherName } from '../engine/endpoint.js';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'run the receiver daemon',
  usage: 'jetrecv serve --sandbox-dir DIR [options]',
  description:
    'Receives files from authenticated senders over UDP and writes them beneath the sandbox ' +
    'directory, at <sandbox-dir>/<destinationPath>/<path>. Logs are JSON lines on stdout.',
  flags: [
    { name: 'sandbox-dir', type: 'path', valueName: 'DIR', help: 'directory received files are written beneath (created if missing); required unless --dev' },
    { name: 'persistent-state-dir', type: 'path', valueName: 'DIR', help: 'keeps the server key pair, authorized clients, users and checkpoints across restarts; without it they live in memory and the key is new each launch' },
    { name: 'recv-port', type: 'port', default: 8886, allowZero: true, help: 'UDP port for data (0 = any free port)' },
    { name: 'recv-host', type: 'string', default: '0.0.0.0', valueName: 'ADDR', help: 'address the data port binds to' },
    { name: 'api-port', type: 'port', default: 8886, allowZero: true, help: 'TCP port of the HTTP API (0 = any free port)' },
    { name: 'api-host', type: 'string', default: '0.0.0.0', valueName: 'ADDR', help: 'address the API binds to when --api-allow-remote-control is given (otherwise 127.0.0.1)' },
    { name: 'api-allow-remote-control', type: 'bool', help: 'accept API connections from other hosts' },
    { name: 'api-tls-cert', type: 'path', valueName: 'FILE', help: 'PEM certificate: serve the API over HTTPS (with --api-tls-key)' },
    { name: 'api-tls-key', type: 'path', valueName: 'FILE', help: 'PEM private key for --api-tls-cert' },
    { name: 'no-api', type: 'bool', help: 'do not start the API server (data path only)' },
    { name: 'superuser', type: 'string', repeatable: true, valueName: 'NAME', help: 'API user allowed to elevate with server.superuser() (repeatable)' },
    { name: 'rx-threads', type: 'int', default: 1, min: 1, max: 16, help: 'receive threads (one SO_REUSEPORT socket each)' },
    { name: 'socket-buffer', type: 'int', default: 64 << 20, min: 65536, max: 2 ** 31 - 1, valueName: 'BYTES', help: 'UDP receive buffer per socket (the kernel may grant less: see net.core.rmem_max)' },
    { name: 'min-cipher', type: 'string', default: 'chacha20-poly1305', valueName: 'CIPHER', help: "weakest data cipher accepted: 'chacha20-poly1305' (both) or 'aes-256-gcm' (AES only)" },
    { name: 'server-name', type: 'string', default: hostname(), valueName: 'NAME', help: 'friendly name reported by getServerInfo' },
    { name: 'session-timeout', type: 'duration', default: '30s', help: 'close a session when its sender is silent this long' },
    { name: 'log-level', type: 'string', default: 'info', valueName: 'LEVEL', help: `one of ${LOG_LEVELS.join(', ')}` },
    { name: 'dev', type: 'bool', help: 'first-try defaults: state and sandbox under ./.jetrecv, API on 127.0.0.1' },
  ],
};

/** Turns parsed flags into a daemon configuration; throws UsageError naming a bad flag. */
export function serveConfigFromFlags(flags: Record<string, unknown>): { config: DaemonConfig; logLevel: LogLevel; dev: boolean } {
  const dev = flags['dev'] === true;
  const logLevel = flags['log-level'] as string;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`, { flag: 'log-level' });
  }
  const minCipher = flags['min-cipher'] as string;
  if (minCipher !== 'aes-256-gcm' && minCipher !== 'chacha20-poly1305') {
    throw new UsageError(`--min-cipher: expected 'aes-256-gcm' or 'chacha20-poly1305', got '${minCipher}'`, { flag: 'min-cipher' });
  }
  let sandboxDir = flags['sandbox-dir'] as string | undefined;
  let stateDir = flags['persistent-state-dir'] as string | undefined;
  if (dev) {
    sandboxDir ??= path.resolve('.jetrecv', 'received');
    stateDir ??= path.resolve('.jetrecv', 'state');
  }
  if (!sandboxDir) throw new UsageError('--sandbox-dir is required: the directory received files are written beneath (or use --dev)', { flag: 'sandbox-dir' });
  const cert = flags['api-tls-cert'] as string | undefined;
  const key = flags['api-tls-key'] as string | undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--api-tls-cert and --api-tls-key must be given together', { flag: cert ? 'api-tls-key' : 'api-tls-cert' });
  }
  const remote = flags['api-allow-remote-control'] === true;
  return {
    dev,
    logLevel: logLevel as LogLevel,
    config: {
      sandboxDir,
      persistentStateDir: stateDir,
      recvHost: flags['recv-host'] as string,
      recvPort: flags['recv-port'] as number,
      apiHost: remote ? (flags['api-host'] as string) : '127.0.0.1',
      apiPort: flags['api-port'] as number,
      apiAllowRemoteControl: remote,
      apiTlsCert: cert,
      apiTlsKey: key,
      apiEnabled: flags['no-api'] !== true,
      superusers: flags['superuser'] as string[],
      rxThreads: flags['rx-threads'] as number,
      socketBufferBytes: flags['socket-buffer'] as number,
      minCipher: minCipher as CipherName,
      serverName: flags['server-name'] as string,
      sessionTimeoutMs: flags['session-timeout'] as number,
    },
  };
}

export async function runServeCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(serveSpec, argv);
  if (parsed.help) {
    console.log(formatHelp(serveSpec));
    return 0;
  }
  const { config, logLevel, dev } = serveConfigFromFlags(parsed.flags);
  const logger = createLogger(logLevel);
  const daemon = await startDaemon(config, logger);
  if (dev || process.stderr.isTTY) {
    process.stderr.write(
      `\njetrecv is receiving on UDP port ${daemon.recvPort}${daemon.apiPort ? `, API on http://127.0.0.1:${daemon.apiPort}` : ''}\n` +
        `  files land beneath: ${daemon.receiver.sandboxRoot}\n` +
        `  server public key:  ${daemon.publicKey}\n\n` +
        `send to it from another terminal with:\n` +
        `  jetrecv send --to 127.0.0.1:${daemon.recvPort} --server-key ${daemon.publicKey} FILE...\n\n`,
    );
  }
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      daemon.close().then(
        () => resolve(0),
        (err: Error) => {
          logger.error({ err: err.message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
