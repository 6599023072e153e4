// api-errors.ts — error codes of the HTTP API and the HTTP status each one maps to.
// Every error response is `{ "error": { "code": "JETRECV_ERR_...", "message": "..." } }`;
// the code is stable, the message is for humans. Codes of src/errors.ts that can surface
// through the API (a bad key, a state file that cannot be written) are mapped here too.
import { ErrorCodes, JetrecvError } from '../errors.js';
import { ApiTokenErrorCodes } from '../state/api-tokens.js';
import type { ApiErrorBody } from '../proto/api-structures.js';

/** Error codes specific to the API (stable; never rename or reuse one). */
export const ApiErrorCodes = {
  /** The body is not JSON, or not a JSON object. (400) */
  BAD_REQUEST: 'JETRECV_ERR_BAD_REQUEST',
  /** A parameter is missing, of the wrong type, out of range or unknown. (400) */
  BAD_PARAMETER: 'JETRECV_ERR_BAD_PARAMETER',
  /** No API method has this name. (404) */
  UNKNOWN_METHOD: 'JETRECV_ERR_UNKNOWN_METHOD',
  /** No route has this path. (404) */
  NOT_FOUND: 'JETRECV_ERR_NOT_FOUND',
  /** The route exists but not for this HTTP method (e.g. GET on a method that needs POST). (405) */
  HTTP_METHOD: 'JETRECV_ERR_HTTP_METHOD',
  /** The request body is larger than the limit (64 KiB). (413) */
  BODY_TOO_LARGE: 'JETRECV_ERR_BODY_TOO_LARGE',
  /** No session token, or a token that is unknown, expired or not yet authenticated. (401) */
  UNAUTHENTICATED: 'JETRECV_ERR_UNAUTHENTICATED',
  /** Wrong user name or password. (401) */
  LOGIN_FAILED: 'JETRECV_ERR_LOGIN_FAILED',
  /** The user store is empty, so nobody can log in; the message says how to add a user. (401) */
  NO_USERS: 'JETRECV_ERR_NO_USERS',
  /** Too many failed logins for this user or address; retry after `Retry-After` seconds. (429) */
  RATE_LIMITED: 'JETRECV_ERR_RATE_LIMITED',
  /** The user is not named by --superuser. (403) */
  NOT_SUPERUSER: 'JETRECV_ERR_NOT_SUPERUSER',
  /**
   * A process whose user may not use the local admin socket connected to it (it is for root,
   * the daemon's own user and the configured group). (403)
   */
  LOCAL_ADMIN_REFUSED: 'JETRECV_ERR_LOCAL_ADMIN_REFUSED',
  /** The user is a superuser but this session has not called server.superuser(). (403) */
  NOT_ELEVATED: 'JETRECV_ERR_NOT_ELEVATED',
  /** No request with this id was ever made on this server. (404) */
  REQUEST_NOT_FOUND: 'JETRECV_ERR_REQUEST_NOT_FOUND',
  /** The request existed but its record expired (retention time or count). (410) */
  REQUEST_EXPIRED: 'JETRECV_ERR_REQUEST_EXPIRED',
  /** The request belongs to another user. (403) */
  REQUEST_FOREIGN: 'JETRECV_ERR_REQUEST_FOREIGN',
  /** getRequestResult timed out while the request was still pending or processing. (408) */
  REQUEST_TIMEOUT: 'JETRECV_ERR_REQUEST_TIMEOUT',
  /** Too many requests are pending or processing; retry later. (503) */
  BUSY: 'JETRECV_ERR_BUSY',
  /** The server is shutting down. (503) */
  SHUTTING_DOWN: 'JETRECV_ERR_SHUTTING_DOWN',
  /** An unexpected server fault (a bug); details are in the server log. (500) */
  INTERNAL: 'JETRECV_ERR_INTERNAL',
  /** Client side only: the API could not be reached (connection refused, TLS failure). (status 0) */
  UNREACHABLE: 'JETRECV_ERR_API_UNREACHABLE',
  /** Client side only: the server's answer was not the JSON the API promises. */
  BAD_RESPONSE: 'JETRECV_ERR_BAD_RESPONSE',
} as const;

const HTTP_STATUS_BY_CODE: Record<string, number> = {
  [ApiErrorCodes.BAD_REQUEST]: 400,
  [ApiErrorCodes.BAD_PARAMETER]: 400,
  [ApiErrorCodes.UNKNOWN_METHOD]: 404,
  [ApiErrorCodes.NOT_FOUND]: 404,
  [ApiErrorCodes.HTTP_METHOD]: 405,
  [ApiErrorCodes.BODY_TOO_LARGE]: 413,
  [ApiErrorCodes.UNAUTHENTICATED]: 401,
  [ApiErrorCodes.LOGIN_FAILED]: 401,
  [ApiErrorCodes.NO_USERS]: 401,
  [ApiErrorCodes.RATE_LIMITED]: 429,
  [ApiErrorCodes.NOT_SUPERUSER]: 403,
  [ApiErrorCodes.NOT_ELEVATED]: 403,
  [ApiErrorCodes.LOCAL_ADMIN_REFUSED]: 403,
  [ApiTokenErrorCodes.BAD_TOKEN_NAME]: 400,
  [ApiTokenErrorCodes.TOKEN_EXISTS]: 409,
  [ApiTokenErrorCodes.TOO_MANY_TOKENS]: 409,
  [ApiErrorCodes.REQUEST_NOT_FOUND]: 404,
  [ApiErrorCodes.REQUEST_EXPIRED]: 410,
  [ApiErrorCodes.REQUEST_FOREIGN]: 403,
  [ApiErrorCodes.REQUEST_TIMEOUT]: 408,
  [ApiErrorCodes.BUSY]: 503,
  [ApiErrorCodes.SHUTTING_DOWN]: 503,
  [ApiErrorCodes.INTERNAL]: 500,
  [ErrorCodes.BAD_KEY]: 400,
  [ErrorCodes.USAGE]: 400,
  [ErrorCodes.CONFIG]: 400,
  [ErrorCodes.TIMEOUT]: 504,
};

/** HTTP status for an error code; codes not listed (state, disk, ...) are server faults: 500. */
export function httpStatusForCode(code: string): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}

/** An error raised by an API method; its `code` decides the HTTP status. */
export class ApiCallError extends JetrecvError {
  /** Seconds for a `Retry-After` header (rate limiting, busy). */
  readonly retryAfterSeconds?: number;
  /** Extra fields copied into the error body (requestId, parameter). */
  readonly bodyExtras: Pick<ApiErrorBody, 'requestId' | 'parameter'>;

  constructor(code: string, message: string, extras: Pick<ApiErrorBody, 'requestId' | 'parameter'> & { retryAfterSeconds?: number } = {}) {
    super(code, message);
    this.name = 'ApiCallError';
    const { retryAfterSeconds, ...bodyExtras } = extras;
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
    this.bodyExtras = bodyExtras;
  }

  get httpStatus(): number {
    return httpStatusForCode(this.code);
  }
}

/**
 * The `{ code, message }` an error is reported as. JetrecvErrors keep their code and message;
 * anything else is an internal fault whose message is not shown to callers (it is logged).
 */
export function errorBodyFor(err: unknown): ApiErrorBody {
  if (err instanceof ApiCallError) return { code: err.code, message: err.message, ...err.bodyExtras };
  if (err instanceof JetrecvError) return { code: err.code, message: err.message };
  return { code: ApiErrorCodes.INTERNAL, message: 'internal server error (details are in the server log)' };
}
