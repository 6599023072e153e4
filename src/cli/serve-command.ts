// serve-command.ts — `jetrecv serve`: run the receiver daemon until SIGTERM/SIGINT.
import path from 'node:path';
import { formatHelp } from './args.js';
import { serveSpec } from './serve-spec.js';
import { UsageError } from '../errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { startDaemon, type DaemonConfig } from '../daemon.js';
import { loadServeFlags, reloadServeFlags, applyReloadable } from '../config/config-file.js';
import { SystemdNotifier, formatStatus } from '../ops/systemd-notify.js';
import { sdNotify, type CipherName } from '../engine/endpoint.js';

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
  let current = loadServeFlags(argv);
  if (current.help) {
    console.log(formatHelp(serveSpec));
    return 0;
  }
  const { config, logLevel, dev } = serveConfigFromFlags(current.flags);
  const logger = createLogger(logLevel);
  const log = logger.child({ component: 'serve' });
  const daemon = await startDaemon(config, logger);
  const notifier = new SystemdNotifier({ sdNotify, onError: (err) => log.warn({ err: String(err) }, 'sd_notify failed') });
  const statusLine = () => formatStatus(daemon.status());
  notifier.ready(statusLine());
  notifier.startWatchdog();
  const statusTimer = setInterval(() => notifier.status(statusLine()), 5000);
  statusTimer.unref();
  if (dev || process.stderr.isTTY) {
    process.stderr.write(
      `\njetrecv is receiving on UDP port ${daemon.recvPort}${daemon.apiPort ? `, API on http://127.0.0.1:${daemon.apiPort}` : ''}\n` +
        `  files land beneath: ${daemon.receiver.sandboxRoot}\n` +
        `  server public key:  ${daemon.publicKey}\n\n` +
        `send to it from another terminal with:\n` +
        `  jetrecv send --to 127.0.0.1:${daemon.recvPort} --server-key ${daemon.publicKey} FILE...\n\n`,
    );
  }

  // SIGHUP: re-read the config file; apply what can change at runtime, keep the rest.
  process.on('SIGHUP', () => {
    notifier.reloading();
    try {
      const { next, diff } = reloadServeFlags(current);
      const nextConfig = serveConfigFromFlags(next.flags);
      daemon.reload({ logLevel: nextConfig.logLevel, superusers: nextConfig.config.superusers, sessionTimeoutMs: nextConfig.config.sessionTimeoutMs });
      for (const c of diff.restartRequired) log.warn({ setting: c.name, from: c.from, to: c.to }, 'setting changed in the config file but needs a restart');
      current = applyReloadable(current, diff);
      log.info({ changed: diff.reloadable.map((c) => c.name) }, 'configuration reloaded');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'configuration reload refused; the previous configuration stays in force');
    }
    notifier.ready(statusLine());
  });

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting at once');
        process.exit(1);
      }
      stopping = true;
      clearInterval(statusTimer);
      notifier.stopping();
      log.info({ signal }, 'shutting down');
      daemon.close().then(
        () => {
          notifier.close();
          resolve(0);
        },
        (err: Error) => {
          log.error({ err: err.message }, 'shutdown failed');
          notifier.close();
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
