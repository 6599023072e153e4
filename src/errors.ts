// errors.ts — the one catalogue of jetrecv error codes and the error class that carries them.
// Codes are stable strings (JETRECV_ERR_*) that API clients and logs may match on; messages
// are for humans and may change. Add new codes here, each with a one-line comment.

/**
 * The codes the native addon reports, key for key as native/src/core/errors.def defines them
 * (JETRECV_ERROR(Name, KEY) -> KEY: 'JETRECV_ERR_KEY'); test/unit/native-error-codes.test.ts
 * checks this object against the addon's `errorCodes`. Add a native code there first.
 */
export const NativeErrorCodes = {
  /** An OS call failed that is not a write of a received file: open/read of a source, socket set-up, statvfs. */
  IO: 'JETRECV_ERR_IO',
  /** A file-system failure: missing file, permission denied, disk full, vanished directory. */
  DISK: 'JETRECV_ERR_DISK',
  /** An argument the native layer refused (bad block size, bad partial tag, too many files). */
  INVALID_ARGUMENT: 'JETRECV_ERR_INVALID_ARGUMENT',
  /** A path that is malformed: empty, absolute, '..', control characters, too long. */
  PATH_INVALID: 'JETRECV_ERR_PATH_INVALID',
  /** A path that would resolve outside the sandbox (symlink, '..' after joining). */
  PATH_ESCAPE: 'JETRECV_ERR_PATH_ESCAPE',
  /** A destination path another live transfer is receiving (the request is refused; retry later). */
  PATH_BUSY: 'JETRECV_ERR_PATH_BUSY',
  /** A transfer's bookkeeping (block bitmaps, per-file state) over the receiver's memory budget. */
  RESOURCE: 'JETRECV_ERR_RESOURCE',
  /** Not enough free disk space for a transfer (checked before anything is written). */
  NO_SPACE: 'JETRECV_ERR_NO_SPACE',
  /** A command on a closed native endpoint. */
  CLOSED: 'JETRECV_ERR_CLOSED',
  /** A receiver command on a sender endpoint, or the reverse. */
  WRONG_ROLE: 'JETRECV_ERR_WRONG_ROLE',
  /** No session with that local index on the endpoint. */
  UNKNOWN_SESSION: 'JETRECV_ERR_UNKNOWN_SESSION',
  /** A session with that local index exists already. */
  DUPLICATE_SESSION: 'JETRECV_ERR_DUPLICATE_SESSION',
  /** No transfer with that id on the session. */
  UNKNOWN_TRANSFER: 'JETRECV_ERR_UNKNOWN_TRANSFER',
  /** A transfer with that id is open on the session already. */
  DUPLICATE_TRANSFER: 'JETRECV_ERR_DUPLICATE_TRANSFER',
  /** A socket operation or a network send failed (errno says which; e.g. EPERM from a firewall). */
  SOCKET: 'JETRECV_ERR_SOCKET',
  /** The socket send buffer is full; try again later. */
  WOULD_BLOCK: 'JETRECV_ERR_WOULD_BLOCK',
} as const;

/** Stable error codes: the TypeScript layer's and the native ones. Never rename or reuse a code; add new ones at the end. */
export const ErrorCodes = {
  /** Bad command line: unknown flag, missing or malformed value, missing argument. */
  USAGE: 'JETRECV_ERR_USAGE',
  /** A public or private key that is not 32 bytes of standard base64 (44 characters). */
  BAD_KEY: 'JETRECV_ERR_BAD_KEY',
  /** Persistent state that cannot be read, parsed or written. */
  STATE: 'JETRECV_ERR_STATE',
  /** A peer broke the wire or control protocol: undecodable or out-of-limit message. */
  PROTOCOL: 'JETRECV_ERR_PROTOCOL',
  /** The peer refused the request (unauthorized key, transfer refused). */
  REFUSED: 'JETRECV_ERR_REFUSED',
  /** A peer or an operation did not answer in time. */
  TIMEOUT: 'JETRECV_ERR_TIMEOUT',
  /** The operation was cancelled by the user or the peer. */
  CANCELLED: 'JETRECV_ERR_CANCELLED',
  /** A configuration value that is invalid or inconsistent with another. */
  CONFIG: 'JETRECV_ERR_CONFIG',
  ...NativeErrorCodes,
} as const;

/** One of the values of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * An error with a stable `code` (see {@link ErrorCodes}) and optional structured `details`
 * (e.g. `{ path }`, `{ flag }`) for logs and API error results.
 */
export class JetrecvError extends Error {
  /** Stable machine-readable code, `JETRECV_ERR_*`. */
  readonly code: string;
  /** Structured context; values must be JSON-serialisable. */
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JetrecvError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** A bad command line. The message names the flag or argument and the expected form. */
export class UsageError extends JetrecvError {
  declare readonly code: typeof ErrorCodes.USAGE;

  constructor(message: string, details?: Record<string, unknown>) {
    super(ErrorCodes.USAGE, message, details);
    this.name = 'UsageError';
  }
}

/** True if `err` is a {@link JetrecvError} with the given code (or any code if omitted). */
export function isJetrecvError(err: unknown, code?: string): err is JetrecvError {
  return err instanceof JetrecvError && (code === undefined || err.code === code);
}
