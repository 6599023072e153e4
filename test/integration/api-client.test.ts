// The TypeScript client (jetrecv/client) against a real server, over HTTP and HTTPS.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, JetrecvClient } from '../../src/client/index.js';
import { randomKey, SAMPLE_SOURCE, SAMPLE_TRANSFER, startFixture, type Fixture } from './api-fixture.js';
import { missingTools } from '../tools/host-tools.js';
import { makeSelfSignedCert } from '../tools/tls-cert.js';

const noOpenssl = missingTools(['openssl']);
if (noOpenssl !== null) console.log(`api-client HTTPS test skipped: making its certificate ${noOpenssl}`);

let fixture: Fixture | undefined;
const clients: JetrecvClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await fixture?.close();
  fixture = undefined;
});

function client(options: ConstructorParameters<typeof JetrecvClient>[0]): JetrecvClient {
  const c = new JetrecvClient(options);
  clients.push(c);
  return c;
}

async function start(extra: Parameters<typeof startFixture>[0] = {}): Promise<Fixture> {
  fixture = await startFixture({
    users: [
      ['alice', 'alice-password-1'],
      ['root', 'root-password-123'],
    ],
    superusers: ['root'],
    ...extra,
  });
  return fixture;
}

describe('JetrecvClient', () => {
  it('drives every method with the server names and typed results', async () => {
    const f = await start();
    const api = client({ port: f.port });
    const info = await api.server.getServerInfo();
    expect(info.authRequired).toBe(true);
    const auth = await api.server.auth('root', 'root-password-123');
    expect(auth).toMatchObject({ user: 'root', superuser: true });
    expect(api.token).toBe(auth.token);
    expect(await api.server.superuser()).toEqual({ user: 'root', superuser: true });

    const key = randomKey();
    const addReq = await api.recv.addAuthorizedClientAsync(key);
    const added = await api.wait(addReq);
    expect(added.added).toBe(true);
    const dictReq = await api.recv.addAuthorizedClientAsync({ clientPublicKey: key });
    expect((await api.wait(dictReq)).added).toBe(false);
    expect(await api.wait(await api.recv.allowOnlyAuthorizedClientsAsync(true))).toEqual({
      onlyAuthorizedClientsAllowed: true,
      changed: true,
    });
    expect(await api.wait(await api.recv.getAuthorizedClientsAsync())).toEqual({
      onlyAuthorizedClientsAllowed: true,
      clientPublicKeys: [key],
    });
    expect(await api.wait(await api.recv.removeAuthorizedClientAsync({ clientPublicKey: key }))).toEqual({
      clientPublicKey: key,
      removed: true,
    });
    expect(await api.wait(await api.recv.getSourcesAsync())).toEqual([SAMPLE_SOURCE]);

    const transfersReq = await api.recv.getTransfersAsync();
    const status = await api.server.getRequestStatus(transfersReq);
    expect(status.requestId).toBe(transfersReq.requestId);
    const res = await api.server.getRequestResult(transfersReq.requestId, 5000);
    expect(res).toEqual({ requestId: transfersReq.requestId, status: 'complete', result: [SAMPLE_TRANSFER] });

    const elevatedInfo = await api.server.getServerInfo();
    expect(elevatedInfo.configuration).toBeDefined();
    await api.server.logout();
    expect(api.token).toBeUndefined();
    await expect(api.recv.getSourcesAsync()).rejects.toMatchObject({ code: 'JETRECV_ERR_UNAUTHENTICATED', status: 401 });
  });

  it("throws ApiError with code, status and message; wait() throws a failed request's error", async () => {
    const f = await start();
    const api = client({ port: f.port });
    const err = await api.server.auth('alice', 'wrong-password').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'JETRECV_ERR_LOGIN_FAILED', status: 401, message: 'invalid user name or password' });
    await api.server.auth('alice', 'alice-password-1');
    await expect(api.recv.addAuthorizedClientAsync(randomKey())).rejects.toMatchObject({ code: 'JETRECV_ERR_NOT_SUPERUSER', status: 403 });
    await expect(api.server.getRequestStatus(12345)).rejects.toMatchObject({
      code: 'JETRECV_ERR_REQUEST_NOT_FOUND',
      status: 404,
      requestId: 12345,
    });
    await expect(api.call('recv.getSourcesAsync', { bogus: 1 })).rejects.toMatchObject({ status: 400, parameter: 'bogus' });

    f.backend.transfersError = Object.assign(new Error('x'), {});
    const req = await api.recv.getTransfersAsync();
    await expect(api.wait(req)).rejects.toMatchObject({ code: 'JETRECV_ERR_INTERNAL', status: 500, requestId: req.requestId });
  });

  it('refuses a client key with surrounding whitespace or a low-order X25519 point (400, JETRECV_ERR_BAD_KEY)', async () => {
    const f = await start();
    const api = client({ port: f.port });
    await api.server.auth('root', 'root-password-123');
    await api.server.superuser();
    const key = randomKey();
    const lowOrder = Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex').toString('base64');
    for (const [bad, message] of [
      [` ${key}`, /leading or trailing whitespace/],
      [`${key} `, /leading or trailing whitespace/],
      [lowOrder, /low-order X25519 point/],
    ] as const) {
      const err = await api.recv
        .addAuthorizedClientAsync(bad)
        .then((req) => api.wait(req))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ code: 'JETRECV_ERR_BAD_KEY' });
      expect((err as Error).message).toMatch(message);
    }
    expect(await api.wait(await api.recv.getAuthorizedClientsAsync())).toMatchObject({ clientPublicKeys: [] });
  });

  it('wait() keeps asking until a slow request completes', async () => {
    const f = await start();
    const api = client({ port: f.port });
    await api.server.auth('alice', 'alice-password-1');
    let release!: () => void;
    f.backend.sourcesGate = new Promise((r) => (release = r));
    const req = await api.recv.getSourcesAsync();
    setTimeout(release, 300);
    expect(await api.wait(req, 10_000)).toEqual([SAMPLE_SOURCE]);
  });

  it('authAsync keeps the token and wait() returns the login result', async () => {
    const f = await start();
    const api = client({ port: f.port });
    const req = await api.server.authAsync('alice', 'alice-password-1');
    expect(api.token).toBe(req.token);
    expect(await api.wait(req)).toMatchObject({ user: 'alice' });
    expect(await api.wait(await api.recv.getSourcesAsync())).toHaveLength(1);
  });

  it('reports an unreachable server as ApiError status 0', async () => {
    const f = await start();
    const port = f.port;
    await f.close();
    fixture = undefined;
    const api = client({ port });
    await expect(api.server.getServerInfo()).rejects.toMatchObject({
      code: 'JETRECV_ERR_API_UNREACHABLE',
      status: 0,
      message: expect.stringContaining(`http://127.0.0.1:${port}`),
    });
  });

  it.skipIf(noOpenssl !== null)('speaks HTTPS with a configured certificate and reports its expiry', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'jetrecv-tls-'));
    try {
      const { cert, key } = makeSelfSignedCert(dir);
      const f = await start({ tls: { cert, key } });
      const trusted = client({ port: f.port, tls: { ca: await readFile(cert) } });
      const info = await trusted.server.getServerInfo();
      expect(info.certificateValidation).toBeGreaterThanOrEqual(29);
      expect(info.certificateValidation).toBeLessThanOrEqual(30);
      await trusted.server.auth('alice', 'alice-password-1');
      expect(await trusted.wait(await trusted.recv.getSourcesAsync())).toHaveLength(1);

      const untrusted = client({ port: f.port, tls: true });
      await expect(untrusted.server.getServerInfo()).rejects.toMatchObject({ code: 'JETRECV_ERR_API_UNREACHABLE', status: 0 });
      const insecure = client({ port: f.port, tls: true, rejectUnauthorized: false });
      expect((await insecure.server.getServerInfo()).authRequired).toBe(true);
      const plain = client({ port: f.port });
      await expect(plain.server.getServerInfo()).rejects.toBeInstanceOf(ApiError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails to start with JETRECV_ERR_CONFIG naming an unreadable TLS file', async () => {
    await expect(start({ tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } })).rejects.toMatchObject({
      code: 'JETRECV_ERR_CONFIG',
      message: expect.stringContaining('/nonexistent/cert.pem'),
    });
    fixture = undefined;
  });
});
