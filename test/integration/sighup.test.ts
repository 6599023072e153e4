// SIGHUP and signals on a real `jetrecv serve --config FILE` child process: a changed config
// file is applied (log level, seen in the log output; superuser list, seen through the API);
// a broken file is refused with a logged error naming it and the old config stays in force;
// each reload is bracketed by RELOADING=1 ... READY=1 on the NOTIFY_SOCKET; a second SIGTERM
// during shutdown exits at once with status 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ApiError, JetrecvClient } from '../../src/client/index.js';
import { ApiErrorCodes } from '../../src/api/api-errors.js';
import { UserStore } from '../../src/state/users.js';
import { TEST_SCRYPT, randomKey } from './api-fixture.js';
import { tempDir } from './harness.js';
import { listenNotify, python3SkipReason, spawnJetrecv, type LogLine, type NotifyListener, type ServeProcess } from './serve-process.js';

const CAROL = ['carol', 'carol-password-1'] as const;
const BOB = ['bob', 'bob-password-12'] as const;

let root: string;
let configFile: string;
let serve: ServeProcess;
let notify: NotifyListener;
let apiPort: number;
let baseConfig: Record<string, unknown>;

const noPython = python3SkipReason();
if (noPython !== null) console.log(`sighup tests skipped: ${noPython}`);

beforeAll(async () => {
  if (noPython !== null) return;
  root = await tempDir('sighup');
  const stateDir = path.join(root, 'state');
  await mkdir(stateDir);
  const users = await UserStore.open(stateDir, { scrypt: TEST_SCRYPT });
  await users.add(...CAROL);
  await users.add(...BOB);
  configFile = path.join(root, 'jetrecv.conf');
  baseConfig = {
    '//': 'written by sighup.test.ts',
    'sandbox-dir': 'sandbox', // relative: resolved against the config file's directory
    'recv-host': '127.0.0.1',
    'recv-port': 0,
    'api-port': 0,
    'log-level': 'info',
    superuser: [],
  };
  await writeFile(configFile, JSON.stringify(baseConfig, null, 2));
  notify = await listenNotify(path.join(root, 'notify.sock'));
  serve = spawnJetrecv(['serve', '--config', configFile, '--persistent-state-dir', stateDir], {
    env: { NOTIFY_SOCKET: notify.socketPath },
  });
  const info = await serve.ready();
  expect(info.sandboxDir).toBe(path.join(root, 'sandbox'));
  apiPort = info.apiPort as number;
  await notify.waitFor((m) => m.fields['READY'] === '1', 'READY=1');
});

afterAll(async () => {
  await serve?.stop();
  notify?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function login(user: readonly [string, string]): Promise<JetrecvClient> {
  const client = new JetrecvClient({ port: apiPort });
  await client.server.auth(user[0], user[1]);
  return client;
}

async function elevationError(client: JetrecvClient): Promise<string | null> {
  try {
    await client.server.superuser();
    return null;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return err.code;
  }
}

/** Writes the config file, sends SIGHUP, waits for RELOADING=1 then READY=1; returns the log index before. */
async function reloadWith(text: string): Promise<number> {
  await writeFile(configFile, text);
  const logFrom = serve.logs.length;
  const from = notify.messages.length;
  process.kill(serve.pid, 'SIGHUP');
  const reloading = await notify.waitFor((m) => m.fields['RELOADING'] === '1', 'RELOADING=1', { from });
  expect(reloading.fields['MONOTONIC_USEC']).toMatch(/^\d+$/);
  await notify.waitFor((m) => m.fields['READY'] === '1', 'READY=1 after the reload', { from: notify.messages.indexOf(reloading) + 1 });
  return logFrom;
}

const isLogin = (user: string) => (l: LogLine) => l.msg === 'login' && l['user'] === user;

describe.skipIf(noPython !== null)('SIGHUP reloads the config file', () => {
  it('applies a changed superuser list and log level, and reports restart-only changes', async () => {
    const carol = await login(CAROL);
    expect(await elevationError(carol)).toBe(ApiErrorCodes.NOT_SUPERUSER);
    await carol.server.getServerInfo();

    const from = await reloadWith(JSON.stringify({ ...baseConfig, 'log-level': 'debug', superuser: ['carol'], 'rx-threads': 2 }));
    const reloaded = await serve.waitForLog((l) => l.msg === 'configuration reloaded', 'configuration reloaded', { from });
    expect(new Set(reloaded['changed'] as string[])).toEqual(new Set(['log-level', 'superuser']));
    const restart = await serve.waitForLog((l) => l.msg.includes('needs a restart'), 'needs a restart', { from });
    expect(restart).toMatchObject({ level: 40, setting: 'rx-threads', from: 'auto', to: 2 });
    // Nothing logged at debug level before the reload, although API calls were made.
    expect(serve.logs.slice(0, from).filter((l) => l.level < 30)).toEqual([]);

    // superuser: carol can elevate now and use a superuser-only method.
    expect(await elevationError(carol)).toBeNull();
    const key = randomKey();
    const added = await carol.wait(await carol.recv.addAuthorizedClientAsync(key));
    expect(added).toMatchObject({ added: true });
    // log-level debug: the API now logs each call at level 20.
    await carol.server.getServerInfo();
    const debugLine = await serve.waitForLog((l) => l.level === 20 && l.msg === 'api call', 'a debug-level api call line', { from });
    expect(debugLine.component).toBe('api');

    // Back to 'warn': info lines (a login) stop; a warning (a refused elevation) still shows.
    const loginsBefore = serve.logs.filter(isLogin('bob')).length;
    const from2 = await reloadWith(JSON.stringify({ ...baseConfig, 'log-level': 'warn', superuser: ['carol'] }));
    const bob = await login(BOB);
    expect(await elevationError(bob)).toBe(ApiErrorCodes.NOT_SUPERUSER);
    await serve.waitForLog(
      (l) => l.level === 40 && l.msg === 'superuser elevation refused' && l['user'] === 'bob',
      'refused elevation warning',
      { from: from2 },
    );
    expect(serve.logs.filter(isLogin('bob')).length).toBe(loginsBefore);
    expect(serve.logs.slice(from2).filter((l) => l.level < 40)).toEqual([]);
  });

  it('refuses a broken config with an error naming the file and key, and keeps the old one', async () => {
    // In force now (from the previous test): superuser carol, log level warn.
    const broken: [string, RegExp][] = [
      ['{ "log-level": "debug", ', /not valid JSON at line 1, column \d+/],
      [JSON.stringify({ ...baseConfig, 'log-levl': 'debug' }), /unknown key 'log-levl' \(did you mean 'log-level'\?\)/],
      [JSON.stringify({ ...baseConfig, 'session-timeout': 'soon', superuser: [] }), /key 'session-timeout': expected a duration/],
      [JSON.stringify({ ...baseConfig, 'log-level': 'loud', superuser: [] }), /key 'log-level': expected one of 'fatal'/],
      [JSON.stringify({ ...baseConfig, superuser: 'bob' }), /key 'superuser': expected a JSON array/],
    ];
    const firstFrom = serve.logs.length;
    for (const [text, why] of broken) {
      const from = await reloadWith(text);
      const refused = await serve.waitForLog((l) => l.msg.startsWith('configuration reload refused'), `refusal of ${text}`, { from });
      expect(refused.level).toBe(50);
      expect(refused['err']).toContain(`${configFile}: `);
      expect(refused['err']).toMatch(why);
    }
    // The old config stays: carol still elevates, bob still cannot, debug/info lines still off.
    const carol = await login(CAROL);
    expect(await elevationError(carol)).toBeNull();
    const bob = await login(BOB);
    expect(await elevationError(bob)).toBe(ApiErrorCodes.NOT_SUPERUSER);
    await serve.waitForLog((l) => l.msg === 'superuser elevation refused' && l['user'] === 'bob', 'refused elevation warning', {
      from: firstFrom,
    });
    // Still at 'warn': neither the logins nor a 'configuration reloaded' line were logged.
    expect(serve.logs.slice(firstFrom).filter((l) => l.level < 40)).toEqual([]);

    // A fixed file is taken again.
    const fixedFrom = await reloadWith(JSON.stringify({ ...baseConfig, 'log-level': 'info', superuser: [] }));
    await serve.waitForLog((l) => l.msg === 'configuration reloaded', 'configuration reloaded', { from: fixedFrom });
    expect(await elevationError(carol)).toBe(ApiErrorCodes.NOT_SUPERUSER);
  });

  it('applies changed receive rate limits; an unchanged file leaves a limit set through the API alone', async () => {
    const limits = async (c: JetrecvClient) => (await c.server.getServerInfo()).bandwidthLimits;
    const config = { ...baseConfig, 'log-level': 'info', superuser: ['carol'], 'incoming-rate-limit': '300M' };
    const from = await reloadWith(JSON.stringify(config));
    const reloaded = await serve.waitForLog((l) => l.msg === 'configuration reloaded', 'configuration reloaded', { from });
    expect(reloaded['changed']).toContain('incoming-rate-limit');
    const carol = await login(CAROL);
    await carol.server.superuser();
    expect(await limits(carol)).toEqual({ incomingRateLimit: 300_000, incomingRateLimitPerSource: 0 });

    expect(await carol.server.updateBandwidthLimits({ incomingRateLimitPerSource: 5_000 })).toEqual({
      incomingRateLimit: 300_000,
      incomingRateLimitPerSource: 5_000,
    });
    const from2 = await reloadWith(JSON.stringify({ ...config, 'session-timeout': '40s' }));
    await serve.waitForLog((l) => l.msg === 'configuration reloaded', 'configuration reloaded', { from: from2 });
    expect(await limits(carol)).toEqual({ incomingRateLimit: 300_000, incomingRateLimitPerSource: 5_000 });

    const from3 = await reloadWith(JSON.stringify({ ...config, 'session-timeout': '40s', 'incoming-rate-limit-per-source': '10M' }));
    await serve.waitForLog((l) => l.msg === 'configuration reloaded', 'configuration reloaded', { from: from3 });
    expect(await limits(carol)).toEqual({ incomingRateLimit: 300_000, incomingRateLimitPerSource: 10_000 });
  });
});

describe.skipIf(noPython !== null)('signals', () => {
  it('a second SIGTERM during shutdown exits at once with status 1', async () => {
    // A request whose body never completes keeps the API's orderly close waiting (it force-
    // closes connections only after 1 s), which leaves time for the second signal.
    const sock = net.connect(apiPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.on('error', () => {});
    sock.write(
      'POST /api/v1/server.getServerInfo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    await new Promise((r) => setTimeout(r, 100));

    const from = notify.messages.length;
    process.kill(serve.pid, 'SIGTERM');
    await notify.waitFor((m) => m.fields['STOPPING'] === '1', 'STOPPING=1', { from });
    process.kill(serve.pid, 'SIGTERM');
    const exit = await serve.exited;
    sock.destroy();
    expect(exit).toEqual({ code: 1, signal: null });
    expect(serve.logs.find((l) => l.msg === 'second signal: exiting at once')).toMatchObject({ level: 40, signal: 'SIGTERM' });
    expect(serve.logs.some((l) => l.msg === 'jetrecv receiver stopped')).toBe(false);
  });
});
