// openapi.ts — builds the OpenAPI 3.0 description of the API from the method catalogue.
// The server serves it at GET /api/v1/openapi.json; docs/openapi.json is a copy that a test
// keeps identical (regenerate with UPDATE_OPENAPI=1 npx vitest run test/unit/api-openapi.test.ts).
import { METHODS, type MethodSpec, type ParamSpec } from './catalog.js';
import { EVENTS_PATH } from './event-stream.js';
import { TRANSFER_EVENT_TYPES } from '../recv/transfer-events.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const int = (description: string): Schema => ({ type: 'integer', description });
const num = (description: string): Schema => ({ type: 'number', description });
const str = (description: string): Schema => ({ type: 'string', description });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const usOrNull = (description: string): Schema => ({
  type: 'integer',
  nullable: true,
  description: `${description} Unix time in microseconds, null until valid.`,
});
const obj = (properties: Record<string, Schema>, description?: string, required = Object.keys(properties)): Schema => ({
  type: 'object',
  ...(description !== undefined ? { description } : {}),
  properties,
  required,
});

const SCHEMAS: Record<string, Schema> = {
  Error: obj(
    {
      error: obj(
        {
          code: str('Stable error code, JETRECV_ERR_*.'),
          message: str('Human-readable explanation naming the input at fault.'),
          requestId: int('For errors about one request.'),
          parameter: str('For parameter errors: the parameter at fault.'),
        },
        undefined,
        ['code', 'message'],
      ),
    },
    'Every error response.',
  ),
  RequestStructure: obj({ requestId: int('Pass to server.getRequestStatus / server.getRequestResult.') }, 'Answer of every *Async method.'),
  AuthAsyncStructure: obj(
    {
      requestId: int('The login request.'),
      token: str('Session token; until the request completes it may only query this request.'),
    },
    'Answer of server.authAsync.',
  ),
  RequestStatus: obj(
    {
      requestId: int('The request.'),
      processing: bool('True while pending or processing.'),
      status: { type: 'string', enum: ['pending', 'processing', 'complete', 'error'] },
      errorMessage: str("'' unless status is error."),
      errorCode: { type: 'string', nullable: true, description: 'Stable error code when status is error, else null.' },
      method: str('Method that made the request.'),
      requestTime: int('When the request was queued, Unix µs.'),
      endTime: usOrNull('When it finished.'),
    },
    'Answer of server.getRequestStatus.',
  ),
  RequestResult: obj(
    {
      requestId: int('The request.'),
      status: { type: 'string', enum: ['complete'] },
      result: { description: "The request's result; its schema is the method's x-request-result." },
    },
    'Answer of server.getRequestResult for a completed request. A failed request answers its own error instead.',
  ),
  AuthResult: obj(
    {
      token: str('Send as "Authorization: Bearer <token>".'),
      user: str('The user logged in.'),
      superuser: bool('Whether the user is named by --superuser (server.superuser() still needed).'),
      idleTimeoutSeconds: int('The token expires after this long without a call.'),
    },
    'Answer of server.auth.',
  ),
  AuthAsyncResult: obj(
    {
      user: str('The user logged in.'),
      superuser: bool('Whether the user is named by --superuser.'),
      idleTimeoutSeconds: int('The token expires after this long without a call.'),
    },
    'Result of a server.authAsync request (the token was in the AuthAsyncStructure).',
  ),
  SuperuserResult: obj({ user: str('The user.'), superuser: { type: 'boolean', enum: [true] } }, 'Answer of server.superuser.'),
  LogoutResult: obj({ loggedOut: { type: 'boolean', enum: [true] } }, 'Answer of server.logout.'),
  AddAuthorizedClientResult: obj({
    clientPublicKey: str('The key, canonical base64.'),
    added: bool('False when the key was already listed.'),
  }),
  RemoveAuthorizedClientResult: obj({
    clientPublicKey: str('The key, canonical base64.'),
    removed: bool('False when the key was not listed.'),
  }),
  AllowOnlyResult: obj({
    onlyAuthorizedClientsAllowed: bool('The flag now in force.'),
    changed: bool('False when it already had this value.'),
  }),
  AuthorizedClientsResult: obj({
    onlyAuthorizedClientsAllowed: bool('Whether only listed senders may connect.'),
    clientPublicKeys: { type: 'array', items: { type: 'string' }, description: 'Listed sender keys, oldest first.' },
  }),
  APITokenStructure: obj(
    {
      name: str('Unique token name.'),
      id: str('Public id: the token reads jrt_<id>_<secret>.'),
      superuser: bool('Calls with the token act as an elevated superuser.'),
      createdTime: int('Unix µs.'),
      createdBy: str('Who created it: a user name, token:<name> or local:<user>.'),
    },
    'An API token, without its secret.',
  ),
  CreateAPITokenResult: obj(
    {
      token: str('Send as "Authorization: Bearer <token>". Shown only in this answer; the server keeps its SHA-256.'),
      name: str('Unique token name.'),
      id: str('Public id.'),
      superuser: bool('Calls with the token act as an elevated superuser.'),
      createdTime: int('Unix µs.'),
      createdBy: str('Who created it.'),
    },
    'Answer of server.createAPIToken.',
  ),
  APITokenList: { type: 'array', items: ref('APITokenStructure') },
  DeleteAPITokenResult: obj({ name: str('The name asked for.'), deleted: bool('False when no token had this name.') }),
  SourceStructure: obj(
    {
      activeTransferCount: int('Receiving transfers that moved data recently.'),
      aveRecvRate: num('Average receive rate over all its transfers, kbit/s.'),
      aveRecvRateWindow: num('Receive rate over a recent window, kbit/s.'),
      completeTransferCount: int('Completed transfers.'),
      destinationPublicKey: str("This receiver's public key."),
      encryptedConnectionState: { type: 'string', enum: ['disconnected', 'negotiating', 'connected'] },
      encryptionEnabled: bool('Always true.'),
      errorTransferCount: int('Failed transfers.'),
      inactiveTransferCount: int('Receiving transfers that are idle.'),
      sourceIP: str('Sender IP address.'),
      sourcePort: int('Sender UDP port.'),
      clientPublicKey: str("Extra: the sender's public key."),
      bytesReceived: int('Extra: bytes received from this source.'),
      lastRecvTime: usOrNull('Extra: last packet from this source.'),
      recvRateLimit: int(
        "Extra: the cap on this source's receive rate now, kbit/s of UDP payload (0 = none): its max-min share of incomingRateLimit, bounded by incomingRateLimitPerSource.",
      ),
    },
    'A sending server as seen by this receiver.',
  ),
  ReceiveTransferStructure: obj(
    {
      destinationPath: str('Parent directory beneath the sandbox.'),
      lastErrorTime: usOrNull('Last interruption.'),
      lastRecvTime: usOrNull('Last receive activity.'),
      lastSendTime: usOrNull('Last send activity.'),
      sourceIP: str('Sender IP address.'),
      sourcePort: int('Sender UDP port.'),
      status: { type: 'string', enum: ['receiving', 'complete', 'error'] },
      totalSize: int('Total bytes of all files.'),
      transferId: str('Transfer id (32 hex characters).'),
      errorMessage: str("Extra: '' unless status is error."),
      bytesReceived: int('Extra: bytes written so far.'),
      filesTotal: int('Extra: files in the manifest.'),
      filesDone: int('Extra: files complete.'),
      recvRate: num('Extra: receive rate over the recent window, kbit/s.'),
      startTime: int('Extra: when the transfer was accepted, Unix µs.'),
      endTime: usOrNull('Extra: when it completed or failed.'),
      clientPublicKey: str("Extra: the sender's public key."),
    },
    "The receiver's record of one incoming transfer.",
  ),
  BandwidthLimits: obj(
    {
      incomingRateLimit: int('Cap on the receive rate of all sources together, kbit/s of UDP payload (0 = none).'),
      incomingRateLimitPerSource: int('Cap on the receive rate of each source (sender key), kbit/s (0 = none).'),
    },
    'Receive rate limits: answer of server.updateBandwidthLimits and bandwidthLimits of getServerInfo.',
  ),
  SourceList: { type: 'array', items: ref('SourceStructure') },
  ReceiveTransferList: { type: 'array', items: ref('ReceiveTransferStructure') },
  TransferEvent: obj(
    {
      type: { type: 'string', enum: [...TRANSFER_EVENT_TYPES] },
      time: int('When it happened, Unix µs.'),
      transfer: ref('ReceiveTransferStructure'),
      file: obj(
        {
          index: int('Index in the manifest.'),
          path: { type: 'string', nullable: true, description: 'Path beneath the sandbox root (destinationPath included).' },
          size: { type: 'integer', nullable: true, description: 'Bytes.' },
        },
        'fileComplete only.',
      ),
      resumed: bool('transferStarted only: the sender resumed an earlier transfer.'),
    },
    'A transfer event: the data of an SSE event of GET /api/v1/events named by its type, the body of a webhook POST and the stdin of a hook command.',
    ['type', 'time', 'transfer'],
  ),
  ProgressEvent: obj(
    {
      type: { type: 'string', enum: ['progress'] },
      time: int('Unix µs.'),
      transfers: { type: 'array', items: ref('ReceiveTransferStructure'), description: 'Every receiving transfer.' },
    },
    'The data of an SSE `progress` event of GET /api/v1/events, sent every --events-progress-interval while a transfer is receiving.',
  ),
  ServerInfo: {
    type: 'object',
    description:
      'Server information. Fields from the daemon (version, hostName, serverName, serverId, publicKey, minCipher, recvPorts, encryptionAvailable, serverExternalAddress, ...) plus the API fields below. `configuration` and `receiver.authorizedClients` only for elevated superusers; `receiver.onlyAuthorizedClientsAllowed` and `receiver.authorizedClientCount` only for authenticated callers.',
    additionalProperties: true,
    properties: {
      version: str('jetrecv version.'),
      hostName: str('Machine host name.'),
      serverName: str('Friendly server name.'),
      serverId: str('Unique per server instance.'),
      publicKey: str("The server's X25519 public key (base64)."),
      minCipher: str('Weakest data cipher accepted.'),
      recvPorts: { type: 'array', items: { type: 'integer' }, description: 'UDP data port(s).' },
      encryptionAvailable: bool('Always true.'),
      serverExternalAddress: { type: 'string', nullable: true },
      allowRemoteControl: bool('False: the API is bound to 127.0.0.1.'),
      apiControlPort: int('TCP port of this API.'),
      apiVersion: int('Version of this HTTP API.'),
      authRequired: bool('Always true.'),
      APITokensAvailable: bool('Always true: see server.createAPIToken.'),
      certificateValidation: { type: 'integer', nullable: true, description: 'Days until the TLS certificate expires; null without TLS.' },
      bandwidthLimits: ref('BandwidthLimits'),
      receiver: obj(
        {
          onlyAuthorizedClientsAllowed: bool('Authenticated callers only.'),
          authorizedClientCount: int('Authenticated callers only.'),
          authorizedClients: { type: 'array', items: { type: 'string' }, description: 'Elevated superusers only.' },
        },
        undefined,
        [],
      ),
      sessionUser: { type: 'string', nullable: true, description: "The caller's user, null without a token." },
      sessionSuperuser: bool("Whether the caller's session is elevated."),
      configuration: { type: 'object', additionalProperties: true, description: 'Elevated superusers only.' },
    },
    required: ['version', 'publicKey', 'allowRemoteControl', 'apiControlPort', 'apiVersion', 'authRequired', 'receiver'],
  },
};

function paramSchema(param: ParamSpec): Schema {
  const plain: Schema = { type: param.type };
  if (param.minimum !== undefined) plain.minimum = param.minimum;
  if (param.maximum !== undefined) plain.maximum = param.maximum;
  return {
    description: param.description,
    oneOf: [plain, { type: 'object', properties: { [param.name]: plain }, required: [param.name], description: 'Dict form.' }],
  };
}

const errorResponse = (description: string): Schema => ({
  description,
  content: { 'application/json': { schema: ref('Error') } },
});

function operation(method: MethodSpec): Schema {
  const responses: Record<string, Schema> = {};
  const answer = method.name === 'server.authAsync' ? 'AuthAsyncStructure' : method.async ? 'RequestStructure' : method.resultSchema;
  responses['200'] = {
    description: method.async ? `Request queued; its result is a ${method.resultSchema}.` : 'Success.',
    content: { 'application/json': { schema: ref(answer) } },
  };
  responses['400'] = errorResponse(
    'Malformed JSON (JETRECV_ERR_BAD_REQUEST), bad parameter (JETRECV_ERR_BAD_PARAMETER) or bad key (JETRECV_ERR_BAD_KEY).',
  );
  if (method.access !== 'public' || method.name.startsWith('server.auth')) {
    responses['401'] = errorResponse('Missing, unknown or expired token; for logins a wrong password or no users.');
  }
  if (method.access === 'superuser' || method.name === 'server.superuser' || method.name.startsWith('server.getRequest')) {
    responses['403'] = errorResponse('Not a superuser, session not elevated, or a request of another user.');
  }
  if (method.name.startsWith('server.getRequest')) {
    responses['404'] = errorResponse('No such request (JETRECV_ERR_REQUEST_NOT_FOUND).');
    responses['410'] = errorResponse('The request record expired (JETRECV_ERR_REQUEST_EXPIRED).');
  }
  if (method.name === 'server.getRequestResult') {
    responses['408'] = errorResponse('Still pending or processing after timeoutMs (JETRECV_ERR_REQUEST_TIMEOUT).');
  }
  responses['413'] = errorResponse('Body larger than 64 KiB.');
  if (method.name.startsWith('server.auth')) responses['429'] = errorResponse('Too many failed logins; see Retry-After.');
  if (method.async) responses['503'] = errorResponse('Too many requests in progress, or shutting down.');
  responses['500'] = errorResponse('Server fault; a failed request reports its own code (e.g. JETRECV_ERR_STATE).');

  const op: Schema = {
    operationId: method.name,
    summary: method.summary,
    tags: [method.name.slice(0, method.name.indexOf('.'))],
    security: method.access === 'public' ? [{}, { bearerAuth: [] }] : [{ bearerAuth: [] }],
    'x-access': method.access,
    responses,
  };
  if (method.async) op['x-request-result'] = ref(method.resultSchema);
  const properties: Record<string, Schema> = {};
  for (const p of method.params) properties[p.name] = paramSchema(p);
  const required = method.params.filter((p) => p.required).map((p) => p.name);
  op.requestBody = {
    required: required.length > 0,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          properties,
          ...(required.length > 0 ? { required } : {}),
          additionalProperties: false,
        },
      },
    },
  };
  return op;
}

/** The OpenAPI 3.0 document of the API (deterministic: same catalogue, same JSON). */
export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Schema> = {};
  for (const method of METHODS) {
    const item: Schema = { post: operation(method) };
    if (method.allowGet) {
      const { requestBody: _unused, ...getOp } = operation(method);
      item.get = { ...getOp, operationId: `${method.name}.get` };
    }
    paths[`/api/v1/${method.name}`] = item;
  }
  paths['/api/v1/openapi.json'] = {
    get: {
      operationId: 'openapi',
      summary: 'This document.',
      security: [{}],
      responses: { '200': { description: 'OpenAPI 3.0 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  };
  paths[EVENTS_PATH] = {
    get: {
      operationId: 'events',
      summary: 'Live transfer events as Server-Sent Events (text/event-stream).',
      description:
        'Each event is `event: <type>` and `data: <one JSON line>`: a TransferEvent for transferStarted, fileComplete, transferComplete, transferFailed and transferCancelled, a ProgressEvent for progress. A comment line (`: heartbeat`) comes every 15 s. No event ids, no replay: Last-Event-ID is ignored; after a reconnect call recv.getTransfersAsync. A client more than 1 MiB behind is disconnected. The stream ends with its session.',
      security: [{ bearerAuth: [] }],
      'x-access': 'session',
      responses: {
        '200': {
          description: 'The event stream; stays open.',
          content: { 'text/event-stream': { schema: { oneOf: [ref('TransferEvent'), ref('ProgressEvent')] } } },
        },
        '401': errorResponse('Missing, unknown or expired token.'),
        '405': errorResponse('Not GET.'),
      },
    },
  };
  return {
    openapi: '3.0.3',
    info: {
      title: 'jetrecv RecvInterface API',
      version: '1',
      description:
        'HTTP/JSON form of the JetStream RecvInterface and the server methods it needs. Every method is POST /api/v1/<namespace>.<method> with a JSON object of named parameters (an empty body means no parameters). Log in with server.auth and send the token as "Authorization: Bearer <token>", or send an API token (server.createAPIToken) the same way; on the daemon\'s host, the local admin socket (HTTP over a Unix socket) authenticates root and the service user by their process credentials instead. *Async methods answer a Request Structure; fetch the result with server.getRequestResult. Errors are {"error": {"code", "message"}}. See docs/API.md.',
    },
    servers: [{ url: 'http://127.0.0.1:8886', description: 'Default: loopback, TCP 8886 (https when a certificate is configured).' }],
    tags: [
      { name: 'server', description: 'Sessions, server information and requests.' },
      { name: 'recv', description: 'RecvInterface: authorized clients, sources, transfers.' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'Session token from server.auth, or an API token from server.createAPIToken.',
        },
      },
      schemas: SCHEMAS,
    },
  };
}
