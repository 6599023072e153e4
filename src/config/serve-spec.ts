// serve-spec.ts — the flags of `jetrecv serve`, shared by the command, the config file
// loader (same names, types and bounds) and the generated docs/OPERATIONS.md reference.
import { hostname } from 'node:os';
import type { CommandSpec } from './args.js';
import { LOG_LEVELS } from '../log.js';
import { TRANSFER_EVENT_TYPES } from '../recv/transfer-events.js';

/** Most RX threads (SO_REUSEPORT sockets) `--rx-threads` takes, also the cap of 'auto'. */
export const kMaxRxThreads = 16;

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'run the receiver daemon',
  usage: 'jetrecv serve --sandbox-dir DIR [options]',
  description:
    'Receives files from authenticated senders over UDP and writes them beneath the sandbox ' +
    'directory, at <sandbox-dir>/<destinationPath>/<path>. Logs are JSON lines on stdout.',
  flags: [
    { name: 'config', type: 'path', valueName: 'FILE', help: 'JSON config file with the same settings as these flags (flags win); re-read on SIGHUP' },
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
    { name: 'superuser', type: 'string', repeatable: true, valueName: 'NAME', help: 'API user allowed to elevate with server.superuser()' },
    { name: 'admin-socket', type: 'path', valueName: 'PATH', help: "local admin socket: the API over a Unix socket where root, the daemon's own user and --admin-socket-group are superusers without a password (default $RUNTIME_DIRECTORY/admin.sock, else for non-root $XDG_RUNTIME_DIR/jetrecv/admin.sock, else /run/jetrecv/admin.sock; the default is skipped with a warning when it cannot be made)" },
    { name: 'admin-socket-group', type: 'string', valueName: 'GROUP', help: 'group (name or gid) whose members may use the admin socket too: the socket becomes 0660 and owned by it (otherwise 0600)' },
    { name: 'no-admin-socket', type: 'bool', help: 'do not serve the local admin socket' },
    { name: 'rx-threads', type: 'int', auto: true, default: 'auto', min: 1, max: kMaxRxThreads, valueName: 'N', help: "receive threads (one SO_REUSEPORT socket each); 'auto': one per core, at most 16. Senders and their lanes take the threads in turn, so more threads pay with more senders or --lanes" },
    { name: 'socket-buffer', type: 'int', default: 64 << 20, min: 65536, max: 2 ** 31 - 1, valueName: 'BYTES', help: 'UDP receive buffer per socket (the kernel may grant less: see net.core.rmem_max)' },
    { name: 'direct-io', type: 'string', default: 'auto', valueName: 'MODE', help: "'auto': write files of 8 MiB or more with O_DIRECT where the file system allows it (not tmpfs), through a 64 MiB staging pool and --direct-io-threads writer threads; 'off': every write goes through the page cache" },
    { name: 'direct-io-threads', type: 'int', default: 2, min: 1, max: 16, valueName: 'N', help: 'O_DIRECT writer threads, each keeping one 1 MiB write in flight: raise it for striped NVMe arrays' },
    { name: 'sync-on-finalize', type: 'bool', default: true, help: "make each received file durable (data synced, renamed, directory synced) before it gets its final name and the sender is told it is done; --no-sync-on-finalize skips the syncs (scratch space only: a power loss may leave a complete-looking file with missing data)" },
    { name: 'max-transfer-memory', type: 'int', default: 256 << 20, min: 1 << 20, max: 2 ** 53 - 1, valueName: 'BYTES', help: 'bookkeeping memory one transfer may reserve (block bitmaps at 1 bit per block, per-file state); a manifest needing more is refused (JETRECV_ERR_RESOURCE): 256 MiB holds 2^31 blocks, e.g. 2.7 TiB in 1416-byte blocks' },
    { name: 'max-receive-memory', type: 'int', default: 1 << 30, min: 1 << 20, max: 2 ** 53 - 1, valueName: 'BYTES', help: 'bookkeeping memory all live transfers together may reserve; a transfer that would go over it is refused until others end (at least --max-transfer-memory)' },
    { name: 'min-cipher', type: 'string', default: 'chacha20-poly1305', valueName: 'CIPHER', help: "weakest data cipher accepted: 'chacha20-poly1305' (both) or 'aes-256-gcm' (AES only)" },
    { name: 'server-name', type: 'string', default: hostname(), valueName: 'NAME', help: 'friendly name reported by getServerInfo' },
    { name: 'session-timeout', type: 'duration', default: '30s', help: 'close a session when its sender is silent this long' },
    { name: 'no-transfer-timeout', type: 'duration', default: '10s', min: 1000, max: 3_600_000, help: "close a session that has no transfer open for this long: a handshake that never asks for a transfer, or a session whose transfers have all ended (a sender asks for its transfer right after the handshake)" },
    { name: 'max-sessions-per-key', type: 'int', default: 32, min: 1, max: 4096, valueName: 'N', help: 'refuse a handshake that would give one sender key more sessions (each `jetrecv send` run is one session); the receiver holds at most 4096 in all' },
    { name: 'max-sessions-per-source', type: 'int', default: 64, min: 1, max: 4096, valueName: 'N', help: 'refuse a handshake that would give one source address (IPv4 address or IPv6 /64, whatever the keys) more sessions; raise it for many senders behind one NAT address' },
    { name: 'max-files-per-transfer', type: 'int', default: 1_000_000, min: 1, max: 1_000_000, valueName: 'N', help: 'refuse a transfer whose manifest lists more files (each costs a partial file and per-file state while open; the protocol allows at most 1000000)' },
    { name: 'incoming-rate-limit', type: 'rate', default: '0', allowZero: true, help: "cap on the receive rate of all senders together, bits/s of UDP payload (e.g. '500M'; 0 = none): shared among the sending sources (sender keys) by max-min fairness and enforced through the rate each sender is told in FEEDBACK, never by dropping; changed live by server.updateBandwidthLimits and SIGHUP" },
    { name: 'incoming-rate-limit-per-source', type: 'rate', default: '0', allowZero: true, help: "cap on the receive rate of one source (all transfers of one sender key), bits/s of UDP payload (0 = none); see --incoming-rate-limit" },
    { name: 'resume-retention', type: 'duration', default: '7d', help: 'drop a resumable transfer whose sender has not come back for this long, and remove its partial files (0 = keep forever); checked at start and hourly' },
    { name: 'hook-command', type: 'string', repeatable: true, valueName: 'ARG', help: 'command run on each transfer event of --hook-events, as an argv (one --hook-command per argument; config file: a JSON array); no shell; the event JSON on stdin and in JETRECV_* variables; runs as the daemon\'s user in the sandbox directory' },
    { name: 'hook-events', type: 'string', repeatable: true, default: [...TRANSFER_EVENT_TYPES], valueName: 'EVENT', help: `transfer events that trigger --hook-command and --webhook-url: any of ${TRANSFER_EVENT_TYPES.join(', ')}` },
    { name: 'hook-timeout', type: 'duration', default: '60s', min: 100, max: 86_400_000, help: 'a hook command still running after this long is killed (its whole process group)' },
    { name: 'hook-concurrency', type: 'int', default: 2, min: 1, max: 64, valueName: 'N', help: 'hook commands running at the same time' },
    { name: 'hook-queue', type: 'int', default: 1000, min: 1, max: 1_000_000, valueName: 'N', help: 'events waiting for a hook command slot; past it events are dropped and counted (jetrecv_hook_jobs_total{result="dropped"})' },
    { name: 'webhook-url', type: 'string', valueName: 'URL', help: 'http:// or https:// URL each transfer event of --hook-events is POSTed to as JSON, signed with --webhook-secret-file' },
    { name: 'webhook-secret-file', type: 'path', valueName: 'FILE', help: 'file holding the webhook secret (required with --webhook-url): X-JetRecv-Signature is sha256=<hex HMAC-SHA256 of the body>; re-read on SIGHUP' },
    { name: 'webhook-timeout', type: 'duration', default: '10s', min: 100, max: 300_000, help: 'an attempt to deliver a webhook without an answer after this long fails' },
    { name: 'webhook-retries', type: 'int', default: 3, min: 0, max: 20, valueName: 'N', help: 'attempts after the first for a webhook that failed (no answer, HTTP 429 or 5xx)' },
    { name: 'webhook-retry-backoff', type: 'duration', default: '1s', min: 10, max: 60_000, help: 'wait before the first webhook retry; doubles at each next one (at most 60 s)' },
    { name: 'webhook-queue', type: 'int', default: 1000, min: 1, max: 1_000_000, valueName: 'N', help: 'events waiting for webhook delivery (one at a time, in order); past it events are dropped and counted' },
    { name: 'events-progress-interval', type: 'duration', default: '1s', min: 100, max: 3_600_000, help: 'how often GET /api/v1/events sends the progress of live transfers' },
    { name: 'log-level', type: 'string', default: 'info', valueName: 'LEVEL', help: `one of ${LOG_LEVELS.join(', ')}` },
    { name: 'dev', type: 'bool', help: "first-try defaults: state and sandbox under ./.jetrecv, API on 127.0.0.1, API user 'admin' a superuser (created with a random password, printed once, when there are no users yet)" },
  ],
};
