// catalog.ts — the list of API methods as data: names, parameters, who may call them and
// what they return. The server validates calls against it, the OpenAPI document is built
// from it and `jetrecv api` resolves command names with it, so they cannot drift apart.
// Pure data: no server code, safe to import from the client and the CLI.
import { MAX_RATE_LIMIT_KBPS } from '../proto/api-structures.js';

/** JSON type of a parameter. */
export type ParamType = 'string' | 'boolean' | 'integer';

/** One named parameter of a method. */
export interface ParamSpec {
  name: string;
  type: ParamType;
  required: boolean;
  description: string;
  /** `integer` only: inclusive bounds. */
  minimum?: number;
  maximum?: number;
}

/**
 * Who may call a method:
 * - `public`: anyone, no token needed;
 * - `session`: any authenticated session;
 * - `superuser`: an elevated session of a user named by --superuser, a superuser API token,
 *   or a caller on the local admin socket.
 */
export type Access = 'public' | 'session' | 'superuser';

/** One API method. */
export interface MethodSpec {
  /** Full name, `<namespace>.<method>`, e.g. 'recv.getSourcesAsync'. */
  name: string;
  summary: string;
  access: Access;
  /** True for `*Async` methods: they answer `{ requestId }` and run as a request. */
  async: boolean;
  /** Also callable as `GET /api/v1/<name>` (read-only, no parameters). */
  allowGet: boolean;
  params: ParamSpec[];
  /** OpenAPI component schema name of the result (of the request's result for async methods). */
  resultSchema: string;
}

/** Upper bound of getRequestResult's wait, ms. */
export const MAX_RESULT_TIMEOUT_MS = 300_000;
/** Wait of getRequestResult when timeoutMs is not given, ms. */
export const DEFAULT_RESULT_TIMEOUT_MS = 30_000;

const requestIdParam: ParamSpec = {
  name: 'requestId',
  type: 'integer',
  required: true,
  minimum: 1,
  description: 'Id from a Request Structure. The integer or the whole Request Structure ({"requestId": N}) is accepted.',
};

const clientPublicKeyParam: ParamSpec = {
  name: 'clientPublicKey',
  type: 'string',
  required: true,
  description:
    'A sender\'s X25519 public key: standard base64 of 32 bytes (44 characters). The dict form {"clientPublicKey": "..."} is accepted too.',
};

const tokenNameParam: ParamSpec = {
  name: 'name',
  type: 'string',
  required: true,
  description: 'Token name: 1-64 characters from A-Z a-z 0-9 _ . @ -, starting with a letter, digit or _; unique.',
};

const userParams: ParamSpec[] = [
  { name: 'user', type: 'string', required: true, description: 'User name (see `jetrecv user add`).' },
  { name: 'password', type: 'string', required: true, description: "The user's password." },
];

/** Every API method, in documentation order. */
export const METHODS: readonly MethodSpec[] = [
  {
    name: 'server.auth',
    summary: 'Log in. Returns the session token to send as `Authorization: Bearer <token>`; failed logins are rate-limited.',
    access: 'public',
    async: false,
    allowGet: false,
    params: userParams,
    resultSchema: 'AuthResult',
  },
  {
    name: 'server.authAsync',
    summary:
      'Log in as a request. Returns the request id and the token; the token only works for this request until it completes successfully, then it is a normal session token.',
    access: 'public',
    async: true,
    allowGet: false,
    params: userParams,
    resultSchema: 'AuthAsyncResult',
  },
  {
    name: 'server.superuser',
    summary: 'Elevate this session to superuser. Only users named by --superuser may; others get 403.',
    access: 'session',
    async: false,
    allowGet: false,
    params: [],
    resultSchema: 'SuperuserResult',
  },
  {
    name: 'server.logout',
    summary: 'End this session; its token stops working at once.',
    access: 'session',
    async: false,
    allowGet: false,
    params: [],
    resultSchema: 'LogoutResult',
  },
  {
    name: 'server.getServerInfo',
    summary:
      'Server information. No token needed; authenticated callers also see the allow-only flag, elevated superusers the configuration and the authorized keys.',
    access: 'public',
    async: false,
    allowGet: true,
    params: [],
    resultSchema: 'ServerInfo',
  },
  {
    name: 'server.getRequestStatus',
    summary: 'Status of a request, at once. Your own requests only (elevated superusers: any).',
    access: 'session',
    async: false,
    allowGet: false,
    params: [requestIdParam],
    resultSchema: 'RequestStatus',
  },
  {
    name: 'server.getRequestResult',
    summary: 'Wait until a request completes (at most timeoutMs) and return its result, or its error if it failed.',
    access: 'session',
    async: false,
    allowGet: false,
    params: [
      requestIdParam,
      {
        name: 'timeoutMs',
        type: 'integer',
        required: false,
        minimum: 0,
        maximum: MAX_RESULT_TIMEOUT_MS,
        description: `How long to wait, ms (default ${DEFAULT_RESULT_TIMEOUT_MS}, at most ${MAX_RESULT_TIMEOUT_MS}; 0 = do not wait).`,
      },
    ],
    resultSchema: 'RequestResult',
  },
  {
    name: 'server.createAPIToken',
    summary:
      'Create a long-lived named API token for scripts (superuser). The answer holds the token, shown this once (the server keeps only its hash); send it as `Authorization: Bearer <token>`, no login needed. Valid until server.deleteAPIToken.',
    access: 'superuser',
    async: false,
    allowGet: false,
    params: [
      tokenNameParam,
      {
        name: 'superuser',
        type: 'boolean',
        required: false,
        description: 'true: calls with the token act as an elevated superuser; false (default): as an ordinary session.',
      },
    ],
    resultSchema: 'CreateAPITokenResult',
  },
  {
    name: 'server.getAPITokens',
    summary: 'The API tokens, without their secrets (superuser).',
    access: 'superuser',
    async: false,
    allowGet: false,
    params: [],
    resultSchema: 'APITokenList',
  },
  {
    name: 'server.deleteAPIToken',
    summary:
      'Revoke an API token by name (superuser); it stops working at once. Revoking an absent name is not an error: the result says deleted=false.',
    access: 'superuser',
    async: false,
    allowGet: false,
    params: [tokenNameParam],
    resultSchema: 'DeleteAPITokenResult',
  },
  {
    name: 'server.updateBandwidthLimits',
    summary:
      "Change the receive rate limits live (superuser): kbit/s of UDP payload, 0 = none; a limit left out keeps its value. Enforced through the rate each sender is told in FEEDBACK, within a few feedback intervals; getServerInfo's bandwidthLimits and getSourcesAsync's recvRateLimit show them. Not persisted: the config file (incoming-rate-limit) sets them at start and on SIGHUP.",
    access: 'superuser',
    async: false,
    allowGet: false,
    params: [
      {
        name: 'incomingRateLimit',
        type: 'integer',
        required: false,
        minimum: 0,
        maximum: MAX_RATE_LIMIT_KBPS,
        description: 'Cap on the receive rate of all sources together, kbit/s (0 = none); shared among the sources by max-min fairness.',
      },
      {
        name: 'incomingRateLimitPerSource',
        type: 'integer',
        required: false,
        minimum: 0,
        maximum: MAX_RATE_LIMIT_KBPS,
        description: 'Cap on the receive rate of each source (all transfers of one sender key), kbit/s (0 = none).',
      },
    ],
    resultSchema: 'BandwidthLimits',
  },
  {
    name: 'recv.addAuthorizedClientAsync',
    summary:
      "Add a sender's public key to the authorized-clients list (superuser). Adding a listed key is not an error: the result says added=false.",
    access: 'superuser',
    async: true,
    allowGet: false,
    params: [clientPublicKeyParam],
    resultSchema: 'AddAuthorizedClientResult',
  },
  {
    name: 'recv.removeAuthorizedClientAsync',
    summary:
      "Remove a sender's public key from the list (superuser). Removing an absent key is not an error: the result says removed=false. Sessions of a sender no longer allowed are ended.",
    access: 'superuser',
    async: true,
    allowGet: false,
    params: [clientPublicKeyParam],
    resultSchema: 'RemoveAuthorizedClientResult',
  },
  {
    name: 'recv.allowOnlyAuthorizedClientsAsync',
    summary:
      'Turn on or off the rule that only listed senders may connect (superuser; default off). Turning it on ends the sessions of unlisted senders.',
    access: 'superuser',
    async: true,
    allowGet: false,
    params: [
      {
        name: 'onlyAuthorizedClientsAllowed',
        type: 'boolean',
        required: true,
        description: 'true: only listed sender keys may connect; false: any sender that knows our public key may.',
      },
    ],
    resultSchema: 'AllowOnlyResult',
  },
  {
    name: 'recv.getAuthorizedClientsAsync',
    summary: 'The authorized-clients list and the allow-only flag (superuser). A jetrecv extra.',
    access: 'superuser',
    async: true,
    allowGet: false,
    params: [],
    resultSchema: 'AuthorizedClientsResult',
  },
  {
    name: 'recv.getSourcesAsync',
    summary: 'The sending servers that have connected to this receiver: a list of Source Structures.',
    access: 'session',
    async: true,
    allowGet: false,
    params: [],
    resultSchema: 'SourceList',
  },
  {
    name: 'recv.getTransfersAsync',
    summary: "The receiver's transfer records: a list of Receive Transfer Structures.",
    access: 'session',
    async: true,
    allowGet: false,
    params: [],
    resultSchema: 'ReceiveTransferList',
  },
];

const BY_NAME = new Map(METHODS.map((m) => [m.name, m]));

/** The method with this full name, or undefined. */
export function findMethod(name: string): MethodSpec | undefined {
  return BY_NAME.get(name);
}

/**
 * Resolves a command name as typed by a user: a full name ('recv.getSourcesAsync') or a bare
 * method name ('getSourcesAsync') that exists in exactly one namespace. Undefined otherwise.
 */
export function resolveMethodName(command: string): MethodSpec | undefined {
  const exact = BY_NAME.get(command);
  if (exact !== undefined) return exact;
  if (command.includes('.')) return undefined;
  const matches = METHODS.filter((m) => m.name.slice(m.name.indexOf('.') + 1) === command);
  return matches.length === 1 ? matches[0] : undefined;
}
