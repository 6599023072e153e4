// server.ts — the HTTP(S) server of the API: one route per method,
// `POST /api/v1/<namespace>.<method>` with a JSON object body of named parameters, the
// session token in `Authorization: Bearer <token>`, JSON answers and JSON errors
// (`{ "error": { "code", "message" } }`). Bound to 127.0.0.1 unless allowRemoteControl.
// Every fault in one call becomes an error answer for that call; the server keeps serving.
// Routes: POST /api/v1/<method> (GET too for server.getServerInfo), GET /api/v1/openapi.json,
// GET /metrics when a metrics source is given, GET /ui (the read-only status page, static
// files: ui-route.ts), GET /api/v1/events when an event source is given (event-stream.ts).
// docs/API.md describes the behaviour.
// The same routes are served on the local admin socket when one is configured
// (local-admin.ts), and API tokens (tokens.ts) are accepted wherever session tokens are.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { ApiTokenStore } from '../state/api-tokens.js';
import type { UserStore } from '../state/users.js';
import { ApiCallError, ApiErrorCodes, errorBodyFor, httpStatusForCode } from './api-errors.js';
import { findMethod, METHODS, type MethodSpec } from './catalog.js';
import { listenLocalAdmin, type LocalAdmin, type LocalAdminOptions } from './local-admin.js';
import { LoginLimiter, type LoginLimiterOptions } from './login-limiter.js';
import { EVENTS_PATH, EVENTS_ROUTE, EventStreams, type EventStreamOptions, type EventStreamStats } from './event-stream.js';
import { createHandlers, NO_USERS_MESSAGE, type CallContext } from './methods.js';
import { buildOpenApiDocument } from './openapi.js';
import { validateParams } from './params.js';
import type { RecvBackend } from './recv-backend.js';
import { RequestQueue } from './requests.js';
import { maySuperuser, SessionStore, type Session } from './sessions.js';
import { loadStatusPage, UI_HEADERS } from './ui-route.js';
import type { ServerInfo, ServerInfoBase } from '../proto/api-structures.js';
import { createTokenHandlers, tokenSession } from './tokens.js';

/** Version of the HTTP API: the N in /api/vN/. */
export const API_VERSION = 1;
/** Path prefix of every method route. */
export const API_PREFIX = '/api/v1/';
/** Default largest accepted request body. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** Past this many bytes of an oversized body we stop draining it and close the connection. */
const MAX_DRAIN_BYTES = 1024 * 1024;

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  /** Interface to bind when allowRemoteControl is true (ignored otherwise: 127.0.0.1). */
  host: string;
  /** TCP port; 0 picks a free one (see ApiServer.port). */
  port: number;
  /** PEM file paths; with them the API speaks HTTPS. */
  tls?: { cert: string; key: string };
  allowRemoteControl: boolean;
  backend: RecvBackend;
  users: UserStore;
  /** API tokens (default: an empty store in memory). */
  tokens?: ApiTokenStore;
  /** Also serve the API on this local admin socket (local-admin.ts). */
  localAdmin?: LocalAdminOptions;
  /** Users named by --superuser. A Set is used live: the daemon may change it on SIGHUP. */
  superusers: string[] | Set<string>;
  logger: Logger;
  /** Daemon-supplied part of server.getServerInfo(), called per call. */
  serverInfo: () => ServerInfoBase;
  /** Request records: kept maxAgeMs after finishing (default 10 min), at most maxCount (10,000). */
  requestRetention?: { maxAgeMs: number; maxCount: number };
  /** Requests processing at the same time (default 8). */
  requestConcurrency?: number;
  /** Session idle timeout, ms (default 30 minutes). */
  sessionIdleTimeoutMs?: number;
  /** Failed-login throttling (defaults: 5 free attempts, then 1 s doubling up to 15 min). */
  loginRateLimit?: LoginLimiterOptions;
  /** Largest request body, bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /** Prometheus text for GET /metrics; without it /metrics is 404. */
  metrics?: () => string | Promise<string>;
  /** Transfer events for GET /api/v1/events; without it that route is 404. */
  events?: EventStreamOptions;
}

/** A running API server. */
export interface ApiServer {
  /** The bound TCP port. */
  readonly port: number;
  /** The bound address (127.0.0.1 unless allowRemoteControl). */
  readonly host: string;
  /** Path of the local admin socket, when one is served. */
  readonly adminSocket: string | null;
  /** Stops accepting calls, ends waiting getRequestResult calls and closes connections. Idempotent. */
  close(): Promise<void>;
  /** Clients of GET /api/v1/events, for /metrics. */
  eventStreamStats(): EventStreamStats;
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new JetrecvError(ErrorCodes.CONFIG, `cannot read the API TLS ${what} ${file}: ${(err as Error).message}`, {
      path: file,
    });
  }
}

/** Reads the body up to `limit` bytes. Resolves undefined for an empty body. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    const tooLargeError = (): ApiCallError =>
      new ApiCallError(ApiErrorCodes.BODY_TOO_LARGE, `request body is larger than the limit of ${limit} bytes`);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
      else if (size > limit + MAX_DRAIN_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLargeError());
      }
    });
    req.on('end', () => {
      if (tooLarge) reject(tooLargeError());
      else resolve(size === 0 ? undefined : Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** Parses a JSON body; throws BAD_REQUEST naming the problem. */
function parseJsonBody(body: Buffer | undefined, method: string): unknown {
  if (body === undefined) return undefined;
  const text = body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiCallError(ApiErrorCodes.BAD_REQUEST, `${method}: the request body is not valid JSON (${(err as Error).message})`);
  }
}

/** A method name close to an unknown one, for the 404 message. */
function suggestMethod(name: string): string | undefined {
  const lower = name.toLowerCase();
  const bare = lower.includes('.') ? lower.slice(lower.indexOf('.') + 1) : lower;
  return METHODS.find((m) => m.name.toLowerCase() === lower || m.name.toLowerCase().endsWith(`.${bare}`))?.name;
}

/**
 * Starts the API server. Rejects with JETRECV_ERR_CONFIG if the TLS files cannot be read or
 * the address cannot be bound.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.logger.child({ component: 'api' });
  const bindHost = opts.allowRemoteControl ? opts.host : '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const superusers = opts.superusers instanceof Set ? opts.superusers : new Set(opts.superusers);

  let tlsOptions: { cert: string; key: string } | undefined;
  let certificateExpiresMs: number | null = null;
  if (opts.tls !== undefined) {
    const cert = await readPem(opts.tls.cert, 'certificate');
    const key = await readPem(opts.tls.key, 'key');
    try {
      certificateExpiresMs = Date.parse(new X509Certificate(cert).validTo);
    } catch (err) {
      throw new JetrecvError(
        ErrorCodes.CONFIG,
        `the API TLS certificate ${opts.tls.cert} is not a PEM certificate: ${(err as Error).message}`,
        {
          path: opts.tls.cert,
        },
      );
    }
    tlsOptions = { cert, key };
  }
  if (opts.allowRemoteControl && tlsOptions === undefined) {
    log.warn({ host: bindHost }, 'remote API control is on without TLS: passwords and tokens cross the network in clear');
  }
  if ((await opts.users.count()) === 0) log.warn(NO_USERS_MESSAGE);
  for (const name of superusers) {
    if ((await opts.users.get(name)) === undefined) log.warn({ user: name }, 'a --superuser names a user that does not exist (yet)');
  }

  const sessions = new SessionStore(opts.sessionIdleTimeoutMs !== undefined ? { idleTimeoutMs: opts.sessionIdleTimeoutMs } : {});
  const requests = new RequestQueue({
    ...(opts.requestRetention ?? {}),
    ...(opts.requestConcurrency !== undefined ? { concurrency: opts.requestConcurrency } : {}),
    onInternalError: (err, method, requestId) => log.error({ err, method, requestId }, 'request failed with an internal error'),
  });
  const limiter = new LoginLimiter(opts.loginRateLimit);
  let boundPort = opts.port;

  const fullServerInfo = (): ServerInfo => {
    const base = opts.serverInfo();
    const clients = opts.backend.authorizedClients;
    const keys = clients.list();
    const baseReceiver = typeof base.receiver === 'object' && base.receiver !== null ? (base.receiver as Record<string, unknown>) : {};
    return {
      ...base,
      allowRemoteControl: opts.allowRemoteControl,
      apiControlPort: boundPort,
      apiVersion: API_VERSION,
      authRequired: true,
      APITokensAvailable: true,
      bandwidthLimits: opts.backend.getBandwidthLimits(),
      certificateValidation: certificateExpiresMs === null ? null : Math.floor((certificateExpiresMs - Date.now()) / 86_400_000),
      receiver: {
        ...baseReceiver,
        onlyAuthorizedClientsAllowed: clients.allowOnly,
        authorizedClientCount: keys.length,
        authorizedClients: keys,
      },
      sessionUser: null,
      sessionSuperuser: false,
    };
  };

  const tokens = opts.tokens ?? (await ApiTokenStore.open(undefined));
  const handlers = {
    ...createHandlers({
      backend: opts.backend,
      users: opts.users,
      sessions,
      limiter,
      requests,
      superusers,
      logger: log,
      serverInfo: fullServerInfo,
    }),
    ...createTokenHandlers(tokens, log),
  };
  let localAdmin: LocalAdmin | undefined;
  const openApiJson = JSON.stringify(buildOpenApiDocument(), null, 2);
  const eventStreams = opts.events !== undefined ? new EventStreams(opts.events, log) : null;
  const statusPage = await loadStatusPage(undefined, (problem) => log.warn(problem));

  /** Applies the method's access rule to an authenticated session. */
  const checkAccess = (session: Session, method: MethodSpec): Session => {
    if (method.access === 'superuser') {
      if (!maySuperuser(session, superusers)) {
        throw new ApiCallError(
          ApiErrorCodes.NOT_SUPERUSER,
          `${method.name} is for superusers only; user '${session.user}' is not one (the daemon names superusers with --superuser NAME; API tokens are superusers when created with superuser=true)`,
        );
      }
      if (!session.elevated) {
        throw new ApiCallError(
          ApiErrorCodes.NOT_ELEVATED,
          `${method.name} is for superusers only: call server.superuser() first to elevate this session`,
        );
      }
    }
    return session;
  };

  /** Finds the caller's session and applies the method's access rule. */
  const authenticate = async (req: http.IncomingMessage, method: MethodSpec): Promise<Session | undefined> => {
    // On the local admin socket the process credentials authenticate (a refused process gets
    // nothing, not even a login); a header is ignored.
    const local = localAdmin?.session(req.socket);
    if (method.name === 'server.auth' || method.name === 'server.authAsync') return undefined;
    if (local !== undefined) return checkAccess(local, method);
    const header = req.headers.authorization;
    if (header === undefined) {
      if (method.access === 'public') return undefined;
      throw new ApiCallError(
        ApiErrorCodes.UNAUTHENTICATED,
        `${method.name} needs a session: log in with server.auth and send "Authorization: Bearer <token>" (a session or an API token)`,
      );
    }
    const match = /^Bearer +([A-Za-z0-9_-]{1,200})$/i.exec(header.trim());
    if (match === null) {
      throw new ApiCallError(ApiErrorCodes.UNAUTHENTICATED, 'malformed Authorization header: expected "Bearer <token>"');
    }
    const found = sessions.lookup(match[1] as string);
    if ('problem' in found && found.problem === 'unknown') {
      const byToken = tokenSession(tokens, match[1] as string, req.socket.remoteAddress ?? 'unknown');
      if (byToken !== undefined) return checkAccess(byToken, method);
    }
    if ('problem' in found) {
      throw new ApiCallError(
        ApiErrorCodes.UNAUTHENTICATED,
        found.problem === 'expired'
          ? `session token expired (idle for ${Math.round(sessions.idleTimeoutMs / 60_000)} min or older than ${Math.round(sessions.maxLifetimeMs / 3_600_000)} h); log in again with server.auth`
          : 'unknown session token (logged out, expired or from before a restart; log in again with server.auth), and not a live API token (revoked?)',
      );
    }
    const session = found.session;
    if (session.state === 'authenticating') {
      if (method.name === 'server.getRequestStatus' || method.name === 'server.getRequestResult') return session;
      if (method.access === 'public') return undefined;
      throw new ApiCallError(
        ApiErrorCodes.UNAUTHENTICATED,
        `this token is still authenticating (server.authAsync request ${session.authRequestId}); wait for that request to complete`,
      );
    }
    const user = await opts.users.get(session.user);
    if (user === undefined || user.passwordChangedTime > session.createdMs * 1000) {
      sessions.delete(session);
      throw new ApiCallError(
        ApiErrorCodes.UNAUTHENTICATED,
        user === undefined
          ? `session ended: user '${session.user}' no longer exists`
          : `session ended: the password of '${session.user}' changed; log in again`,
      );
    }
    return checkAccess(session, method);
  };

  let closing: Promise<void> | undefined;
  const send = (res: http.ServerResponse, status: number, body: string, contentType = 'application/json; charset=utf-8'): void => {
    if (res.headersSent || res.destroyed) return;
    if (closing !== undefined) res.setHeader('Connection', 'close');
    res.statusCode = status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };

  const sendError = (res: http.ServerResponse, err: unknown, context: Record<string, unknown>): number => {
    const body = errorBodyFor(err);
    const status = err instanceof ApiCallError ? err.httpStatus : httpStatusForCode(body.code);
    if (body.code === ApiErrorCodes.INTERNAL) log.error({ err, ...context }, 'internal error in API call');
    if (err instanceof ApiCallError && err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="jetrecv"');
    if (status === 413) res.setHeader('Connection', 'close');
    send(res, status, JSON.stringify({ error: body }));
    return status;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = performance.now();
    const remoteAddress = req.socket.remoteAddress ?? 'unknown';
    let route = '';
    let status = 200;
    let user: string | undefined;
    try {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      route = pathname;
      if (pathname === '/metrics' && opts.metrics !== undefined) {
        if (req.method !== 'GET') {
          res.setHeader('Allow', 'GET');
          throw new ApiCallError(ApiErrorCodes.HTTP_METHOD, `${pathname} accepts GET only`);
        }
        send(res, 200, await opts.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
        return;
      }
      if (statusPage.handles(pathname)) {
        const file = statusPage.file(pathname);
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.setHeader('Allow', 'GET, HEAD');
          throw new ApiCallError(ApiErrorCodes.HTTP_METHOD, `${pathname} accepts GET and HEAD only`);
        }
        for (const [name, value] of Object.entries(UI_HEADERS)) res.setHeader(name, value);
        send(res, 200, file.body, file.contentType);
        return;
      }
      if (pathname === `${API_PREFIX}openapi.json`) {
        if (req.method !== 'GET') {
          res.setHeader('Allow', 'GET');
          throw new ApiCallError(ApiErrorCodes.HTTP_METHOD, `${pathname} accepts GET only`);
        }
        send(res, 200, openApiJson);
        return;
      }
      if (pathname === EVENTS_PATH && eventStreams !== null) {
        if (req.method !== 'GET') {
          res.setHeader('Allow', 'GET');
          throw new ApiCallError(ApiErrorCodes.HTTP_METHOD, `${pathname} accepts GET only`);
        }
        const session = await authenticate(req, EVENTS_ROUTE);
        if (session === undefined) throw new Error('events route without a session'); // 'session' access: authenticate threw
        user = session.user;
        // Checked again at each tick, the way every call is: the stream keeps its session in
        // use and ends when the session does (logout, lifetime, user removed).
        eventStreams.serve(res, () =>
          authenticate(req, EVENTS_ROUTE).then(
            () => true,
            () => false,
          ),
        );
        return;
      }
      if (!pathname.startsWith(API_PREFIX)) {
        throw new ApiCallError(
          ApiErrorCodes.NOT_FOUND,
          `no route ${pathname}: methods are POST ${API_PREFIX}<namespace>.<method>, described at GET ${API_PREFIX}openapi.json; the status page is GET /ui`,
        );
      }
      let name: string;
      try {
        name = decodeURIComponent(pathname.slice(API_PREFIX.length));
      } catch {
        name = pathname.slice(API_PREFIX.length);
      }
      const method = findMethod(name);
      route = name;
      if (method === undefined) {
        const suggestion = suggestMethod(name);
        throw new ApiCallError(
          ApiErrorCodes.UNKNOWN_METHOD,
          `unknown method '${name.slice(0, 100)}'${suggestion !== undefined ? ` (did you mean ${suggestion}?)` : ''}; the methods are listed at GET ${API_PREFIX}openapi.json`,
        );
      }
      const isGet = req.method === 'GET' && method.allowGet;
      if (req.method !== 'POST' && !isGet) {
        res.setHeader('Allow', method.allowGet ? 'GET, POST' : 'POST');
        throw new ApiCallError(
          ApiErrorCodes.HTTP_METHOD,
          `${method.name} must be called with POST${method.allowGet ? ' or GET' : ''}, not ${req.method}`,
        );
      }
      const body = parseJsonBody(await readBody(req, maxBody), method.name);
      const session = await authenticate(req, method);
      user = session?.user;
      const params = validateParams(method, body);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const call: CallContext = { session, remoteAddress, signal: abort.signal };
      const handler = handlers[method.name];
      if (handler === undefined) throw new Error(`no handler for ${method.name}`);
      const result = await handler(params, call);
      send(res, 200, JSON.stringify(result ?? null));
    } catch (err) {
      status = sendError(res, err, { route, remoteAddress });
    } finally {
      log.debug({ route, httpMethod: req.method, status, user, remoteAddress, ms: Math.round(performance.now() - started) }, 'api call');
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'API call handler failed');
      if (!res.headersSent) sendError(res, err, {});
      else res.destroy();
    });
  };
  const server: http.Server = tlsOptions !== undefined ? https.createServer(tlsOptions, listener) : http.createServer(listener);
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ err: err.message, code: err.code }, 'malformed HTTP from client');
    if (socket.writable && !socket.destroyed && err.code !== 'ECONNRESET') {
      const body = JSON.stringify({ error: { code: ApiErrorCodes.BAD_REQUEST, message: 'malformed HTTP request' } });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
  });
  if (tlsOptions !== undefined) {
    server.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake with an API client failed'));
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new JetrecvError(ErrorCodes.CONFIG, `cannot listen for the API on ${bindHost}:${opts.port}: ${err.message}`, {
          host: bindHost,
          port: opts.port,
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, bindHost, () => {
      server.off('error', onError);
      server.on('error', (err) => log.error({ err }, 'API server error'));
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  if (opts.localAdmin !== undefined) {
    try {
      localAdmin = await listenLocalAdmin(opts.localAdmin, listener, log);
    } catch (err) {
      if (opts.localAdmin.optional === true) {
        log.warn({ path: opts.localAdmin.path, err: (err as Error).message }, 'no local admin socket: the API is served over TCP only');
      } else {
        server.close();
        throw err;
      }
    }
  }
  const sessionSweep = setInterval(() => sessions.sweep(), 60_000);
  sessionSweep.unref();
  log.info({ host: bindHost, port: boundPort, tls: tlsOptions !== undefined }, 'API listening');

  return {
    port: boundPort,
    host: bindHost,
    adminSocket: localAdmin?.path ?? null,
    eventStreamStats: () => eventStreams?.stats() ?? { clients: 0, slowDisconnects: 0 },
    close(): Promise<void> {
      closing ??= Promise.all([
        new Promise<void>((resolve) => {
          clearInterval(sessionSweep);
          requests.close();
          eventStreams?.closeAll();
          server.close(() => resolve());
          server.closeIdleConnections();
          // Calls in flight get a moment to send their answer, then connections are cut.
          setTimeout(() => server.closeAllConnections(), 1000).unref();
        }),
        localAdmin?.close(),
      ]).then(() => undefined);
      return closing;
    },
  };
}
