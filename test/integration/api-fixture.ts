// api-fixture.ts — a real API server on 127.0.0.1 port 0 with real state files in a temp
// dir and a sample backend, plus a raw HTTP caller, for the api-*.test.ts files.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { RecvBackend } from '../../src/api/recv-backend.js';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/api/server.js';
import type {
  BandwidthLimitsStructure,
  ReceiveTransferStructure,
  ServerInfoBase,
  SourceStructure,
} from '../../src/proto/api-structures.js';
import { AuthorizedClients } from '../../src/state/authorized-clients.js';
import { UserStore } from '../../src/state/users.js';

/** Cheap scrypt cost so tests do not spend seconds hashing. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export function randomKey(): string {
  let key: Buffer;
  do key = randomBytes(32);
  while (key.every((b) => b === 0));
  return key.toString('base64');
}

export const SAMPLE_SOURCE: SourceStructure = {
  activeTransferCount: 1,
  aveRecvRate: 812345,
  aveRecvRateWindow: 903000,
  completeTransferCount: 4,
  destinationPublicKey: 'B'.repeat(43) + '=',
  encryptedConnectionState: 'connected',
  encryptionEnabled: true,
  errorTransferCount: 1,
  inactiveTransferCount: 0,
  sourceIP: '127.0.0.1',
  sourcePort: 40123,
  clientPublicKey: 'C'.repeat(43) + '=',
  bytesReceived: 123456789,
  lastRecvTime: 1_700_000_000_000_000,
  recvRateLimit: 0,
};

export const SAMPLE_TRANSFER: ReceiveTransferStructure = {
  destinationPath: 'incoming/run-7',
  lastErrorTime: null,
  lastRecvTime: 1_700_000_000_000_000,
  lastSendTime: 1_700_000_000_100_000,
  sourceIP: '127.0.0.1',
  sourcePort: 40123,
  status: 'receiving',
  totalSize: 1 << 30,
  transferId: '0123456789abcdef0123456789abcdef',
  errorMessage: '',
  bytesReceived: 1 << 20,
  filesTotal: 3,
  filesDone: 1,
  recvRate: 900000,
  startTime: 1_699_999_999_000_000,
  endTime: null,
  clientPublicKey: 'C'.repeat(43) + '=',
};

/** A backend whose getSources/getTransfers can be made to block or fail by the test. */
export class SampleBackend implements RecvBackend {
  authorizationChanges = 0;
  /** When set, getSources waits for it. */
  sourcesGate: Promise<void> | undefined;
  /** When set, getTransfers throws it. */
  transfersError: Error | undefined;

  constructor(readonly authorizedClients: AuthorizedClients) {}

  async getSources(): Promise<SourceStructure[]> {
    if (this.sourcesGate !== undefined) await this.sourcesGate;
    return [SAMPLE_SOURCE];
  }

  getTransfers(): ReceiveTransferStructure[] {
    if (this.transfersError !== undefined) throw this.transfersError;
    return [SAMPLE_TRANSFER];
  }

  onAuthorizationChanged(): void {
    this.authorizationChanges++;
  }

  bandwidthLimits: BandwidthLimitsStructure = { incomingRateLimit: 0, incomingRateLimitPerSource: 0 };
  getBandwidthLimits(): BandwidthLimitsStructure {
    return { ...this.bandwidthLimits };
  }
  setBandwidthLimits(limits: BandwidthLimitsStructure): void {
    this.bandwidthLimits = { ...limits };
  }
}

export const SAMPLE_SERVER_INFO: ServerInfoBase = {
  version: '0.1.0-test',
  hostName: 'test-host',
  serverName: 'test-server',
  serverId: 'abc123',
  publicKey: 'A'.repeat(43) + '=',
  minCipher: 'aes-256-gcm',
  recvPorts: [8886],
  encryptionAvailable: true,
  serverExternalAddress: null,
  configuration: { sandboxDir: '/srv/data', rxThreads: 2 },
};

export interface FixtureOptions extends Partial<Omit<ApiServerOptions, 'users' | 'backend'>> {
  /** Users to create: [name, password]. */
  users?: [string, string][];
  /** Use this state dir instead of a fresh temp dir. */
  stateDir?: string;
}

export interface Fixture {
  server: ApiServer;
  port: number;
  stateDir: string;
  users: UserStore;
  clients: AuthorizedClients;
  backend: SampleBackend;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
  /** POST a method with a JSON body (object or raw string) and optional token. */
  call(method: string, body?: unknown, token?: string): Promise<RawAnswer>;
  /** Log in and return the token (fails the test if the login fails). */
  login(user: string, password: string): Promise<string>;
  close(): Promise<void>;
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  json: any;
}

export async function rawRequest(
  port: number,
  urlPath: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; /** default 127.0.0.1 */ host?: string } = {},
): Promise<RawAnswer> {
  const res = await fetch(`http://${init.host ?? '127.0.0.1'}:${port}${urlPath}`, {
    method: init.method ?? 'POST',
    ...(init.body !== undefined ? { body: init.body } : {}),
    headers: init.headers ?? {},
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = { rawText: text };
  }
  return { status: res.status, headers: res.headers, json };
}

export async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const ownDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(path.join(tmpdir(), 'jetrecv-api-')));
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const users = await UserStore.open(stateDir, { scrypt: TEST_SCRYPT });
  for (const [name, password] of options.users ?? []) {
    if ((await users.get(name)) === undefined) await users.add(name, password);
  }
  const clients = await AuthorizedClients.open(stateDir);
  const backend = new SampleBackend(clients);
  const { users: _u, stateDir: _s, ...serverOptions } = options;
  let server: ApiServer;
  try {
    server = await startApiServer({
      host: '127.0.0.1',
      port: 0,
      allowRemoteControl: false,
      superusers: [],
      logger,
      serverInfo: () => SAMPLE_SERVER_INFO,
      ...serverOptions,
      backend,
      users,
    });
  } catch (err) {
    if (ownDir) await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  const port = server.port;
  const call = (method: string, body?: unknown, token?: string): Promise<RawAnswer> =>
    rawRequest(port, `/api/v1/${method}`, {
      body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}) },
    });
  return {
    server,
    port,
    stateDir,
    users,
    clients,
    backend,
    logs,
    call,
    async login(user, password) {
      const answer = await call('server.auth', { user, password });
      if (answer.status !== 200) throw new Error(`login of ${user} failed: ${JSON.stringify(answer.json)}`);
      return answer.json.token as string;
    },
    async close() {
      await server.close();
      if (ownDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
