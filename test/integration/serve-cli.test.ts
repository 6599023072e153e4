// The command line of the built CLI (bin/jetrecv.js → dist/): `serve`, `send` and `keygen`
// refuse unknown flags and bad values with messages naming them, --help works, a bad --config
// fails at start naming the file and the key, and `npm start` (`jetrecv serve --dev`) gives a
// first-try receiver: prints its key, how to send and an API user, and receives a file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { JetrecvClient } from '../../src/client/index.js';
import { randomKey } from './api-fixture.js';
import { exists, repoRoot, runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { spawnJetrecv } from './serve-process.js';
import { missingTools } from '../tools/host-tools.js';

let root: string;
beforeAll(async () => {
  root = await tempDir('cli');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const KEY = 'VJAAkzc+6PDd1jul0akm6ChWsyCjhQYQZLxFrGqpL2E=';

describe('usage errors name the flag or value', () => {
  const cases: [string, string[], RegExp][] = [
    ['serve: unknown flag', ['serve', '--sandbox-dir', '/tmp/x', '--recv-prot', '1'], /^jetrecv serve: unknown flag --recv-prot\b/],
    [
      'serve: port out of range',
      ['serve', '--sandbox-dir', '/tmp/x', '--recv-port', '70000'],
      /--recv-port: expected a port 0-65535, got '70000'/,
    ],
    [
      'serve: bad integer',
      ['serve', '--sandbox-dir', '/tmp/x', '--rx-threads', 'many'],
      /--rx-threads: expected an integer 1-16 or 'auto', got 'many'/,
    ],
    [
      'serve: bad duration',
      ['serve', '--sandbox-dir', '/tmp/x', '--session-timeout', 'soon'],
      /--session-timeout: expected a duration .* got 'soon'/,
    ],
    [
      'serve: bad log level',
      ['serve', '--sandbox-dir', '/tmp/x', '--log-level', 'loud'],
      /--log-level: expected one of fatal, .* got 'loud'/,
    ],
    ['serve: bad cipher', ['serve', '--sandbox-dir', '/tmp/x', '--min-cipher', 'rot13'], /--min-cipher: .* got 'rot13'/],
    ['serve: bad direct-io', ['serve', '--sandbox-dir', '/tmp/x', '--direct-io', 'on'], /--direct-io: expected 'auto' or 'off', got 'on'/],
    [
      'serve: direct-io-threads out of range',
      ['serve', '--sandbox-dir', '/tmp/x', '--direct-io-threads', '0'],
      /--direct-io-threads: expected an integer 1-16, got '0'/,
    ],
    [
      'serve: max-transfer-memory below 1 MiB',
      ['serve', '--sandbox-dir', '/tmp/x', '--max-transfer-memory', '1000'],
      /--max-transfer-memory: expected an integer 1048576-9007199254740991, got '1000'/,
    ],
    [
      'serve: early-block-bytes over the receiver-wide cap',
      ['serve', '--sandbox-dir', '/tmp/x', '--early-block-bytes', '20000000'],
      /--early-block-bytes: expected an integer 0-16777216, got '20000000'/,
    ],
    [
      'serve: per-transfer memory over the total',
      ['serve', '--sandbox-dir', '/tmp/x', '--max-transfer-memory', '536870912', '--max-receive-memory', '268435456'],
      /--max-transfer-memory \(536870912\) must not exceed --max-receive-memory \(268435456\)/,
    ],
    [
      'serve: max-sessions-per-key out of range',
      ['serve', '--sandbox-dir', '/tmp/x', '--max-sessions-per-key', '0'],
      /--max-sessions-per-key: expected an integer 1-4096, got '0'/,
    ],
    [
      'serve: max-sessions-per-source out of range',
      ['serve', '--sandbox-dir', '/tmp/x', '--max-sessions-per-source', '5000'],
      /--max-sessions-per-source: expected an integer 1-4096, got '5000'/,
    ],
    [
      'serve: no-transfer-timeout too short',
      ['serve', '--sandbox-dir', '/tmp/x', '--no-transfer-timeout', '100ms'],
      /--no-transfer-timeout: expected a duration .* between 1000ms and 3600000ms, got '100ms'/,
    ],
    ['serve: missing value', ['serve', '--sandbox-dir'], /--sandbox-dir/],
    ['serve: no sandbox', ['serve'], /--sandbox-dir is required/],
    [
      'serve: unknown admin socket group',
      ['serve', '--sandbox-dir', '/tmp/x', '--admin-socket-group', 'no-such-group-x'],
      /--admin-socket-group: no group 'no-such-group-x' in \/etc\/group/,
    ],
    [
      'serve: admin socket on and off',
      ['serve', '--sandbox-dir', '/tmp/x', '--no-admin-socket', '--admin-socket', '/tmp/a.sock'],
      /--no-admin-socket cannot be combined with --admin-socket/,
    ],
    ['api: user and token', ['api', '--user', 'a', '--token-env', 'T', 'getServerInfo'], /--user and --token-env exclude each other/],
    [
      'api: token variable unset',
      ['api', '--token-env', 'JETRECV_TEST_UNSET_VAR', 'getServerInfo'],
      /--token-env: environment variable JETRECV_TEST_UNSET_VAR is not set or empty/,
    ],
    [
      'serve: half a TLS pair',
      ['serve', '--sandbox-dir', '/tmp/x', '--api-tls-cert', '/tmp/c.pem'],
      /--api-tls-cert and --api-tls-key must be given together/,
    ],
    ['send: unknown flag', ['send', '--too', 'x', 'f'], /^jetrecv send: unknown flag --too\b/],
    ['send: no --to', ['send', '--server-key', KEY, 'f'], /--to HOST\[:PORT\] is required/],
    ['send: bad key', ['send', '--to', '127.0.0.1', '--server-key', 'abc', 'f'], /--server-key is not base64/],
    ['send: bad port', ['send', '--to', '127.0.0.1:99999', '--server-key', KEY, 'f'], /--to: port must be 1-65535, got '99999'/],
    [
      'send: bad rate',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--rate-max', 'fast', 'f'],
      /--rate-max: expected a rate .* got 'fast'/,
    ],
    [
      'send: bad rate policy',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--rate-policy', 'greedy', 'f'],
      /--rate-policy: expected 'fair' or 'fixed', got 'greedy'/,
    ],
    [
      'send: rate-min above rate-max',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--rate-max', '100M', '--rate-min', '200M', 'f'],
      /--rate-min \(200000000 bit\/s\) must not exceed --rate-max \(100000000 bit\/s\)/,
    ],
    [
      'send: fixed without rate-max',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--rate-policy', 'fixed', 'f'],
      /--rate-policy fixed holds --rate-max: give --rate-max/,
    ],
    ['send: bad rate-min', ['send', '--to', '127.0.0.1', '--server-key', KEY, '--rate-min', '0', 'f'], /--rate-min: expected a rate/],
    [
      'send: datagram too small for a block',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--datagram-size', '311', 'f'],
      /datagramSize \(--datagram-size\) must be an integer 312-65507, got 311: a block of at least 256 bytes plus 56 bytes of headers/,
    ],
    [
      'send: datagram over the UDP maximum',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--datagram-size', '65508', 'f'],
      /datagramSize \(--datagram-size\) must be an integer 312-65507, got 65508/,
    ],
    [
      'send: tx-threads not a number',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--tx-threads', 'many', 'f'],
      /--tx-threads: expected an integer 1-16 or 'auto', got 'many'/,
    ],
    [
      'send: tx-threads zero',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--tx-threads', '0', 'f'],
      /--tx-threads: expected an integer 1-16 or 'auto', got '0'/,
    ],
    [
      'send: tx-threads over lanes',
      ['send', '--to', '127.0.0.1', '--server-key', KEY, '--lanes', '2', '--tx-threads', '3', 'f'],
      /--tx-threads \(3\) must not exceed --lanes \(2\): each TX thread sends on lanes of its own/,
    ],
    ['keygen: unknown flag', ['keygen', '--outt', 'k'], /^jetrecv keygen: unknown flag --outt\b/],
    ['keygen: extra argument', ['keygen', 'extra'], /unexpected argument 'extra'/],
    ['unknown command', ['serv'], /jetrecv: unknown command 'serv'/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const res = await runCli(args);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(message);
  });
});

describe('--help', () => {
  it.each([
    ['serve', ['--config FILE', '--sandbox-dir DIR', '--persistent-state-dir DIR', '--superuser NAME', '--dev', '--log-level LEVEL']],
    ['send', ['--to HOST[:PORT]', '--server-key KEY', '--rate-max RATE', '--datagram-size BYTES']],
    ['keygen', ['--out FILE', '--force']],
  ])('jetrecv %s --help', async (command, flags) => {
    const res = await runCli([command, '--help']);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(new RegExp(`^Usage: jetrecv ${command} `));
    for (const flag of flags) expect(res.stdout).toContain(flag);
  });

  it('jetrecv --help lists the commands', async () => {
    const res = await runCli(['--help']);
    expect(res.code).toBe(0);
    for (const c of ['serve', 'send', 'keygen', 'api', 'user']) expect(res.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });
});

describe('serve --config', () => {
  async function serveWithConfig(name: string, content: string | null): Promise<{ code: number | null; stderr: string; file: string }> {
    const file = path.join(root, name);
    if (content !== null) await writeFile(file, content);
    const res = await runCli(['serve', '--config', file, '--recv-port', '0', '--api-port', '0'], { timeoutMs: 30_000 });
    return { code: res.code, stderr: res.stderr, file };
  }

  it.each([
    ['unknown key', { 'sandbox-dir': '/tmp/x', 'recv-prot': 9000 }, /: unknown key 'recv-prot' \(did you mean 'recv-port'\?\)/],
    ['bad value', { 'sandbox-dir': '/tmp/x', 'rx-threads': 32 }, /: key 'rx-threads': expected an integer 1-16 or 'auto', got 32/],
    ['wrong type', { 'sandbox-dir': '/tmp/x', 'api-port': '8886' }, /: key 'api-port': expected a JSON number, got "8886"/],
    [
      'bad choice',
      { 'sandbox-dir': '/tmp/x', 'min-cipher': 'des' },
      /: key 'min-cipher': expected one of 'chacha20-poly1305', 'aes-256-gcm', got "des"/,
    ],
    ['nested config', { 'sandbox-dir': '/tmp/x', config: '/etc/other.conf' }, /: key 'config' is not allowed in a config file/],
    ['not JSON', '{ "sandbox-dir": "/tmp/x",\n  oops }', /: not valid JSON at line 2, column 3/],
  ])('refuses a config file with a %s, naming the file and the key', async (name, content, message) => {
    const res = await serveWithConfig(`${name.replace(/ /g, '-')}.conf`, typeof content === 'string' ? content : JSON.stringify(content));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`jetrecv serve: ${res.file}: `);
    expect(res.stderr).toMatch(message);
    expect(res.stderr.trim().split('\n')).toHaveLength(1); // one clear line, no stack trace
  });

  it('refuses a missing config file', async () => {
    const res = await serveWithConfig('absent.conf', null);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${res.file}: cannot read the config file: ENOENT: no such file or directory`);
  });
});

describe('start-up checks', () => {
  it('logs a clear warning when the kernel grants a smaller UDP receive buffer than configured', async (ctx) => {
    // As root the addon forces the size (SO_RCVBUFFORCE); without CAP_NET_ADMIN, as under the
    // service's empty CapabilityBoundingSet=, the kernel caps it at net.core.rmem_max.
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    const noSetpriv = missingTools(['setpriv']);
    if (process.getuid?.() !== 0 || noSetpriv !== null || rmemMax >= 1 << 30) {
      console.log(`skipped: needs root, setpriv(1) and net.core.rmem_max below 1 GiB${noSetpriv ? ` (setpriv: ${noSetpriv})` : ''}`);
      ctx.skip();
    }
    const requested = 1 << 30;
    const serve = spawnJetrecv(
      ['serve', '--sandbox-dir', path.join(root, 'rcvbuf'), '--recv-port', '0', '--no-api', '--socket-buffer', String(requested)],
      {
        wrapper: ['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin'],
      },
    );
    try {
      const warning = await serve.waitForLog(
        (l) => l.msg.startsWith('the kernel granted a smaller UDP receive buffer'),
        'the socket buffer warning',
      );
      expect(warning).toMatchObject({ level: 40, component: 'daemon', requested });
      expect(warning['granted']).toBeLessThan(requested);
      expect(warning.msg).toContain('net.core.rmem_max');
      await serve.ready();
    } finally {
      expect((await serve.stop()).code).toBe(0);
    }
  });
});

describe('shutdown', () => {
  it('a second stop signal exits at once with status 1, and its log line reaches stdout', async () => {
    const serve = spawnJetrecv(['serve', '--sandbox-dir', path.join(root, 'second-signal'), '--recv-port', '0', '--no-api']);
    try {
      await serve.ready();
      // Both before the orderly shutdown can finish (two different signals: a second pending
      // SIGTERM would merge with the first). The second one takes process.exit(1).
      serve.child.kill('SIGTERM');
      serve.child.kill('SIGINT');
      expect((await serve.exited).code).toBe(1);
      expect(serve.logs.map((l) => l.msg)).toContain('second signal: exiting at once');
    } finally {
      await serve.stop();
    }
  });
});

describe('npm start (jetrecv serve --dev)', () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  /** Runs the `start` script's command in `cwd`, on free ports (8886 may be taken here). */
  function npmStart(cwd: string) {
    const argv = pkg.scripts['start']!.split(/\s+/);
    expect(argv.slice(0, 2)).toEqual(['node', 'bin/jetrecv.js']);
    return spawnJetrecv([...argv.slice(2), '--recv-port', '0', '--api-port', '0'], { cwd, env: { npm_lifecycle_event: 'start' } });
  }

  it('starts with local state, prints its key, how to send and an API user, and receives a file', async () => {
    expect(pkg.scripts['start']).toBe('node bin/jetrecv.js serve --dev');
    const cwd = path.join(root, 'laptop');
    await mkdir(cwd);
    const serve = npmStart(cwd);
    try {
      const info = await serve.ready();
      await serve.waitForLog((l) => l.msg === 'API listening', 'API listening');
      expect(info.sandboxDir).toBe(path.join(cwd, '.jetrecv', 'received'));
      expect(await exists(path.join(cwd, '.jetrecv', 'state', 'server-key.json'))).toBe(true);
      const banner = serve.stderr();
      expect(banner).toContain(`server public key:  ${info.publicKey}`);
      expect(banner).toContain(`files land beneath: ${info.sandboxDir}`);
      expect(banner).toContain(`API on http://127.0.0.1:${info.apiPort}`);
      const sendLine = /^ {2}npx jetrecv send (.*) FILE\.\.\.$/m.exec(banner);
      expect(sendLine, banner).not.toBeNull();
      const creds = /^ {2}user: admin {3}password: (\S+) /m.exec(banner);
      expect(creds, banner).not.toBeNull();
      const password = creds![1]!;
      expect(banner).toContain(`JETRECV_API_PASSWORD='${password}' npx jetrecv api --api-control-port ${info.apiPort} --user admin`);
      // The password is shown on the terminal only, never in the log.
      expect(JSON.stringify(serve.logs)).not.toContain(password);

      // The printed send command works as printed (with the checkout's CLI for `npx jetrecv`).
      const file = path.join(root, 'hello.bin');
      await writeRandomFile(file, 3 << 20);
      const sent = await runCli([...`send ${sendLine![1]}`.split(' '), file]);
      expect(sent.code, sent.stderr).toBe(0);
      expect(await sha256File(path.join(info.sandboxDir, 'hello.bin'))).toBe(await sha256File(file));

      // The API listens on 127.0.0.1 only, and admin is a superuser.
      await expect(
        new Promise((resolve, reject) =>
          net
            .connect(info.apiPort as number, '127.0.0.2')
            .once('connect', resolve)
            .once('error', reject),
        ),
      ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      const admin = new JetrecvClient({ port: info.apiPort as number });
      await admin.server.auth('admin', password);
      await admin.server.superuser();
      expect(await admin.wait(await admin.recv.addAuthorizedClientAsync(randomKey()))).toMatchObject({ added: true });
      // The printed `jetrecv api` command works too.
      const api = await runCli(['api', '--api-control-port', String(info.apiPort), '--user', 'admin', '--superuser', 'getServerInfo'], {
        env: { JETRECV_API_PASSWORD: password },
      });
      expect(api.code, api.stderr).toBe(0);
      expect(JSON.parse(api.stdout)).toMatchObject({ publicKey: info.publicKey });
    } finally {
      expect((await serve.stop()).code).toBe(0);
    }

    // A second start in the same folder: same key, same users, no new password printed.
    const again = npmStart(cwd);
    try {
      const info2 = await again.ready();
      await again.waitForLog((l) => l.msg === 'API listening', 'API listening');
      expect(again.stderr()).toContain(`server public key:  ${info2.publicKey}`);
      expect(again.stderr()).not.toContain('password');
      const first = /server public key: {2}(\S+)/.exec(serve.stderr())![1];
      expect(info2.publicKey).toBe(first);
      const creds = /password: (\S+)/.exec(serve.stderr())![1]!;
      const admin = new JetrecvClient({ port: info2.apiPort as number });
      await admin.server.auth('admin', creds);
      await admin.server.superuser();
    } finally {
      expect((await again.stop()).code).toBe(0);
    }
  });

  it('creates no API user without --dev', async () => {
    const dir = path.join(root, 'prod');
    const serve = spawnJetrecv([
      'serve',
      '--sandbox-dir',
      path.join(dir, 'sandbox'),
      '--persistent-state-dir',
      path.join(dir, 'state'),
      '--recv-port',
      '0',
      '--api-port',
      '0',
    ]);
    try {
      await serve.ready();
      await serve.waitForLog((l) => l.msg.startsWith('no API users exist yet'), 'the no-users warning');
      expect(await exists(path.join(dir, 'state', 'users.json'))).toBe(false);
      expect(serve.stderr()).not.toContain('password');
    } finally {
      expect((await serve.stop()).code).toBe(0);
    }
  });
});
