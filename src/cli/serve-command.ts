// serve-command.ts — `jetrecv serve`: run the receiver daemon until SIGTERM/SIGINT.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { formatHelp } from '../config/args.js';
import { kMaxRxThreads, serveSpec } from '../config/serve-spec.js';
import { resolveThreadCount } from './thread-count.js';
import { UsageError } from '../errors.js';
import { MAX_RATE_LIMIT_KBPS } from '../proto/api-structures.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { startDaemon, type DaemonConfig } from '../daemon.js';
import { loadServeFlags, reloadServeFlags, applyReloadable } from '../config/config-file.js';
import { SystemdNotifier, formatStatus } from '../ops/systemd-notify.js';
import { sdNotify, type CipherName } from '../addon/endpoint.js';
import { UserStore } from '../state/users.js';
import { defaultAdminSocketPath, resolveGroup } from '../api/local-admin.js';
import { hookSettingsFromFlags } from '../hooks/hook-config.js';

/** The API user `--dev` names a superuser (and creates when the user store is empty). */
export const DEV_ADMIN_USER = 'admin';

/** How often the STATUS= line is recomputed; it is sent only when its text changed. */
export const STATUS_POLL_MS = 1000;

/**
 * --dev only: if the user store in `stateDir` holds no users, creates `admin` with a random
 * password and returns that password (the caller prints it once, on the terminal, never in
 * the log). Returns null when users already exist. Never called without --dev.
 */
export async function ensureDevAdmin(stateDir: string): Promise<string | null> {
  const users = await UserStore.open(stateDir);
  if ((await users.count()) > 0) return null;
  const password = randomBytes(12).toString('base64url');
  await users.add(DEV_ADMIN_USER, password);
  return password;
}

/** The superusers a daemon runs with: the configured ones, plus `admin` in --dev mode. */
function effectiveSuperusers(configured: string[], dev: boolean): string[] {
  return dev && !configured.includes(DEV_ADMIN_USER) ? [...configured, DEV_ADMIN_USER] : configured;
}

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
  const directIo = flags['direct-io'] as string;
  if (directIo !== 'auto' && directIo !== 'off') {
    throw new UsageError(`--direct-io: expected 'auto' or 'off', got '${directIo}'`, { flag: 'direct-io' });
  }
  let sandboxDir = flags['sandbox-dir'] as string | undefined;
  let stateDir = flags['persistent-state-dir'] as string | undefined;
  if (dev) {
    sandboxDir ??= path.resolve('.jetrecv', 'received');
    stateDir ??= path.resolve('.jetrecv', 'state');
  }
  if (!sandboxDir)
    throw new UsageError('--sandbox-dir is required: the directory received files are written beneath (or use --dev)', {
      flag: 'sandbox-dir',
    });
  const cert = flags['api-tls-cert'] as string | undefined;
  const key = flags['api-tls-key'] as string | undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--api-tls-cert and --api-tls-key must be given together', { flag: cert ? 'api-tls-key' : 'api-tls-cert' });
  }
  if ((flags['max-transfer-memory'] as number) > (flags['max-receive-memory'] as number)) {
    throw new UsageError(
      `--max-transfer-memory (${flags['max-transfer-memory']}) must not exceed --max-receive-memory (${flags['max-receive-memory']})`,
      { flag: 'max-transfer-memory' },
    );
  }
  const bandwidthLimits = {
    incomingBps: rateLimitFlag(flags, 'incoming-rate-limit'),
    incomingPerSourceBps: rateLimitFlag(flags, 'incoming-rate-limit-per-source'),
  };
  const remote = flags['api-allow-remote-control'] === true;
  const adminSocketPath = flags['admin-socket'] as string | undefined;
  const adminSocketGroup = flags['admin-socket-group'] as string | undefined;
  if (flags['no-admin-socket'] === true && (adminSocketPath !== undefined || adminSocketGroup !== undefined)) {
    throw new UsageError('--no-admin-socket cannot be combined with --admin-socket or --admin-socket-group', { flag: 'no-admin-socket' });
  }
  if (adminSocketGroup !== undefined) {
    try {
      resolveGroup(adminSocketGroup);
    } catch (err) {
      throw new UsageError((err as Error).message, { flag: 'admin-socket-group' });
    }
  }
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
      adminSocket:
        flags['no-admin-socket'] === true
          ? undefined
          : {
              path: adminSocketPath ?? defaultAdminSocketPath(),
              ...(adminSocketGroup !== undefined ? { group: adminSocketGroup } : {}),
              optional: adminSocketPath === undefined,
            },
      rxThreads: resolveThreadCount(flags['rx-threads'] as number | 'auto', kMaxRxThreads),
      socketBufferBytes: flags['socket-buffer'] as number,
      directIo,
      directIoThreads: flags['direct-io-threads'] as number,
      syncOnFinalize: flags['sync-on-finalize'] as boolean,
      maxTransferMemory: flags['max-transfer-memory'] as number,
      maxReceiveMemory: flags['max-receive-memory'] as number,
      earlyBlockBytes: flags['early-block-bytes'] as number,
      minCipher: minCipher as CipherName,
      serverName: flags['server-name'] as string,
      sessionTimeoutMs: flags['session-timeout'] as number,
      resumeRetentionMs: flags['resume-retention'] as number,
      maxFilesPerTransfer: flags['max-files-per-transfer'] as number,
      noTransferTimeoutMs: flags['no-transfer-timeout'] as number,
      maxSessionsPerKey: flags['max-sessions-per-key'] as number,
      maxSessionsPerSource: flags['max-sessions-per-source'] as number,
      bandwidthLimits,
      hooks: hookSettingsFromFlags(flags),
      eventsProgressIntervalMs: flags['events-progress-interval'] as number,
    },
  };
}

/** A receive rate limit flag, bits/s (0 = none), at most MAX_RATE_LIMIT_KBPS. */
function rateLimitFlag(flags: Record<string, unknown>, name: string): number {
  const bps = flags[name] as number;
  if (bps > MAX_RATE_LIMIT_KBPS * 1000) {
    throw new UsageError(`--${name}: at most ${MAX_RATE_LIMIT_KBPS / 1e6}G (bits/s), got ${bps}`, { flag: name });
  }
  return bps;
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
  // --dev: a first-try API user. Created before the daemon starts, so the API sees it.
  const devAdminPassword = dev && config.apiEnabled && config.persistentStateDir ? await ensureDevAdmin(config.persistentStateDir) : null;
  const daemon = await startDaemon({ ...config, superusers: effectiveSuperusers(config.superusers, dev) }, logger);
  const notifier = new SystemdNotifier({ sdNotify, onError: (err) => log.warn({ err: String(err) }, 'sd_notify failed') });
  // READY=1 only now: startDaemon has bound the UDP and API ports and loaded the state.
  let lastStatus = formatStatus(daemon.status());
  notifier.ready(lastStatus);
  notifier.startWatchdog();
  const statusTimer = setInterval(() => {
    const line = formatStatus(daemon.status());
    if (line !== lastStatus) notifier.status(line);
    lastStatus = line;
  }, STATUS_POLL_MS);
  statusTimer.unref();
  if (dev || process.stderr.isTTY) {
    // Run by npm (`npm start`): the command is reachable as `npx jetrecv` in the checkout.
    const cmd = process.env['npm_lifecycle_event'] !== undefined ? 'npx jetrecv' : 'jetrecv';
    const apiPort = daemon.apiPort;
    const apiHostShown = config.apiHost === '0.0.0.0' || config.apiHost === '::' ? '127.0.0.1' : config.apiHost;
    process.stderr.write(
      `\njetrecv is receiving on UDP port ${daemon.recvPort}${apiPort ? `, API on http://${apiHostShown}:${apiPort}` : ''}\n` +
        `  files land beneath: ${daemon.receiver.sandboxRoot}\n` +
        `  server public key:  ${daemon.publicKey}\n\n` +
        `send to it from another terminal with:\n` +
        `  ${cmd} send --to 127.0.0.1:${daemon.recvPort} --server-key ${daemon.publicKey} FILE...\n\n` +
        (daemon.adminSocket !== null
          ? `administer it as root or as this user through the local admin socket ${daemon.adminSocket} (no login):\n` +
            `  ${cmd} api${daemon.adminSocket !== defaultAdminSocketPath() ? ` --admin-socket ${daemon.adminSocket}` : ''} --wait recv.getTransfersAsync\n\n`
          : '') +
        (devAdminPassword !== null && apiPort !== null
          ? `API user created for this state directory (the password is shown only this once):\n` +
            `  user: ${DEV_ADMIN_USER}   password: ${devAdminPassword}   (a superuser in --dev mode)\n` +
            `  try: JETRECV_API_PASSWORD='${devAdminPassword}' ${cmd} api --api-control-port ${apiPort} --user ${DEV_ADMIN_USER} --superuser getServerInfo\n\n`
          : ''),
    );
  }

  // SIGHUP: re-read the config file; apply what can change at runtime, keep the rest.
  process.on('SIGHUP', () => {
    notifier.reloading();
    try {
      const { next, diff } = reloadServeFlags(current);
      const nextConfig = serveConfigFromFlags(next.flags);
      daemon.reload({
        logLevel: nextConfig.logLevel,
        superusers: effectiveSuperusers(nextConfig.config.superusers, dev),
        sessionTimeoutMs: nextConfig.config.sessionTimeoutMs,
        resumeRetentionMs: nextConfig.config.resumeRetentionMs,
        // Only a changed file value replaces what server.updateBandwidthLimits set.
        ...(diff.reloadable.some((c) => c.name.startsWith('incoming-rate-limit'))
          ? { bandwidthLimits: nextConfig.config.bandwidthLimits }
          : {}),
        hooks: nextConfig.config.hooks,
        eventsProgressIntervalMs: nextConfig.config.eventsProgressIntervalMs,
      });
      for (const c of diff.restartRequired)
        log.warn({ setting: c.name, from: c.from, to: c.to }, 'setting changed in the config file but needs a restart');
      current = applyReloadable(current, diff);
      log.info({ changed: diff.reloadable.map((c) => c.name) }, 'configuration reloaded');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'configuration reload refused; the previous configuration stays in force');
    }
    lastStatus = formatStatus(daemon.status());
    notifier.ready(lastStatus);
  });

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      // A second SIGTERM/SIGINT while stopping: exit at once with status 1, skipping the rest
      // of the orderly shutdown (transfers then resume from their last checkpoint).
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting at once');
        process.exit(1); // emits 'exit', on which the logger writes this line (see createLogger)
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
