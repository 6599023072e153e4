// client/index.ts — TypeScript client of the jetrecv API (package export `jetrecv/client`).
// Same method names as the server: client.server.auth(...), client.recv.getSourcesAsync(),
// ... Every call is one HTTP POST to /api/v1/<namespace>.<method>; the session token from
// auth() is kept and sent as a Bearer token. Errors are thrown as ApiError { code, status,
// message }. *Async methods answer a typed request handle; client.wait(handle) returns the
// request's result (or throws its error). client.events() iterates GET /api/v1/events.
import * as http from 'node:http';
import * as https from 'node:https';
import { ApiErrorCodes } from '../api/api-errors.js';
import type {
  BandwidthLimitsStructure,
  AddAuthorizedClientResult,
  AllowOnlyResult,
  ApiTokenStructure,
  CreateApiTokenResult,
  DeleteApiTokenResult,
  ApiErrorBody,
  AuthAsyncStructure,
  AuthorizedClientsResult,
  AuthResult,
  ReceiveTransferStructure,
  RemoveAuthorizedClientResult,
  RequestResult,
  RequestStatus,
  RequestStructure,
  ServerInfo,
  SourceStructure,
  SuperuserResult,
} from '../proto/api-structures.js';

import type { StreamEvent } from '../api/event-stream.js';

export type * from '../proto/api-structures.js';
export type { StreamEvent, ProgressEvent } from '../api/event-stream.js';
export type { TransferEvent, TransferEventType, TransferEventFile } from '../recv/transfer-events.js';
export { ApiErrorCodes } from '../api/api-errors.js';

/** Default API port (TCP 8886, as JetStream). */
export const DEFAULT_API_PORT = 8886;

/** Options of {@link JetrecvClient}. */
export interface JetrecvClientOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 8886. */
  port?: number;
  /**
   * Speak HTTP over this Unix socket instead of TCP (host, port and tls are then unused):
   * the daemon's local admin socket, where the OS credentials of this process authenticate.
   */
  socketPath?: string;
  /** Use HTTPS; an object may carry the CA certificate(s) (PEM) to trust, e.g. a self-signed one. */
  tls?: boolean | { ca?: string | Buffer };
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** A session token from an earlier auth(), or an API token (server.createAPIToken). */
  token?: string;
  /** How long one call may take before it fails, ms (default 60 s; getRequestResult adds its wait). */
  callTimeoutMs?: number;
}

/** A request handle as answered by a `*Async` method; `T` is the type of its result. */
export interface AsyncRequest<T> extends RequestStructure {
  /** Type marker only; never present at run time. */
  readonly __result?: T;
}

/** A request id in either accepted form. */
export type RequestRef = number | RequestStructure;

/** An error answered by the API (or a failure to reach it: status 0). */
export class ApiError extends Error {
  /** Stable code, JETRECV_ERR_*. */
  readonly code: string;
  /** HTTP status; 0 when the API could not be reached or answered garbage. */
  readonly status: number;
  /** For errors about one request. */
  readonly requestId?: number;
  /** For parameter errors. */
  readonly parameter?: string;

  constructor(code: string, status: number, message: string, extras: { requestId?: number; parameter?: string } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    if (extras.requestId !== undefined) this.requestId = extras.requestId;
    if (extras.parameter !== undefined) this.parameter = extras.parameter;
  }

  /** The JSON form printed by `jetrecv api`. */
  toJSON(): { error: ApiErrorBody & { status: number } } {
    const body: ApiErrorBody & { status: number } = { code: this.code, message: this.message, status: this.status };
    if (this.requestId !== undefined) body.requestId = this.requestId;
    if (this.parameter !== undefined) body.parameter = this.parameter;
    return { error: body };
  }
}

function requestIdOf(ref: RequestRef): number {
  return typeof ref === 'number' ? ref : ref.requestId;
}

/** `server.*` methods. */
export class ServerMethods {
  constructor(private readonly client: JetrecvClient) {}

  /** Logs in and keeps the session token for later calls. */
  async auth(user: string, password: string): Promise<AuthResult> {
    const result = await this.client.call<AuthResult>('server.auth', { user, password });
    this.client.token = result.token;
    return result;
  }

  /** Logs in as a request; keeps the token (usable for this request until it completes). */
  async authAsync(user: string, password: string): Promise<AsyncRequest<Omit<AuthResult, 'token'>> & AuthAsyncStructure> {
    const result = await this.client.call<AuthAsyncStructure>('server.authAsync', { user, password });
    this.client.token = result.token;
    return result;
  }

  /** Elevates the session (user must be named by --superuser). */
  superuser(): Promise<SuperuserResult> {
    return this.client.call('server.superuser');
  }

  /** Ends the session and forgets the token. */
  async logout(): Promise<void> {
    await this.client.call('server.logout');
    this.client.token = undefined;
  }

  getServerInfo(): Promise<ServerInfo> {
    return this.client.call('server.getServerInfo');
  }

  /** Creates a named API token (superuser); the answer's `token` is shown only this once. */
  createAPIToken(name: string, options: { superuser?: boolean } = {}): Promise<CreateApiTokenResult> {
    return this.client.call('server.createAPIToken', {
      name,
      ...(options.superuser !== undefined ? { superuser: options.superuser } : {}),
    });
  }

  /** The API tokens, without secrets (superuser). */
  getAPITokens(): Promise<ApiTokenStructure[]> {
    return this.client.call('server.getAPITokens');
  }

  /** Revokes the token named `name` (superuser); it stops working at once. */
  deleteAPIToken(name: string): Promise<DeleteApiTokenResult> {
    return this.client.call('server.deleteAPIToken', { name });
  }

  /** Changes the receive rate limits live (superuser); kbit/s, 0 = none, an absent one keeps its value. */
  updateBandwidthLimits(limits: Partial<BandwidthLimitsStructure>): Promise<BandwidthLimitsStructure> {
    return this.client.call('server.updateBandwidthLimits', { ...limits });
  }

  getRequestStatus(request: RequestRef): Promise<RequestStatus> {
    return this.client.call('server.getRequestStatus', { requestId: requestIdOf(request) });
  }

  /** Waits up to `timeoutMs` (server default 30 s, max 300 s) for the request's result. */
  getRequestResult<T = unknown>(request: AsyncRequest<T> | RequestRef, timeoutMs?: number): Promise<RequestResult<T>> {
    const params: Record<string, unknown> = { requestId: requestIdOf(request) };
    if (timeoutMs !== undefined) params.timeoutMs = timeoutMs;
    return this.client.call('server.getRequestResult', params, { extraTimeoutMs: timeoutMs ?? 30_000 });
  }
}

/** `recv.*` methods (RecvInterface). */
export class RecvMethods {
  constructor(private readonly client: JetrecvClient) {}

  addAuthorizedClientAsync(clientPublicKey: string | { clientPublicKey: string }): Promise<AsyncRequest<AddAuthorizedClientResult>> {
    return this.client.call('recv.addAuthorizedClientAsync', { clientPublicKey });
  }

  removeAuthorizedClientAsync(clientPublicKey: string | { clientPublicKey: string }): Promise<AsyncRequest<RemoveAuthorizedClientResult>> {
    return this.client.call('recv.removeAuthorizedClientAsync', { clientPublicKey });
  }

  allowOnlyAuthorizedClientsAsync(
    onlyAuthorizedClientsAllowed: boolean | { onlyAuthorizedClientsAllowed: boolean },
  ): Promise<AsyncRequest<AllowOnlyResult>> {
    return this.client.call('recv.allowOnlyAuthorizedClientsAsync', { onlyAuthorizedClientsAllowed });
  }

  /** jetrecv extra: the list and the allow-only flag (superuser). */
  getAuthorizedClientsAsync(): Promise<AsyncRequest<AuthorizedClientsResult>> {
    return this.client.call('recv.getAuthorizedClientsAsync');
  }

  getSourcesAsync(): Promise<AsyncRequest<SourceStructure[]>> {
    return this.client.call('recv.getSourcesAsync');
  }

  getTransfersAsync(): Promise<AsyncRequest<ReceiveTransferStructure[]>> {
    return this.client.call('recv.getTransfersAsync');
  }
}

/** Client of one jetrecv API server. */
export class JetrecvClient {
  /** Session token sent with every call (set by server.auth / server.authAsync). */
  token: string | undefined;
  readonly server: ServerMethods;
  readonly recv: RecvMethods;
  readonly host: string;
  readonly port: number;
  /** Set when the client talks over a Unix socket. */
  readonly socketPath: string | undefined;
  private readonly useTls: boolean;
  private readonly agent: http.Agent;
  private readonly callTimeoutMs: number;

  constructor(options: JetrecvClientOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? DEFAULT_API_PORT;
    this.socketPath = options.socketPath;
    this.token = options.token;
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.useTls = options.socketPath === undefined && options.tls !== undefined && options.tls !== false;
    const ca = typeof options.tls === 'object' ? options.tls.ca : undefined;
    this.agent = this.useTls
      ? new https.Agent({ keepAlive: true, rejectUnauthorized: options.rejectUnauthorized ?? true, ...(ca !== undefined ? { ca } : {}) })
      : new http.Agent({ keepAlive: true });
    this.server = new ServerMethods(this);
    this.recv = new RecvMethods(this);
  }

  /** Base URL, for messages. */
  get url(): string {
    if (this.socketPath !== undefined) return `http+unix://${this.socketPath}`;
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.useTls ? 'https' : 'http'}://${host}:${this.port}`;
  }

  /**
   * Waits for an async request and returns its result, calling getRequestResult until the
   * request finishes or `timeoutMs` (default 5 minutes) passed. Throws the request's error
   * if it failed, ApiError JETRECV_ERR_REQUEST_TIMEOUT if it is still running at the end.
   */
  async wait<T>(request: AsyncRequest<T> | RequestRef, timeoutMs = 300_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      try {
        const answer = await this.server.getRequestResult<T>(request as AsyncRequest<T>, Math.min(left, 30_000));
        return answer.result;
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== ApiErrorCodes.REQUEST_TIMEOUT || Date.now() >= deadline) throw err;
      }
    }
  }

  /**
   * Calls any method by full name with named parameters; answers the parsed JSON result.
   * Throws ApiError for error answers and for network failures (status 0).
   */
  call<T = unknown>(method: string, params: Record<string, unknown> = {}, options: { extraTimeoutMs?: number } = {}): Promise<T> {
    const body = JSON.stringify(params);
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      Accept: 'application/json',
    };
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    const requestOptions: http.RequestOptions = {
      ...(this.socketPath !== undefined ? { socketPath: this.socketPath } : { host: this.host, port: this.port }),
      method: 'POST',
      path: `/api/v1/${encodeURIComponent(method)}`,
      headers,
      agent: this.agent,
      timeout: this.callTimeoutMs + (options.extraTimeoutMs ?? 0),
    };
    return new Promise<T>((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage): void => {
        this.readAnswer(method, res).then((v) => resolve(v as T), reject);
      };
      const req = this.useTls ? https.request(requestOptions, onResponse) : http.request(requestOptions, onResponse);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${requestOptions.timeout} ms`)));
      req.on('error', (err) => reject(this.unreachable(method, err)));
      req.end(body);
    });
  }

  /**
   * GET /api/v1/events: the transfer events (transferStarted, fileComplete, transferComplete,
   * transferFailed, transferCancelled) and `progress` events, as they happen, until the server
   * ends the stream, the loop breaks or `signal` aborts (then the iteration just ends). Needs a
   * session (auth first). No replay: after a reconnect, getTransfersAsync tells what was missed.
   */
  async *events(options: { signal?: AbortSignal } = {}): AsyncGenerator<StreamEvent, void, undefined> {
    const headers: http.OutgoingHttpHeaders = { Accept: 'text/event-stream' };
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    const requestOptions: http.RequestOptions = {
      host: this.host,
      port: this.port,
      method: 'GET',
      path: '/api/v1/events',
      headers,
      agent: this.agent,
    };
    if (options.signal !== undefined) requestOptions.signal = options.signal;
    let res: http.IncomingMessage;
    try {
      res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = this.useTls ? https.request(requestOptions, resolve) : http.request(requestOptions, resolve);
        req.on('error', (err) => reject(this.unreachable('events', err)));
        req.end();
      });
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
    if (res.statusCode !== 200) {
      await this.readAnswer('events', res);
      throw new ApiError(
        ApiErrorCodes.BAD_RESPONSE,
        res.statusCode ?? 0,
        `events: the server at ${this.url} answered HTTP ${res.statusCode}`,
      );
    }
    res.setEncoding('utf8');
    let pending = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        pending += chunk;
        for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).replace(/^ /, ''))
            .join('\n');
          if (data !== '') yield JSON.parse(data) as StreamEvent;
        }
      }
    } catch (err) {
      if (!options.signal?.aborted) throw this.unreachable('events', err as Error);
    } finally {
      res.destroy();
    }
  }

  /** Reads an answer: its JSON for 2xx, else throws the ApiError it carries. */
  private readAnswer(method: string, res: http.IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(this.unreachable(method, err)));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text === '' ? null : JSON.parse(text);
        } catch {
          reject(
            new ApiError(
              ApiErrorCodes.BAD_RESPONSE,
              status,
              `${method}: the server at ${this.url} answered HTTP ${status} with a body that is not JSON`,
            ),
          );
          return;
        }
        if (status >= 200 && status < 300) {
          resolve(parsed);
          return;
        }
        const error = (parsed as { error?: Partial<ApiErrorBody> } | null)?.error;
        if (error === undefined || typeof error.code !== 'string') {
          reject(
            new ApiError(
              ApiErrorCodes.BAD_RESPONSE,
              status,
              `${method}: the server at ${this.url} answered HTTP ${status} without an error object`,
            ),
          );
          return;
        }
        const extras: { requestId?: number; parameter?: string } = {};
        if (typeof error.requestId === 'number') extras.requestId = error.requestId;
        if (typeof error.parameter === 'string') extras.parameter = error.parameter;
        reject(new ApiError(error.code, status, String(error.message ?? ''), extras));
      });
    });
  }

  /** Closes kept-alive connections. The client can still be used afterwards. */
  close(): void {
    this.agent.destroy();
  }

  private unreachable(method: string, err: Error): ApiError {
    const code = (err as NodeJS.ErrnoException).code;
    return new ApiError(
      ApiErrorCodes.UNREACHABLE,
      0,
      `${method}: cannot reach the jetrecv API at ${this.url}: ${err.message}${code !== undefined && !err.message.includes(code) ? ` (${code})` : ''}`,
    );
  }
}
