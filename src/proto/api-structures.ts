// api-structures.ts — the JSON shapes the RecvInterface API returns (docs/API.md).
// Field names follow the JetStream structures field for field; extras are marked. Rates are
// kilobits per second; timestamps are Unix time in microseconds, or null until valid.
// This file holds types only, so the client library can import it without server code.

/** Connection state of a sender, as in JetStream. */
export type EncryptedConnectionState = 'disconnected' | 'negotiating' | 'connected';

/** A sending server as seen by this receiver (result item of `recv.getSourcesAsync`). */
export interface SourceStructure {
  /** Transfers from this source that are receiving and moved data recently. */
  activeTransferCount: number;
  /** Average receive rate over all its transfers, kbit/s. */
  aveRecvRate: number;
  /** Receive rate over a recent window ("right now"), kbit/s. */
  aveRecvRateWindow: number;
  completeTransferCount: number;
  /** This receiver's public key (what the sender must name to reach us). */
  destinationPublicKey: string;
  encryptedConnectionState: EncryptedConnectionState;
  /** Always true: jetrecv has no unencrypted mode. */
  encryptionEnabled: boolean;
  errorTransferCount: number;
  /** Transfers still receiving but idle. */
  inactiveTransferCount: number;
  sourceIP: string;
  sourcePort: number;
  /** Extra: the sender's public key (base64, 44 characters). */
  clientPublicKey: string;
  /** Extra: bytes received from this source over all its transfers. */
  bytesReceived: number;
  /** Extra: last time a packet arrived from this source (Unix µs) or null. */
  lastRecvTime: number | null;
  /**
   * Extra: the cap on this source's receive rate now, kbit/s of UDP payload (0 = none): its
   * max-min share of the incoming rate limit, bounded by the per-source limit.
   */
  recvRateLimit: number;
}

/** Largest receive rate limit, kbit/s (400 Gbit/s: the sender's own ceiling, rate_control.h). */
export const MAX_RATE_LIMIT_KBPS = 400_000_000;

/**
 * Receive rate limits (JetStream's incoming bandwidth limits), kbit/s of UDP payload; 0 = none.
 * Result of `server.updateBandwidthLimits` and `bandwidthLimits` of getServerInfo.
 */
export interface BandwidthLimitsStructure {
  /** Cap on all sources together, shared among them by max-min fairness. */
  incomingRateLimit: number;
  /** Cap on each source (all transfers of one sender key). */
  incomingRateLimitPerSource: number;
}

/** Status of a receive transfer. */
export type ReceiveTransferStatus = 'receiving' | 'complete' | 'error';

/** The receiver's record of one incoming transfer (result item of `recv.getTransfersAsync`). */
export interface ReceiveTransferStructure {
  /** Parent directory (beneath the sandbox) the transfer's files are placed under. */
  destinationPath: string;
  /** Last interruption at the receiver (Unix µs) or null; check `status` for failure. */
  lastErrorTime: number | null;
  lastRecvTime: number | null;
  lastSendTime: number | null;
  sourceIP: string;
  sourcePort: number;
  status: ReceiveTransferStatus;
  /** Total bytes of all files in the transfer. */
  totalSize: number;
  /** Transfer id (32 hex characters, unique per receiver). */
  transferId: string;
  /** Extra: why the transfer failed; '' unless status is 'error'. */
  errorMessage: string;
  /** Extra: bytes written so far. */
  bytesReceived: number;
  /** Extra: number of files in the manifest. */
  filesTotal: number;
  /** Extra: files complete and renamed into place. */
  filesDone: number;
  /** Extra: receive rate over the recent window, kbit/s. */
  recvRate: number;
  /** Extra: when the receiver accepted the transfer (Unix µs). */
  startTime: number;
  /** Extra: when it completed or failed (Unix µs), null while receiving. */
  endTime: number | null;
  /** Extra: the sender's public key (base64). */
  clientPublicKey: string;
}

/**
 * What the daemon supplies to `server.getServerInfo()`; the API server adds its own fields
 * (see {@link ServerInfo}). `configuration` is shown to elevated superusers only.
 */
export interface ServerInfoBase {
  /** jetrecv version, e.g. '0.1.0'. */
  version: string;
  /** Machine host name. */
  hostName: string;
  /** Friendly server name. */
  serverName: string;
  /** Unique per server instance (regenerated at each launch). */
  serverId: string;
  /** This server's X25519 public key (base64), which senders must name. */
  publicKey: string;
  /** Weakest data cipher the server accepts. */
  minCipher: string;
  /** UDP port(s) receiving data. */
  recvPorts: number[];
  /** Whether encrypted connections are possible (always true). */
  encryptionAvailable: boolean;
  /** `--external-address` host:port, or null. */
  serverExternalAddress: string | null;
  /** Anything else the daemon wants every caller to see. */
  [extra: string]: unknown;
  /** Effective server configuration; only elevated superusers see it. */
  configuration?: Record<string, unknown>;
}

/** The `receiver` sub-structure of {@link ServerInfo}. */
export interface ReceiverServerInfo {
  /**
   * Absolute directory received files land beneath. Hidden from callers without a session
   * when the API is open to the network (allowRemoteControl).
   */
  sandboxDir?: string;
  /** Present for authenticated callers: whether only listed sender keys may connect. */
  onlyAuthorizedClientsAllowed?: boolean;
  /** Present for authenticated callers: how many sender keys are listed. */
  authorizedClientCount?: number;
  /** Present for elevated superusers only: the listed sender keys (base64). */
  authorizedClients?: string[];
}

/** Result of `server.getServerInfo()`. */
export interface ServerInfo extends ServerInfoBase {
  /** Whether the API accepts callers from other hosts (false: bound to 127.0.0.1). */
  allowRemoteControl: boolean;
  /** TCP port of this API. */
  apiControlPort: number;
  /** Version of this HTTP API (the `/api/v<N>/` in paths). */
  apiVersion: number;
  /** Always true: every method except getServerInfo and auth needs a session token. */
  authRequired: boolean;
  /** Always false: JetStream API tokens are not implemented. */
  APITokensAvailable: boolean;
  /** Whole days until the API's TLS certificate expires; null without TLS. */
  certificateValidation: number | null;
  receiver: ReceiverServerInfo;
  /** The receive rate limits now (server.updateBandwidthLimits). */
  bandwidthLimits: BandwidthLimitsStructure;
  /** Extra: the user the caller's token belongs to, or null when called without one. */
  sessionUser: string | null;
  /** Extra: whether the caller's session is an elevated superuser session. */
  sessionSuperuser: boolean;
}

/** Lifecycle of an asynchronous request. */
export type RequestState = 'pending' | 'processing' | 'complete' | 'error';

/** Result of every `*Async` method: the id to pass to getRequestStatus / getRequestResult. */
export interface RequestStructure {
  requestId: number;
}

/** Result of `server.getRequestStatus(requestId)`. */
export interface RequestStatus {
  requestId: number;
  /** True while the request is pending or processing. */
  processing: boolean;
  status: RequestState;
  /** '' unless status is 'error'. */
  errorMessage: string;
  /** Extra: the stable error code when status is 'error', else null. */
  errorCode: string | null;
  /** Extra: the method that made the request, e.g. 'recv.getSourcesAsync'. */
  method: string;
  /** Extra: when the request was queued (Unix µs). */
  requestTime: number;
  /** Extra: when it completed or failed (Unix µs), null before. */
  endTime: number | null;
}

/** Result of `server.getRequestResult(requestId)` for a request that completed. */
export interface RequestResult<T = unknown> {
  requestId: number;
  status: 'complete';
  result: T;
}

/** Result of `server.auth` (and of an `server.authAsync` request). */
export interface AuthResult {
  /** Send as `Authorization: Bearer <token>` on every later call. */
  token: string;
  user: string;
  /** Whether the user is named by `--superuser` (still needs server.superuser() to elevate). */
  superuser: boolean;
  /** The token expires after this many seconds without a call. */
  idleTimeoutSeconds: number;
}

/** Result of `server.authAsync`: a request plus the token it will activate. */
export interface AuthAsyncStructure extends RequestStructure {
  /** Usable only for getRequestStatus/getRequestResult of this request until it completes. */
  token: string;
}

/** Result of `server.superuser()`. */
export interface SuperuserResult {
  user: string;
  superuser: true;
}

/** Result of a `recv.addAuthorizedClientAsync` request. */
export interface AddAuthorizedClientResult {
  /** The key in canonical base64. */
  clientPublicKey: string;
  /** False when the key was already listed (not an error). */
  added: boolean;
}

/** Result of a `recv.removeAuthorizedClientAsync` request. */
export interface RemoveAuthorizedClientResult {
  clientPublicKey: string;
  /** False when the key was not listed (not an error). */
  removed: boolean;
}

/** Result of a `recv.allowOnlyAuthorizedClientsAsync` request. */
export interface AllowOnlyResult {
  onlyAuthorizedClientsAllowed: boolean;
  /** False when the flag already had this value. */
  changed: boolean;
}

/** Result of a `recv.getAuthorizedClientsAsync` request. */
export interface AuthorizedClientsResult {
  onlyAuthorizedClientsAllowed: boolean;
  /** Listed sender keys (base64), oldest first. */
  clientPublicKeys: string[];
}

/** An API token as `server.getAPITokens` lists it (never its secret). */
export interface ApiTokenStructure {
  name: string;
  /** Public id: the token reads `jrt_<id>_<secret>`. */
  id: string;
  /** Calls with the token act as an elevated superuser. */
  superuser: boolean;
  /** Unix µs. */
  createdTime: number;
  /** Who created it: a user name, `token:<name>` or `local:<user>`. */
  createdBy: string;
}

/** Result of `server.createAPIToken`: the entry and the token itself, shown this once. */
export interface CreateApiTokenResult extends ApiTokenStructure {
  /** Send as `Authorization: Bearer <token>`. Not stored by the server (only its hash). */
  token: string;
}

/** Result of `server.deleteAPIToken`. */
export interface DeleteApiTokenResult {
  name: string;
  /** False when no token had this name (not an error). */
  deleted: boolean;
}

/** Body of every error response: `{ "error": ApiErrorBody }`. */
export interface ApiErrorBody {
  code: string;
  message: string;
  /** For errors about one request (failed, expired, foreign, still running). */
  requestId?: number;
  /** For parameter errors: the parameter at fault. */
  parameter?: string;
}
