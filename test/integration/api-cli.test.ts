// `jetrecv api` and `jetrecv user`, run in-process against a real server and state dir.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseParamArgs, runApiCommand } from '../../src/cli/api-command.js';
import { promptHidden, runUserCommand, type CommandIo } from '../../src/cli/user-command.js';
import { UserStore } from '../../src/state/users.js';
import { randomKey, SAMPLE_SOURCE, startFixture, TEST_SCRYPT, type Fixture } from './api-fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

interface Captured {
  io: CommandIo;
  out: () => string;
  err: () => string;
}

function capture(env: Record<string, string> = {}, stdin?: NodeJS.ReadStream): Captured {
  let out = '';
  let err = '';
  const notTty = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.ReadStream;
  return {
    io: {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
      env,
      stdin: stdin ?? notTty,
    },
    out: () => out,
    err: () => err,
  };
}

/** A fake terminal that types `lines`, one per prompt. */
function fakeTty(lines: string[]): NodeJS.ReadStream & { rawModes: boolean[] } {
  const stream = new PassThrough() as unknown as NodeJS.ReadStream & { rawModes: boolean[] };
  const rawModes: boolean[] = [];
  Object.assign(stream, {
    isTTY: true,
    isRaw: false,
    rawModes,
    setRawMode(mode: boolean) {
      rawModes.push(mode);
      if (mode) {
        const line = lines.shift();
        if (line !== undefined) setImmediate(() => (stream as unknown as PassThrough).write(line));
      }
      return stream;
    },
  });
  return stream;
}

async function start(): Promise<Fixture> {
  fixture = await startFixture({
    users: [
      ['alice', 'alice-password-1'],
      ['root', 'root-password-123'],
    ],
    superusers: ['root'],
  });
  return fixture;
}

describe('jetrecv api', () => {
  it('prints getServerInfo as pretty JSON without a user (namespace optional)', async () => {
    const f = await start();
    const c = capture();
    expect(await runApiCommand(['--api-control-port', String(f.port), 'getServerInfo'], c.io)).toBe(0);
    const info = JSON.parse(c.out());
    expect(info).toMatchObject({ authRequired: true, apiControlPort: f.port });
    expect(c.out()).toContain('\n  "authRequired": true');
  });

  it('logs in with $JETRECV_API_PASSWORD, prints the request id, or with --wait the result', async () => {
    const f = await start();
    const env = { JETRECV_API_PASSWORD: 'alice-password-1' };
    const plain = capture(env);
    expect(await runApiCommand([`--api-control-port=${f.port}`, '--user', 'alice', 'recv.getSourcesAsync'], plain.io)).toBe(0);
    expect(Object.keys(JSON.parse(plain.out()))).toEqual(['requestId']);
    const waited = capture(env);
    expect(await runApiCommand([`--api-control-port=${f.port}`, '--user=alice', '--wait', 'getSourcesAsync'], waited.io)).toBe(0);
    expect(JSON.parse(waited.out())).toEqual([SAMPLE_SOURCE]);
    // Each invocation logs out at the end.
    expect(f.logs.filter((l) => l.msg === 'login').length).toBe(2);
  });

  it('elevates automatically for superuser-only commands and parses parameter values', async () => {
    const f = await start();
    const key = randomKey();
    const env = { JETRECV_API_PASSWORD: 'root-password-123' };
    const add = capture(env);
    const base = ['--api-control-port', String(f.port), '--user', 'root', '--wait'];
    expect(await runApiCommand([...base, 'recv.addAuthorizedClientAsync', `--clientPublicKey=${key}`], add.io)).toBe(0);
    expect(JSON.parse(add.out())).toEqual({ clientPublicKey: key, added: true });
    const only = capture(env);
    expect(await runApiCommand([...base, 'allowOnlyAuthorizedClientsAsync', '--onlyAuthorizedClientsAllowed', 'true'], only.io)).toBe(0);
    expect(JSON.parse(only.out())).toEqual({ onlyAuthorizedClientsAllowed: true, changed: true });
    expect(f.clients.allowOnly).toBe(true);
    expect(f.clients.list()).toEqual([key]);
    const dict = capture(env);
    expect(await runApiCommand([...base, 'removeAuthorizedClientAsync', `--clientPublicKey={"clientPublicKey":"${key}"}`], dict.io)).toBe(
      0,
    );
    expect(JSON.parse(dict.out())).toEqual({ clientPublicKey: key, removed: true });
  });

  it('exits 1 with the API error as JSON on stderr', async () => {
    const f = await start();
    const c = capture({ JETRECV_API_PASSWORD: 'alice-password-1' });
    const code = await runApiCommand(
      ['--api-control-port', String(f.port), '--user', 'alice', 'addAuthorizedClientAsync', `--clientPublicKey=${randomKey()}`],
      c.io,
    );
    expect(code).toBe(1);
    expect(JSON.parse(c.err())).toEqual({
      error: { code: 'JETRECV_ERR_NOT_SUPERUSER', status: 403, message: expect.stringContaining("user 'alice' is not a superuser") },
    });
    const wrong = capture({ JETRECV_API_PASSWORD: 'nope-nope-nope' });
    expect(await runApiCommand(['--api-control-port', String(f.port), '--user', 'alice', 'getSourcesAsync'], wrong.io)).toBe(1);
    expect(JSON.parse(wrong.err()).error.code).toBe('JETRECV_ERR_LOGIN_FAILED');
    const unreachable = capture();
    await f.close();
    fixture = undefined;
    expect(await runApiCommand(['--api-control-port', String(f.port), 'getServerInfo'], unreachable.io)).toBe(1);
    expect(JSON.parse(unreachable.err()).error.code).toBe('JETRECV_ERR_API_UNREACHABLE');
  });

  it('exits 2 on usage errors: unknown command, bad parameters, no user, no password source', async () => {
    const cases: [string[], string][] = [
      [['nosuchCommand'], "unknown command 'nosuchCommand'"],
      [['getSourcesAsync', '--x=1'], "unknown parameter 'x'"],
      [['getRequestStatus', '--requestId=abc'], "'requestId' must be an integer"],
      [['getRequestStatus', 'stray'], "unexpected argument 'stray'"],
      [['--http', 'getSourcesAsync'], 'needs a session: give --user NAME'],
      [['--user', 'alice', 'getSourcesAsync'], 'standard input is not a terminal; set JETRECV_API_PASSWORD'],
      [['--bogus', 'getServerInfo'], 'unknown flag --bogus'],
      [[], 'missing COMMAND'],
    ];
    for (const [argv, message] of cases) {
      const c = capture();
      expect(await runApiCommand(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err()).toContain(message);
    }
    const help = capture();
    expect(await runApiCommand(['--help'], help.io)).toBe(0);
    expect(help.out()).toContain('recv.addAuthorizedClientAsync --clientPublicKey=string  (superuser)');
  });

  it('asks for the password on a terminal without echo', async () => {
    const f = await start();
    const tty = fakeTty(['alice-password-1\r']);
    const c = capture({}, tty);
    expect(await runApiCommand(['--api-control-port', String(f.port), '--user', 'alice', '--wait', 'getSourcesAsync'], c.io)).toBe(0);
    expect(c.err()).toBe('Password for alice: \n');
    expect(tty.rawModes).toEqual([true, false]);
  });

  it('parses parameter values as JSON when they parse, else as strings', () => {
    expect(parseParamArgs(['--a=true', '--b=3', '--c={"x":1}', '--d=hello', '--e', '--f', 'abc=', '--g='])).toEqual({
      a: true,
      b: 3,
      c: { x: 1 },
      d: 'hello',
      e: true,
      f: 'abc=',
      g: '',
    });
    expect(() => parseParamArgs(['--a=1', '--a=2'])).toThrow('given twice');
  });
});

describe('jetrecv user', () => {
  it('adds, lists, changes the password of and removes users in the state dir', async () => {
    const f = await start();
    const env = { JETRECV_USER_PASSWORD: 'bob-password-1' };
    const add = capture(env);
    expect(await runUserCommand(['add', 'bob', '--persistent-state-dir', f.stateDir], add.io)).toBe(0);
    expect(add.out()).toContain('added user bob');
    // The running server accepts the new user at once.
    expect((await f.call('server.auth', { user: 'bob', password: 'bob-password-1' })).status).toBe(200);

    const list = capture();
    expect(await runUserCommand(['list', `--persistent-state-dir=${f.stateDir}`], list.io)).toBe(0);
    expect(
      list
        .out()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]),
    ).toEqual(['alice', 'bob', 'root']);

    const passwd = capture({ JETRECV_USER_PASSWORD: 'bob-password-2' });
    expect(await runUserCommand(['passwd', 'bob', '--persistent-state-dir', f.stateDir], passwd.io)).toBe(0);
    expect((await f.call('server.auth', { user: 'bob', password: 'bob-password-1' })).status).toBe(401);
    expect((await f.call('server.auth', { user: 'bob', password: 'bob-password-2' })).status).toBe(200);

    const remove = capture();
    expect(await runUserCommand(['remove', 'bob', '--persistent-state-dir', f.stateDir], remove.io)).toBe(0);
    expect(await (await UserStore.open(f.stateDir, { scrypt: TEST_SCRYPT })).get('bob')).toBeUndefined();
  });

  it('asks twice on a terminal and refuses different answers', async () => {
    const f = await start();
    const same = capture({}, fakeTty(['carol-password\n', 'carol-password\n']));
    expect(await runUserCommand(['add', 'carol', '--persistent-state-dir', f.stateDir], same.io)).toBe(0);
    const differ = capture({}, fakeTty(['dave-password-1\n', 'dave-password-2\n']));
    expect(await runUserCommand(['add', 'dave', '--persistent-state-dir', f.stateDir], differ.io)).toBe(2);
    expect(differ.err()).toContain('the two passwords differ');
  });

  it('reports usage and store errors with exit codes 2 and 1', async () => {
    const f = await start();
    const cases: [string[], number, string][] = [
      [['add', 'bob'], 2, '--persistent-state-dir DIR is required'],
      [['frob', 'bob', '--persistent-state-dir', f.stateDir], 2, "unknown action 'frob'"],
      [['add', '--persistent-state-dir', f.stateDir], 2, 'needs a user NAME'],
      [['add', 'alice', '--persistent-state-dir', f.stateDir], 1, "user 'alice' already exists"],
      [['remove', 'zed', '--persistent-state-dir', f.stateDir], 1, "no user 'zed'"],
      [['passwd', 'zed', '--persistent-state-dir', f.stateDir], 1, "no user 'zed'"],
      [['add', 'new', '--persistent-state-dir', f.stateDir], 2, 'set JETRECV_USER_PASSWORD'],
    ];
    for (const [argv, code, message] of cases) {
      const c = capture();
      expect(await runUserCommand(argv, c.io), argv.join(' ')).toBe(code);
      expect(c.err()).toContain(message);
    }
    const short = capture({ JETRECV_USER_PASSWORD: 'short' });
    expect(await runUserCommand(['add', 'new', '--persistent-state-dir', f.stateDir], short.io)).toBe(1);
    expect(short.err()).toContain('JETRECV_ERR_BAD_PASSWORD');
  });

  it('promptHidden handles backspace and refuses Ctrl-C', async () => {
    const c = capture({}, fakeTty(['abcx\u007fd\r']));
    await expect(promptHidden('P: ', c.io, 'hint')).resolves.toBe('abcd');
    const cancelled = capture({}, fakeTty(['ab\u0003']));
    await expect(promptHidden('P: ', cancelled.io, 'hint')).rejects.toThrow('cancelled');
  });
});
