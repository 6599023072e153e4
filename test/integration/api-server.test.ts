// The API server over real HTTP on 127.0.0.1 with real state files: every method, both
// parameter forms, the superuser rules, the request model and the error answers.
import { afterEach, describe, expect, it } from 'vitest';
import { networkInterfaces } from 'node:os';
import { buildOpenApiDocument } from '../../src/api/openapi.js';
import { AuthorizedClients } from '../../src/state/authorized-clients.js';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import { UserStore } from '../../src/state/users.js';
import {
  randomKey,
  rawRequest,
  SAMPLE_SOURCE,
  SAMPLE_TRANSFER,
  startFixture,
  TEST_SCRYPT,
  type Fixture,
  type FixtureOptions,
} from './api-fixture.js';

const ALICE: [string, string] = ['alice', 'alice-password-1'];
const ROOT: [string, string] = ['root', 'root-password-123'];

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function start(options: FixtureOptions = {}): Promise<Fixture> {
  fixture = await startFixture({ users: [ALICE, ROOT], superusers: ['root'], ...options });
  return fixture;
}

/** Logs in as root and elevates. */
async function superToken(f: Fixture): Promise<string> {
  const token = await f.login(...ROOT);
  const answer = await f.call('server.superuser', {}, token);
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({ user: 'root', superuser: true });
  return token;
}

/** Waits for a request's result through the API. */
async function result(f: Fixture, token: string, requestId: number): Promise<any> {
  const answer = await f.call('server.getRequestResult', { requestId, timeoutMs: 5000 }, token);
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  expect(answer.json.status).toBe('complete');
  return answer.json.result;
}

describe('server.getServerInfo', () => {
  it('answers without a token, by GET and POST, with authRequired and no private fields', async () => {
    const f = await start();
    const byGet = await rawRequest(f.port, '/api/v1/server.getServerInfo', { method: 'GET' });
    const byPost = await f.call('server.getServerInfo');
    for (const answer of [byGet, byPost]) {
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({
        authRequired: true,
        apiVersion: 1,
        apiControlPort: f.port,
        allowRemoteControl: false,
        publicKey: 'A'.repeat(43) + '=',
        version: '0.1.0-test',
        certificateValidation: null,
        sessionUser: null,
        sessionSuperuser: false,
      });
      expect(answer.json.configuration).toBeUndefined();
      expect(answer.json.receiver).toEqual({});
    }
    expect(byPost.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('shows the allow-only flag to users, and the configuration and key list to elevated superusers only', async () => {
    const f = await start();
    const key = randomKey();
    await f.clients.add(key);
    const user = await f.call('server.getServerInfo', {}, await f.login(...ALICE));
    expect(user.json.receiver).toEqual({ onlyAuthorizedClientsAllowed: false, authorizedClientCount: 1 });
    expect(user.json.configuration).toBeUndefined();
    expect(user.json.sessionUser).toBe('alice');

    const rootToken = await f.login(...ROOT);
    const notElevated = await f.call('server.getServerInfo', {}, rootToken);
    expect(notElevated.json.configuration).toBeUndefined();
    expect(notElevated.json.receiver.authorizedClients).toBeUndefined();

    await f.call('server.superuser', {}, rootToken);
    const elevated = await f.call('server.getServerInfo', {}, rootToken);
    expect(elevated.json.configuration).toEqual({ sandboxDir: '/srv/data', rxThreads: 2 });
    expect(elevated.json.receiver.authorizedClients).toEqual([key]);
    expect(elevated.json.sessionSuperuser).toBe(true);
  });
});

describe('login and sessions', () => {
  it('refuses a wrong password and an unknown user with the same 401, and logs without the password', async () => {
    const f = await start();
    const wrong = await f.call('server.auth', { user: 'alice', password: 'not-the-password' });
    const unknown = await f.call('server.auth', { user: 'mallory', password: 'not-the-password' });
    for (const answer of [wrong, unknown]) {
      expect(answer.status).toBe(401);
      expect(answer.json.error).toEqual({ code: 'JETRECV_ERR_LOGIN_FAILED', message: 'invalid user name or password' });
    }
    const failures = f.logs.filter((l) => l.msg === 'login failed');
    expect(failures.map((l) => l.user)).toEqual(['alice', 'mallory']);
    expect(JSON.stringify(f.logs)).not.toContain('not-the-password');
  });

  it('says how to create the first user when the store is empty', async () => {
    fixture = await startFixture({ users: [] });
    const answer = await fixture.call('server.auth', { user: 'admin', password: 'whatever-123' });
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe('JETRECV_ERR_NO_USERS');
    expect(answer.json.error.message).toContain('jetrecv user add NAME --persistent-state-dir DIR');
    expect(answer.json.error.message).toContain('--superuser NAME');
  });

  it('returns a token that authenticates later calls, until logout', async () => {
    const f = await start();
    const login = await f.call('server.auth', { user: 'alice', password: 'alice-password-1' });
    expect(login.status).toBe(200);
    expect(login.json).toMatchObject({ user: 'alice', superuser: false, idleTimeoutSeconds: 1800 });
    expect(login.json.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const token = login.json.token as string;
    expect((await f.call('recv.getSourcesAsync', {}, token)).status).toBe(200);
    expect((await f.call('server.logout', {}, token)).json).toEqual({ loggedOut: true });
    const after = await f.call('recv.getSourcesAsync', {}, token);
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('JETRECV_ERR_UNAUTHENTICATED');
  });

  it('answers 401 with a JSON error for missing, malformed, unknown and idle-expired tokens', async () => {
    const f = await start({ sessionIdleTimeoutMs: 150 });
    const missing = await f.call('recv.getSourcesAsync');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect(missing.json.error.message).toContain('server.auth');
    const malformed = await rawRequest(f.port, '/api/v1/recv.getSourcesAsync', { headers: { Authorization: 'Basic abc' } });
    expect(malformed.status).toBe(401);
    expect(malformed.json.error.message).toContain('Bearer');
    const unknown = await f.call('recv.getSourcesAsync', {}, 'A'.repeat(43));
    expect(unknown.status).toBe(401);
    expect(unknown.json.error.message).toContain('unknown session token');

    const token = await f.login(...ALICE);
    await new Promise((r) => setTimeout(r, 250));
    const expired = await f.call('recv.getSourcesAsync', {}, token);
    expect(expired.status).toBe(401);
    expect(expired.json.error.message).toContain('expired');
  });

  it('ends the sessions of a user removed or whose password changed in the store (as `jetrecv user` does)', async () => {
    const f = await start();
    const aliceToken = await f.login(...ALICE);
    const rootToken = await f.login(...ROOT);
    const cli = await UserStore.open(f.stateDir, { scrypt: TEST_SCRYPT }); // a second process's view
    await cli.setPassword('alice', 'alice-new-password');
    await cli.remove('root');
    const alice = await f.call('recv.getSourcesAsync', {}, aliceToken);
    expect(alice.status).toBe(401);
    expect(alice.json.error.message).toContain('password');
    const root = await f.call('recv.getSourcesAsync', {}, rootToken);
    expect(root.status).toBe(401);
    expect(root.json.error.message).toContain('no longer exists');
    expect((await f.call('server.auth', { user: 'alice', password: 'alice-new-password' })).status).toBe(200);
  });

  it('rate-limits failed logins of a user from a non-loopback address, refusing even the right password there, but not from another address', async (ctx) => {
    const remote = nonLoopbackAddress();
    if (remote === null) {
      console.log('skipped: the host has no non-loopback IPv4 address to connect from');
      ctx.skip();
      return;
    }
    const f = await start({
      allowRemoteControl: true,
      host: '0.0.0.0',
      loginRateLimit: { freeAttempts: 3, addressFreeAttempts: 5, baseDelayMs: 400, paceMaxMs: 50 },
    });
    const auth = (user: string, password: string, host: string) =>
      rawRequest(f.port, '/api/v1/server.auth', {
        body: JSON.stringify({ user, password }),
        headers: { 'Content-Type': 'application/json' },
        host,
      });
    for (let i = 0; i < 3; i++) expect((await auth('alice', `wrong-guess-${i}`, remote)).status).toBe(401);
    const limited = await auth('alice', 'alice-password-1', remote);
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe('JETRECV_ERR_RATE_LIMITED');
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(
      f.logs.some((l) => l.msg === 'login refused: too many failed attempts' && l.user === 'alice' && l.remoteAddress === remote),
    ).toBe(true);
    // Another address is not locked out by them: alice logs in from loopback at once.
    expect((await auth('alice', 'alice-password-1', '127.0.0.1')).status).toBe(200);
    // The same address may still try other names until its own (larger) allowance is spent.
    expect((await auth('root', 'root-password-123', remote)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 450));
    expect((await auth('alice', 'alice-password-1', remote)).status).toBe(200);
    // Success cleared the pair: one more failure is free again.
    expect((await auth('alice', 'wrong-again', remote)).status).toBe(401);
  });

  it('failed logins from loopback (any local process) never lock the local admin out: they only pace the checks', async () => {
    const f = await start({ loginRateLimit: { freeAttempts: 3, baseDelayMs: 100, paceMaxMs: 200 } });
    for (let i = 0; i < 12; i++) expect((await f.call('server.auth', { user: 'root', password: `wrong-guess-${i}` })).status).toBe(401);
    const paced = f.logs.filter((l) => l.msg === 'login failed' && l.user === 'root' && (l.paceMs as number) > 0);
    expect(paced.length).toBeGreaterThan(0);
    expect(f.logs.some((l) => l.msg === 'login refused: too many failed attempts')).toBe(false);
    expect((await f.call('server.auth', { user: 'root', password: 'root-password-123' })).status).toBe(200);
  });

  it('server.authAsync: the token works for its request only until the login completes', async () => {
    const f = await start();
    const started = await f.call('server.authAsync', { user: 'alice', password: 'alice-password-1' });
    expect(started.status).toBe(200);
    const { requestId, token } = started.json as { requestId: number; token: string };
    expect(requestId).toBeGreaterThanOrEqual(1);
    const res = await f.call('server.getRequestResult', { requestId: { requestId } }, token);
    expect(res.status).toBe(200);
    expect(res.json.result).toEqual({ user: 'alice', superuser: false, idleTimeoutSeconds: 1800 });
    expect((await f.call('recv.getSourcesAsync', {}, token)).status).toBe(200);

    const bad = await f.call('server.authAsync', { user: 'alice', password: 'wrong-password' });
    const badResult = await f.call('server.getRequestResult', { requestId: bad.json.requestId }, bad.json.token);
    expect(badResult.status).toBe(401);
    expect(badResult.json.error).toMatchObject({ code: 'JETRECV_ERR_LOGIN_FAILED', requestId: bad.json.requestId });
    expect((await f.call('recv.getSourcesAsync', {}, bad.json.token)).status).toBe(401);
  });

  it('an authenticating token cannot read other requests', async () => {
    const f = await start();
    const aliceToken = await f.login(...ALICE);
    const other = (await f.call('recv.getSourcesAsync', {}, aliceToken)).json.requestId as number;
    const pending = await f.call('server.authAsync', { user: 'alice', password: 'alice-password-1' });
    const answer = await f.call('server.getRequestStatus', { requestId: other }, pending.json.token);
    // Either still authenticating (401) or, if the login already completed, a normal read.
    if (answer.status !== 200) {
      expect(answer.status).toBe(401);
      expect(answer.json.error.message).toContain('authenticating');
    }
  });
});

describe('superuser rules for the authorized-client methods', () => {
  const methods: [string, () => Record<string, unknown>][] = [
    ['recv.addAuthorizedClientAsync', () => ({ clientPublicKey: randomKey() })],
    ['recv.removeAuthorizedClientAsync', () => ({ clientPublicKey: randomKey() })],
    ['recv.allowOnlyAuthorizedClientsAsync', () => ({ onlyAuthorizedClientsAllowed: true })],
    ['recv.getAuthorizedClientsAsync', () => ({})],
  ];

  it('refuses a non-superuser (403 NOT_SUPERUSER) and a superuser who has not elevated (403 NOT_ELEVATED); nothing changes', async () => {
    const f = await start();
    const aliceToken = await f.login(...ALICE);
    const rootToken = await f.login(...ROOT);
    for (const [method, params] of methods) {
      const asAlice = await f.call(method, params(), aliceToken);
      expect(asAlice.status, method).toBe(403);
      expect(asAlice.json.error.code).toBe('JETRECV_ERR_NOT_SUPERUSER');
      const asRoot = await f.call(method, params(), rootToken);
      expect(asRoot.status, method).toBe(403);
      expect(asRoot.json.error.code).toBe('JETRECV_ERR_NOT_ELEVATED');
      expect(asRoot.json.error.message).toContain('server.superuser()');
    }
    expect(f.clients.list()).toEqual([]);
    expect(f.clients.allowOnly).toBe(false);
    expect(f.backend.authorizationChanges).toBe(0);
    const elevate = await f.call('server.superuser', {}, aliceToken);
    expect(elevate.status).toBe(403);
    expect(elevate.json.error.code).toBe('JETRECV_ERR_NOT_SUPERUSER');
  });

  it('an elevated superuser adds, lists, restricts and removes keys, in plain and dict form; the change persists', async () => {
    const f = await start();
    const token = await superToken(f);
    const key1 = randomKey();
    const key2 = randomKey();

    const add1 = await f.call('recv.addAuthorizedClientAsync', { clientPublicKey: key1 }, token);
    expect(add1.status).toBe(200);
    expect(Object.keys(add1.json)).toEqual(['requestId']);
    expect(await result(f, token, add1.json.requestId)).toEqual({ clientPublicKey: key1, added: true });
    const add2 = await f.call('recv.addAuthorizedClientAsync', { clientPublicKey: { clientPublicKey: key2 } }, token);
    expect(await result(f, token, add2.json.requestId)).toEqual({ clientPublicKey: key2, added: true });
    const again = await f.call('recv.addAuthorizedClientAsync', { clientPublicKey: key1 }, token);
    expect(await result(f, token, again.json.requestId)).toEqual({ clientPublicKey: key1, added: false });
    expect(f.backend.authorizationChanges).toBe(2);

    const only = await f.call(
      'recv.allowOnlyAuthorizedClientsAsync',
      { onlyAuthorizedClientsAllowed: { onlyAuthorizedClientsAllowed: true } },
      token,
    );
    expect(await result(f, token, only.json.requestId)).toEqual({ onlyAuthorizedClientsAllowed: true, changed: true });
    expect(f.backend.authorizationChanges).toBe(3);

    const list = await f.call('recv.getAuthorizedClientsAsync', {}, token);
    expect(await result(f, token, list.json.requestId)).toEqual({ onlyAuthorizedClientsAllowed: true, clientPublicKeys: [key1, key2] });

    const remove = await f.call('recv.removeAuthorizedClientAsync', { clientPublicKey: { clientPublicKey: key1 } }, token);
    expect(await result(f, token, remove.json.requestId)).toEqual({ clientPublicKey: key1, removed: true });
    const removeAbsent = await f.call('recv.removeAuthorizedClientAsync', { clientPublicKey: key1 }, token);
    expect(await result(f, token, removeAbsent.json.requestId)).toEqual({ clientPublicKey: key1, removed: false });
    expect(f.backend.authorizationChanges).toBe(4);

    const reopened = await AuthorizedClients.open(f.stateDir);
    expect(reopened.list()).toEqual([key2]);
    expect(reopened.allowOnly).toBe(true);
    expect(f.logs.filter((l) => l.msg === 'authorized clients changed').map((l) => l.user)).toEqual(['root', 'root', 'root', 'root']);
  });

  it('refuses a malformed key at once with 400 JETRECV_ERR_BAD_KEY and queues nothing', async () => {
    const f = await start();
    const token = await superToken(f);
    const answer = await f.call('recv.addAuthorizedClientAsync', { clientPublicKey: 'not-a-key' }, token);
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('JETRECV_ERR_BAD_KEY');
    expect(answer.json.error.message).toContain('clientPublicKey');
    expect(f.clients.list()).toEqual([]);
  });
});

describe('recv.getSourcesAsync and recv.getTransfersAsync', () => {
  it('return the backend structures through the request model, for any user', async () => {
    const f = await start();
    const token = await f.login(...ALICE);
    const sources = await f.call('recv.getSourcesAsync', {}, token);
    expect(sources.status).toBe(200);
    expect(await result(f, token, sources.json.requestId)).toEqual([SAMPLE_SOURCE]);
    const transfers = await f.call('recv.getTransfersAsync', '', token);
    expect(await result(f, token, transfers.json.requestId)).toEqual([SAMPLE_TRANSFER]);
    expect(transfers.json.requestId).toBe(sources.json.requestId + 1);
  });
});

describe('request model', () => {
  it('goes pending -> processing -> complete, and getRequestResult times out while it runs', async () => {
    const f = await start({ requestConcurrency: 1 });
    const token = await f.login(...ALICE);
    let release!: () => void;
    f.backend.sourcesGate = new Promise((r) => (release = r));
    const first = (await f.call('recv.getSourcesAsync', {}, token)).json.requestId as number;
    const second = (await f.call('recv.getSourcesAsync', {}, token)).json.requestId as number;
    await new Promise((r) => setTimeout(r, 50));
    const s1 = await f.call('server.getRequestStatus', { requestId: first }, token);
    expect(s1.json).toMatchObject({
      requestId: first,
      processing: true,
      status: 'processing',
      errorMessage: '',
      method: 'recv.getSourcesAsync',
      endTime: null,
    });
    const s2 = await f.call('server.getRequestStatus', { requestId: { requestId: second } }, token);
    expect(s2.json).toMatchObject({ requestId: second, processing: true, status: 'pending' });

    const timedOut = await f.call('server.getRequestResult', { requestId: first, timeoutMs: 100 }, token);
    expect(timedOut.status).toBe(408);
    expect(timedOut.json.error).toMatchObject({ code: 'JETRECV_ERR_REQUEST_TIMEOUT', requestId: first });
    expect(timedOut.json.error.message).toContain('still processing');

    const waiting = f.call('server.getRequestResult', { requestId: second, timeoutMs: 5000 }, token);
    release();
    const done = await waiting;
    expect(done.status).toBe(200);
    expect(done.json).toEqual({ requestId: second, status: 'complete', result: [SAMPLE_SOURCE] });
    const s3 = await f.call('server.getRequestStatus', { requestId: first }, token);
    expect(s3.json).toMatchObject({ processing: false, status: 'complete', errorMessage: '', errorCode: null });
    expect(typeof s3.json.endTime).toBe('number');
  });

  it('reports a failed request in its status and as its own error from getRequestResult', async () => {
    const f = await start();
    const token = await f.login(...ALICE);
    f.backend.transfersError = new JetrecvError(ErrorCodes.DISK, 'transfer table unreadable: EIO');
    const id = (await f.call('recv.getTransfersAsync', {}, token)).json.requestId as number;
    const res = await f.call('server.getRequestResult', { requestId: id }, token);
    expect(res.status).toBe(500);
    expect(res.json.error).toEqual({ code: 'JETRECV_ERR_DISK', message: 'transfer table unreadable: EIO', requestId: id });
    const status = await f.call('server.getRequestStatus', { requestId: id }, token);
    expect(status.json).toMatchObject({
      status: 'error',
      processing: false,
      errorMessage: 'transfer table unreadable: EIO',
      errorCode: 'JETRECV_ERR_DISK',
    });

    f.backend.transfersError = new Error('a bug with a secret detail');
    const id2 = (await f.call('recv.getTransfersAsync', {}, token)).json.requestId as number;
    const res2 = await f.call('server.getRequestResult', { requestId: id2 }, token);
    expect(res2.json.error.code).toBe('JETRECV_ERR_INTERNAL');
    expect(res2.json.error.message).not.toContain('secret');
    expect(f.logs.some((l) => l.msg === 'request failed with an internal error')).toBe(true);
  });

  it("refuses unknown ids (404), expired ids (410) and other users' ids (403); elevated superusers may read any", async () => {
    const f = await start({ requestRetention: { maxAgeMs: 200, maxCount: 3 } });
    const alice = await f.login(...ALICE);
    const root = await f.login(...ROOT);
    const id = (await f.call('recv.getSourcesAsync', {}, alice)).json.requestId as number;
    await result(f, alice, id);

    const foreign = await f.call('server.getRequestStatus', { requestId: id }, root);
    expect(foreign.status).toBe(403);
    expect(foreign.json.error.code).toBe('JETRECV_ERR_REQUEST_FOREIGN');
    const foreignResult = await f.call('server.getRequestResult', { requestId: id }, root);
    expect(foreignResult.json.error.code).toBe('JETRECV_ERR_REQUEST_FOREIGN');
    await f.call('server.superuser', {}, root);
    expect((await f.call('server.getRequestStatus', { requestId: id }, root)).status).toBe(200);

    const unknown = await f.call('server.getRequestStatus', { requestId: 999 }, alice);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('JETRECV_ERR_REQUEST_NOT_FOUND');

    await new Promise((r) => setTimeout(r, 300));
    const expired = await f.call('server.getRequestResult', { requestId: id }, alice);
    expect(expired.status).toBe(410);
    expect(expired.json.error.code).toBe('JETRECV_ERR_REQUEST_EXPIRED');
    expect(expired.json.error.message).toContain('expired');

    // Count limit: with maxCount 3 the oldest finished records go first.
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = (await f.call('recv.getSourcesAsync', {}, alice)).json.requestId as number;
      await result(f, alice, r);
      ids.push(r);
    }
    expect((await f.call('server.getRequestStatus', { requestId: ids[0] }, alice)).status).toBe(410);
    expect((await f.call('server.getRequestStatus', { requestId: ids[1] }, alice)).status).toBe(410);
    expect((await f.call('server.getRequestStatus', { requestId: ids[4] }, alice)).status).toBe(200);
  });
});

describe('bad input gets a JSON 4xx and the server keeps serving', () => {
  it('covers malformed JSON, non-object bodies, missing/mistyped/unknown params, unknown methods, wrong verbs, big bodies and wrong paths', async () => {
    const f = await start();
    const token = await superToken(f);
    const cases: { answer: Promise<any>; status: number; code: string; contains?: string; parameter?: string }[] = [
      {
        answer: f.call('recv.getSourcesAsync', '{"broken":', token),
        status: 400,
        code: 'JETRECV_ERR_BAD_REQUEST',
        contains: 'not valid JSON',
      },
      { answer: f.call('recv.getSourcesAsync', '[1,2]', token), status: 400, code: 'JETRECV_ERR_BAD_REQUEST', contains: 'JSON object' },
      {
        answer: f.call('recv.addAuthorizedClientAsync', {}, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: "missing parameter 'clientPublicKey' (a string)",
        parameter: 'clientPublicKey',
      },
      {
        answer: f.call('recv.addAuthorizedClientAsync', { clientPublicKey: 42 }, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: 'must be a string, got number 42',
      },
      {
        answer: f.call('recv.allowOnlyAuthorizedClientsAsync', { onlyAuthorizedClientsAllowed: 'yes' }, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: 'must be a boolean (true or false), got string "yes"',
      },
      {
        answer: f.call('server.getRequestStatus', { requestId: 1.5 }, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: 'must be an integer >= 1',
      },
      {
        answer: f.call('server.getRequestResult', { requestId: 1, timeoutMs: 10_000_000 }, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: 'timeoutMs',
      },
      {
        answer: f.call('recv.getSourcesAsync', { verbose: true }, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: "unknown parameter 'verbose'",
      },
      {
        answer: f.call('recv.addAuthorizedClientAsync', { clientPublicKy: randomKey() }, token),
        status: 400,
        code: 'JETRECV_ERR_BAD_PARAMETER',
        contains: 'expected clientPublicKey',
      },
      { answer: f.call('recv.getSourcesAsyncc', {}, token), status: 404, code: 'JETRECV_ERR_UNKNOWN_METHOD', contains: 'openapi.json' },
      {
        answer: f.call('getSourcesAsync', {}, token),
        status: 404,
        code: 'JETRECV_ERR_UNKNOWN_METHOD',
        contains: 'did you mean recv.getSourcesAsync',
      },
      { answer: rawRequest(f.port, '/api/v1/recv.getSourcesAsync', { method: 'GET' }), status: 405, code: 'JETRECV_ERR_HTTP_METHOD' },
      { answer: rawRequest(f.port, '/nowhere', { method: 'GET' }), status: 404, code: 'JETRECV_ERR_NOT_FOUND' },
      { answer: rawRequest(f.port, '/metrics', { method: 'GET' }), status: 404, code: 'JETRECV_ERR_NOT_FOUND' },
      {
        answer: f.call('recv.addAuthorizedClientAsync', { clientPublicKey: 'x'.repeat(70_000) }, token),
        status: 413,
        code: 'JETRECV_ERR_BODY_TOO_LARGE',
      },
    ];
    for (const c of cases) {
      const answer = await c.answer;
      expect(answer.status, JSON.stringify(answer.json)).toBe(c.status);
      expect(answer.json.error.code).toBe(c.code);
      expect(typeof answer.json.error.message).toBe('string');
      if (c.contains !== undefined) expect(answer.json.error.message).toContain(c.contains);
      if (c.parameter !== undefined) expect(answer.json.error.parameter).toBe(c.parameter);
    }
    // A chunked body over the limit (no Content-Length) is refused too.
    const big = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(10_000)));
        controller.close();
      },
    });
    const chunked = await fetch(`http://127.0.0.1:${f.port}/api/v1/server.getServerInfo`, {
      method: 'POST',
      body: big,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);

    expect(f.clients.list()).toEqual([]);
    const still = await f.call('server.getServerInfo');
    expect(still.status).toBe(200);
    expect((await f.call('recv.getSourcesAsync', {}, token)).status).toBe(200);
  });

  it('answers malformed HTTP with 400 and keeps serving', async () => {
    const f = await start();
    const net = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(f.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await f.call('server.getServerInfo')).status).toBe(200);
  });

  it('serves the OpenAPI document, identical to the one built from the catalogue', async () => {
    const f = await start();
    const answer = await rawRequest(f.port, '/api/v1/openapi.json', { method: 'GET' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual(buildOpenApiDocument());
  });

  it('serves /metrics from the metrics source when one is given', async () => {
    const f = await start({ metrics: () => '# TYPE jetrecv_up gauge\njetrecv_up 1\n' });
    const res = await fetch(`http://127.0.0.1:${f.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('jetrecv_up 1');
  });
});

describe('binding and shutdown', () => {
  it('binds 127.0.0.1 unless remote control is allowed, and close() is idempotent and ends waiting calls', async () => {
    const f = await start({ host: '0.0.0.0' });
    expect(f.server.host).toBe('127.0.0.1');
    const token = await f.login(...ALICE);
    f.backend.sourcesGate = new Promise(() => {});
    const id = (await f.call('recv.getSourcesAsync', {}, token)).json.requestId as number;
    const waiting = f.call('server.getRequestResult', { requestId: id, timeoutMs: 60_000 }, token);
    await new Promise((r) => setTimeout(r, 50));
    const closed = Promise.all([f.server.close(), f.server.close()]);
    const answer = await waiting;
    expect(answer.status).toBe(503);
    expect(answer.json.error.code).toBe('JETRECV_ERR_SHUTTING_DOWN');
    await closed;
    await expect(fetch(`http://127.0.0.1:${f.port}/api/v1/server.getServerInfo`)).rejects.toThrow();
  });

  it('fails to start with JETRECV_ERR_CONFIG when the port is taken', async () => {
    const f = await start();
    await expect(startFixture({ port: f.port })).rejects.toMatchObject({ code: 'JETRECV_ERR_CONFIG' });
  });
});

/** A non-loopback IPv4 address of this host (to reach the API from a non-local address), or null. */
function nonLoopbackAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}
