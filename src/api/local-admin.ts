// local-admin.ts — the local admin socket: the same HTTP API on a Unix socket in the runtime
// directory, where the operating system authenticates the caller, as Docker's and systemd's
// sockets do. The peer's credentials (SO_PEERCRED, read by the addon when the connection
// is accepted) decide: uid 0, the daemon's own uid, or a member of the configured group gets
// an elevated superuser session for each call (user `local:<name>`), no password or token
// needed; any other process is refused with JETRECV_ERR_LOCAL_ADMIN_REFUSED. The file
// itself is 0600 (0660 and owned by the group when one is configured), so normally nobody
// else can even connect. A socket left by a daemon that died is replaced; one a live process
// answers on is not. The socket is removed on close.
import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PeerCredentials } from '../addon/endpoint.js';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { ApiCallError, ApiErrorCodes } from './api-errors.js';
import { credentialSession, type Session } from './sessions.js';

/** File name of the socket in the runtime directory. */
export const ADMIN_SOCKET_NAME = 'admin.sock';
/** Runtime directory when $RUNTIME_DIRECTORY is not set (systemd sets it from RuntimeDirectory=). */
export const DEFAULT_RUNTIME_DIR = '/run/jetrecv';

/**
 * Where a daemon's socket may be, most specific first: `$RUNTIME_DIRECTORY/admin.sock` (its
 * first entry; systemd's RuntimeDirectory=) when set; else, for a user other than root,
 * `$XDG_RUNTIME_DIR/jetrecv/admin.sock` (a login session's runtime directory); then
 * /run/jetrecv/admin.sock (the service's). The daemon uses the first; `jetrecv api` tries
 * them in order, so a member of --admin-socket-group finds the service's socket too.
 */
export function adminSocketCandidates(env: Record<string, string | undefined> = process.env, uid = process.getuid?.() ?? 0): string[] {
  const runtime = env['RUNTIME_DIRECTORY']?.split(':')[0];
  if (runtime !== undefined && runtime !== '') return [path.join(runtime, ADMIN_SOCKET_NAME)];
  const xdg = env['XDG_RUNTIME_DIR'];
  const service = path.join(DEFAULT_RUNTIME_DIR, ADMIN_SOCKET_NAME);
  return uid !== 0 && xdg !== undefined && xdg !== '' ? [path.join(xdg, 'jetrecv', ADMIN_SOCKET_NAME), service] : [service];
}

/** The daemon's default socket path: the first of {@link adminSocketCandidates}. */
export function defaultAdminSocketPath(env: Record<string, string | undefined> = process.env): string {
  return adminSocketCandidates(env)[0] as string;
}

/** Options of the local admin socket. */
export interface LocalAdminOptions {
  /** Absolute path of the socket. */
  path: string;
  /** A group (name or number) whose members may use the socket too. */
  group?: string;
  /**
   * True for the default path: when the socket cannot be made (no permission for the runtime
   * directory, another daemon holds it) the API runs without it and says so in a warning.
   */
  optional?: boolean;
}

/** A listening local admin socket. */
export interface LocalAdmin {
  readonly path: string;
  /**
   * For a request that came in on the socket: the caller's one-call superuser session, or
   * throws LOCAL_ADMIN_REFUSED for a process that may not use it. Undefined for requests
   * that came in another way (TCP).
   */
  session(socket: net.Socket): Session | undefined;
  /** Stops listening and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

/** What a connection may do: act as `user` (from `remote`, for logs), or nothing, for `refusal`. */
type Verdict = { user: string; remote: string } | { refusal: string };

/** Lines of an /etc/passwd-style file, split into fields. */
function accountLines(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/** The user name of `uid` (from /etc/passwd), or `uid-<n>`. */
function userName(uid: number): string {
  return accountLines('/etc/passwd').find((f) => Number(f[2]) === uid && f[2] !== '')?.[0] ?? `uid-${uid}`;
}

/** The gid of a group given by name or number; throws CONFIG naming the flag if unknown. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  const found = accountLines('/etc/group').find((f) => f[0] === group);
  if (found === undefined || !/^\d+$/.test(found[2] ?? '')) {
    throw new JetrecvError(ErrorCodes.CONFIG, `--admin-socket-group: no group '${group}' in /etc/group`, { flag: 'admin-socket-group' });
  }
  return Number(found[2]);
}

/** Whether process `pid` has `gid` among its groups (/proc/<pid>/status); false if it is gone. */
function processHasGroup(pid: number, gid: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Groups:'));
    return line !== undefined && line.slice(7).trim().split(/\s+/).map(Number).includes(gid);
  } catch {
    return false;
  }
}

/** Resolves when `socketPath` accepts a connection, rejects with the connect error otherwise. */
function probe(socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

/** Removes a socket file no process listens on; throws CONFIG if it is in use or not a socket. */
async function clearStaleSocket(socketPath: string, log: Logger): Promise<void> {
  let st;
  try {
    st = await fsp.lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new JetrecvError(ErrorCodes.CONFIG, `--admin-socket: ${socketPath} exists and is not a socket; not replacing it`, {
      path: socketPath,
    });
  }
  try {
    await probe(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw err;
    await fsp.rm(socketPath, { force: true });
    log.info({ path: socketPath }, 'removed a stale admin socket (no process listened on it)');
    return;
  }
  throw new JetrecvError(
    ErrorCodes.CONFIG,
    `--admin-socket: ${socketPath} is in use by a running process (another jetrecv?); give each daemon its own --admin-socket`,
    { path: socketPath },
  );
}

/**
 * Serves `listener` on a Unix socket at `opts.path`: creates the directory if missing (0755),
 * replaces a stale socket, creates the socket with mode 0600 (0660 owned by `opts.group`).
 * Throws JETRECV_ERR_CONFIG when the path is in use, not a socket, or cannot be created.
 */
export async function listenLocalAdmin(opts: LocalAdminOptions, listener: http.RequestListener, logger: Logger): Promise<LocalAdmin> {
  const log = logger.child({ component: 'local-admin' });
  // Loaded here, not at import: the client side (`jetrecv api`) and a server without the
  // socket do not need the addon.
  const { peerCredentials } = await import('../addon/endpoint.js');
  const socketPath = path.resolve(opts.path);
  const gid = opts.group !== undefined ? resolveGroup(opts.group) : undefined;
  const ownUid = process.getuid?.() ?? -1;
  const permitted = (cred: PeerCredentials): boolean =>
    cred.uid === 0 || cred.uid === ownUid || (gid !== undefined && (cred.gid === gid || processHasGroup(cred.pid, gid)));

  /** Decided once per connection, when it is accepted (the peer process still exists then). */
  const judge = (socket: net.Socket): Verdict => {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    let cred: PeerCredentials;
    try {
      if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no file descriptor');
      cred = peerCredentials(fd);
    } catch (err) {
      log.warn({ err: (err as Error).message }, "local admin socket: cannot read the caller's credentials");
      return { refusal: `the local admin socket could not read the caller's credentials: ${(err as Error).message}` };
    }
    if (!permitted(cred)) {
      log.warn({ uid: cred.uid, gid: cred.gid, pid: cred.pid }, 'local admin socket: caller refused');
      return {
        refusal:
          `the local admin socket is for root, the daemon's user (uid ${ownUid})` +
          (opts.group !== undefined ? ` and members of group '${opts.group}'` : '') +
          `; this process runs as uid ${cred.uid} (gid ${cred.gid}). Use the HTTP API with a user or an API token instead`,
      };
    }
    return { user: `local:${userName(cred.uid)}`, remote: `unix:pid=${cred.pid},uid=${cred.uid}` };
  };
  const verdicts = new WeakMap<net.Socket, Verdict>();
  const server = http.createServer(listener);
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.on('connection', (socket: net.Socket) => verdicts.set(socket, judge(socket)));

  let inode = 0;
  try {
    await fsp.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
    await clearStaleSocket(socketPath, log);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket is created inside listen(): a umask of 0177 makes it 0600 from the start.
      const oldMask = process.umask(0o177);
      try {
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(oldMask);
      }
    });
    if (gid !== undefined) {
      await fsp.chown(socketPath, -1, gid);
      await fsp.chmod(socketPath, 0o660);
    }
    inode = (await fsp.stat(socketPath)).ino;
  } catch (err) {
    server.close();
    if (err instanceof JetrecvError) throw err;
    throw new JetrecvError(ErrorCodes.CONFIG, `--admin-socket: cannot listen on ${socketPath}: ${(err as Error).message}`, {
      path: socketPath,
    });
  }
  server.on('error', (err) => log.error({ err }, 'admin socket server error'));
  log.info({ path: socketPath, group: opts.group ?? null }, 'local admin socket listening');

  let closing: Promise<void> | undefined;
  return {
    path: socketPath,
    session(socket) {
      const verdict = verdicts.get(socket);
      if (verdict === undefined) return undefined;
      if ('refusal' in verdict) throw new ApiCallError(ApiErrorCodes.LOCAL_ADMIN_REFUSED, verdict.refusal);
      return credentialSession('local', verdict.user, true, verdict.remote);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }).then(async () => {
        // Only our own socket: a successor daemon may have replaced it already.
        const st = await fsp.lstat(socketPath).catch(() => undefined);
        if (st !== undefined && st.ino === inode) await fsp.rm(socketPath, { force: true });
      });
      return closing;
    },
  };
}
