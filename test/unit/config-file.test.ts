import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { serveSpec } from '../../src/config/serve-spec.js';
const {
  applyReloadable,
  diffReloadable,
  flagsGivenOnCommandLine,
  formatConfigReference,
  jsonErrorOffset,
  loadConfigFile,
  loadServeFlags,
  mergeConfig,
  parseConfigText,
  reloadServeFlags,
  restartOnlySettings,
  RELOADABLE_SETTINGS,
  suggestKey,
} = await import('../../src/config/config-file.js');
const { parseArgs } = await import('../../src/config/args.js');
const { ErrorCodes, JetrecvError } = await import('../../src/errors.js');

type CommandSpec = typeof serveSpec;

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'jetrecv-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** serveSpec with a --config flag, as `jetrecv serve` has once the file is wired in. */
const specWithConfig: CommandSpec = serveSpec.flags.some((f) => f.name === 'config')
  ? serveSpec
  : { ...serveSpec, flags: [...serveSpec.flags, { name: 'config', type: 'path', valueName: 'FILE', help: 'config file' }] };

function writeConfig(name: string, value: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

/** Parses `text` and returns the CONFIG error it must throw. */
function configErrorOf(value: unknown, file = '/etc/jetrecv/jetrecv.conf'): InstanceType<typeof JetrecvError> {
  try {
    parseConfigText(typeof value === 'string' ? value : JSON.stringify(value), file);
  } catch (err) {
    expect(err).toBeInstanceOf(JetrecvError);
    expect((err as InstanceType<typeof JetrecvError>).code).toBe(ErrorCodes.CONFIG);
    return err as InstanceType<typeof JetrecvError>;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

describe('parseConfigText', () => {
  it('converts every value type with the CLI flag specs', () => {
    const values = parseConfigText(
      JSON.stringify({
        '//': 'a comment',
        'sandbox-dir': 'incoming',
        'persistent-state-dir': '/var/lib/jetrecv',
        'recv-port': 0,
        'api-port': 9000,
        'api-allow-remote-control': true,
        superuser: ['alice', 'bob'],
        'rx-threads': 4,
        'socket-buffer': 33554432,
        'session-timeout': '1.5m',
        'log-level': 'debug',
        'min-cipher': 'aes-256-gcm',
      }),
      '/etc/jetrecv/jetrecv.conf',
    );
    expect(values).toEqual({
      'sandbox-dir': '/etc/jetrecv/incoming', // relative to the file's directory
      'persistent-state-dir': '/var/lib/jetrecv',
      'recv-port': 0,
      'api-port': 9000,
      'api-allow-remote-control': true,
      superuser: ['alice', 'bob'],
      'rx-threads': 4,
      'socket-buffer': 33554432,
      'session-timeout': 90_000,
      'log-level': 'debug',
      'min-cipher': 'aes-256-gcm',
    });
  });

  it('returns only the keys present', () => {
    expect(parseConfigText('{"log-level": "warn"}', 'x.conf')).toEqual({ 'log-level': 'warn' });
    expect(parseConfigText('{}', 'x.conf')).toEqual({});
  });

  it('refuses an unknown key, naming the file and suggesting the close one', () => {
    const err = configErrorOf({ 'recv-prot': 8886 });
    expect(err.message).toBe("/etc/jetrecv/jetrecv.conf: unknown key 'recv-prot' (did you mean 'recv-port'?)");
    expect(err.details).toMatchObject({ path: '/etc/jetrecv/jetrecv.conf', key: 'recv-prot' });
    expect(configErrorOf({ '--sandbox-dir': '/x' }).message).toContain("(did you mean 'sandbox-dir'?)");
    expect(configErrorOf({ superusers: ['a'] }).message).toContain("(did you mean 'superuser'?)");
    expect(configErrorOf({ frobnicate: 1 }).message).toBe("/etc/jetrecv/jetrecv.conf: unknown key 'frobnicate'");
  });

  it.each([
    [{ 'recv-port': '8886' }, 'key \'recv-port\': expected a JSON number, got "8886"'],
    [{ 'recv-port': 70000 }, "key 'recv-port': expected a port 0-65535, got 70000"],
    [{ 'recv-port': 8886.5 }, "key 'recv-port': expected a port 0-65535, got 8886.5"],
    [{ 'rx-threads': 17 }, "key 'rx-threads': expected an integer 1-16 or 'auto', got 17"],
    [{ 'rx-threads': 'many' }, "key 'rx-threads': expected a JSON number or 'auto', got \"many\""],
    [{ 'direct-io-threads': 17 }, "key 'direct-io-threads': expected an integer 1-16, got 17"],
    [{ 'early-block-bytes': 32 << 20 }, "key 'early-block-bytes': expected an integer 0-16777216, got 33554432"],
    [{ 'socket-buffer': 1024 }, "key 'socket-buffer': expected an integer 65536-2147483647, got 1024"],
    [{ 'api-allow-remote-control': 'yes' }, 'key \'api-allow-remote-control\': expected true or false, got "yes"'],
    [{ superuser: 'alice' }, 'key \'superuser\': expected a JSON array (each item a JSON string), like ["a", "b"], got "alice"'],
    [{ superuser: ['alice', 7] }, "key 'superuser[1]': expected a JSON string, got 7"],
    [{ 'session-timeout': 30 }, "key 'session-timeout': expected a JSON string like '30s'"],
    [{ 'session-timeout': '30 seconds' }, "key 'session-timeout': expected a duration like"],
    [{ 'log-level': 'loud' }, "key 'log-level': expected one of 'fatal', 'error', 'warn', 'info'"],
    [{ 'min-cipher': 'rot13' }, "key 'min-cipher': expected one of 'chacha20-poly1305', 'aes-256-gcm', got \"rot13\""],
    [{ 'direct-io': 'always' }, "key 'direct-io': expected one of 'auto', 'off', got \"always\""],
    [{ 'sandbox-dir': '' }, 'key \'sandbox-dir\': expected a non-empty path, got ""'],
    [{ 'sandbox-dir': null }, "key 'sandbox-dir': expected a JSON string (a path"],
    [{ config: '/etc/other.conf' }, "key 'config' is not allowed in a config file"],
  ])('refuses %j with a message naming the key', (value, expected) => {
    const err = configErrorOf(value);
    expect(err.message.startsWith('/etc/jetrecv/jetrecv.conf: ')).toBe(true);
    expect(err.message).toContain(expected);
  });

  it('reports where JSON syntax breaks', () => {
    const err = configErrorOf('{\n  "recv-port": 8886,\n  "log-level": info\n}');
    expect(err.message).toMatch(/^\/etc\/jetrecv\/jetrecv\.conf: not valid JSON at line 3, column 16: /);
  });

  it('locates syntax errors exactly where JSON.parse fails', () => {
    const cases: [string, number | null][] = [
      ['{"a": [1, 2.5e3, true, null, "x\\u00e9\\n"]}', null],
      ['{"a": 1,}', 8],
      ['{"a" 1}', 5],
      ['{"a": 01}', 7],
      ['{"a": "tab\there"}', 10],
      ['{"a": 1} x', 9],
      ['{"a": tru}', 6],
      ['', 0],
      ['{"a": "open', 11],
    ];
    for (const [text, offset] of cases) {
      expect({ text, offset: jsonErrorOffset(text) }).toEqual({ text, offset });
      expect(() => JSON.parse(text), text).toSatisfy((parse: () => unknown) => {
        try {
          parse();
          return offset === null;
        } catch {
          return offset !== null;
        }
      });
    }
  });

  it('requires a JSON object at the top', () => {
    expect(configErrorOf('["sandbox-dir"]').message).toContain('expected a JSON object of settings');
    expect(configErrorOf('null').message).toContain('got null');
  });
});

describe('loadConfigFile', () => {
  it('reads a file and resolves relative paths against its directory', () => {
    const file = writeConfig('relative.conf', { 'sandbox-dir': 'received', 'api-tls-cert': '../cert.pem' });
    expect(loadConfigFile(file)).toEqual({
      'sandbox-dir': path.join(dir, 'received'),
      'api-tls-cert': path.resolve(dir, '..', 'cert.pem'),
    });
  });

  it('names the file when it cannot be read', () => {
    const missing = path.join(dir, 'missing.conf');
    expect(() => loadConfigFile(missing)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.CONFIG,
        message: expect.stringContaining(`${missing}: cannot read the config file: ENOENT`),
      }),
    );
  });

  it('accepts the shipped example config', () => {
    const example = path.join(repoRoot, 'systemd', 'jetrecv.conf.example');
    const values = loadConfigFile(example);
    expect(values['sandbox-dir']).toBe('/srv/jetrecv');
    expect(values['recv-port']).toBe(8886);
    // Every setting in the example equals the CLI default, so installing it changes nothing
    // but the sandbox.
    const defaults = parseArgs(serveSpec, []).flags;
    for (const [key, value] of Object.entries(values)) {
      if (key !== 'sandbox-dir') expect({ key, value }).toEqual({ key, value: defaults[key] });
    }
  });
});

describe('suggestKey', () => {
  const known = serveSpec.flags.map((f) => f.name);
  it('finds transpositions, missing letters and underscores', () => {
    expect(suggestKey('recv-prot', known)).toBe('recv-port');
    expect(suggestKey('log_level', known)).toBe('log-level');
    expect(suggestKey('sandbox', known)).toBe('sandbox-dir');
    expect(suggestKey('x', known)).toBeUndefined();
  });
});

describe('flagsGivenOnCommandLine', () => {
  it('finds every written form and skips values and positionals', () => {
    const argv = [
      '--sandbox-dir',
      '/srv/x',
      '--recv-port=9000',
      '--no-api-allow-remote-control',
      '--superuser',
      'a',
      '--superuser=b',
      '--',
      '--log-level',
    ];
    parseArgs(serveSpec, argv.slice(0, -2)); // valid for the parser
    expect([...flagsGivenOnCommandLine(serveSpec, argv)].sort()).toEqual(
      ['api-allow-remote-control', 'recv-port', 'sandbox-dir', 'superuser'].sort(),
    );
  });

  it('treats a value that looks like a short flag as a value', () => {
    expect([...flagsGivenOnCommandLine(serveSpec, ['--server-name', '-x', '--dev'])].sort()).toEqual(['dev', 'server-name']);
  });

  it('maps short aliases', () => {
    const spec: CommandSpec = {
      ...serveSpec,
      flags: [
        { name: 'rx-threads', type: 'int', short: 't', help: '' },
        { name: 'dev', type: 'bool', short: 'd', help: '' },
      ],
    };
    expect([...flagsGivenOnCommandLine(spec, ['-t', '4', '-d'])].sort()).toEqual(['dev', 'rx-threads']);
    expect([...flagsGivenOnCommandLine(spec, ['-t4'])]).toEqual(['rx-threads']);
  });
});

describe('mergeConfig', () => {
  it('lets command-line flags win, then the file, then defaults', () => {
    const argv = ['--log-level', 'info', '--recv-port', '9999'];
    const parsed = parseArgs(serveSpec, argv);
    const file = { 'log-level': 'debug', 'recv-port': 1234, 'api-port': 4321, superuser: ['alice'] };
    const merged = mergeConfig(file, parsed.flags, flagsGivenOnCommandLine(serveSpec, argv));
    expect(merged['log-level']).toBe('info'); // given on the CLI, even though it is the default
    expect(merged['recv-port']).toBe(9999);
    expect(merged['api-port']).toBe(4321); // from the file
    expect(merged['superuser']).toEqual(['alice']);
    expect(merged['rx-threads']).toBe('auto'); // default
    expect(parsed.flags['api-port']).toBe(8886); // inputs untouched
  });

  it('replaces a repeatable list given on the command line', () => {
    const argv = ['--superuser', 'root'];
    const merged = mergeConfig({ superuser: ['alice'] }, parseArgs(serveSpec, argv).flags, flagsGivenOnCommandLine(serveSpec, argv));
    expect(merged['superuser']).toEqual(['root']);
  });
});

describe('reloadable settings', () => {
  it('names real serve flags and partitions them', () => {
    const names = serveSpec.flags.map((f) => f.name);
    for (const name of RELOADABLE_SETTINGS) expect(names).toContain(name);
    expect(RELOADABLE_SETTINGS.slice(0, 6)).toEqual([
      'log-level',
      'superuser',
      'session-timeout',
      'resume-retention',
      'incoming-rate-limit',
      'incoming-rate-limit-per-source',
    ]);
    // The triggers and the event stream's progress period: every hook-* and webhook-* flag.
    expect(RELOADABLE_SETTINGS.slice(6)).toEqual([
      ...names.filter((n) => n.startsWith('hook-') || n.startsWith('webhook-')),
      'events-progress-interval',
    ]);
    const restartOnly = restartOnlySettings();
    expect([...restartOnly, ...RELOADABLE_SETTINGS].sort()).toEqual(names.filter((n) => n !== 'config').sort());
    expect(restartOnly).toContain('recv-port');
  });

  it('diffReloadable splits changes into applied and restart-only', () => {
    const before = parseArgs(serveSpec, ['--sandbox-dir', '/a']).flags;
    const after = { ...before, 'log-level': 'debug', superuser: ['alice'], 'recv-port': 1, 'sandbox-dir': '/a' };
    const diff = diffReloadable(before, after);
    expect(diff.reloadable).toEqual([
      { name: 'superuser', from: [], to: ['alice'] },
      { name: 'log-level', from: 'info', to: 'debug' },
    ]);
    expect(diff.restartRequired).toEqual([{ name: 'recv-port', from: 8886, to: 1 }]);
    expect(diffReloadable(before, { ...before })).toEqual({ reloadable: [], restartRequired: [] });
  });
});

describe('loadServeFlags and reloadServeFlags', () => {
  it('merges --config under the command line and re-reads it on reload', () => {
    const file = writeConfig('serve.conf', { 'sandbox-dir': '/srv/a', 'log-level': 'warn', 'recv-port': 7000 });
    const loaded = loadServeFlags(['--config', file, '--recv-port', '7100'], specWithConfig);
    expect(loaded.configPath).toBe(file);
    expect(loaded.flags).toMatchObject({ 'sandbox-dir': '/srv/a', 'log-level': 'warn', 'recv-port': 7100 });

    writeConfig('serve.conf', { 'sandbox-dir': '/srv/b', 'log-level': 'debug', 'recv-port': 7000, 'session-timeout': '10s' });
    const { next, diff } = reloadServeFlags(loaded, specWithConfig);
    expect(next.flags).toMatchObject({ 'sandbox-dir': '/srv/b', 'log-level': 'debug', 'recv-port': 7100, 'session-timeout': 10_000 });
    expect(diff.reloadable.map((c) => c.name).sort()).toEqual(['log-level', 'session-timeout']);
    expect(diff.restartRequired).toEqual([{ name: 'sandbox-dir', from: '/srv/a', to: '/srv/b' }]);
  });

  it('applyReloadable takes over reloadable changes only, so restart-only ones are reported again', () => {
    const file = writeConfig('apply.conf', { 'sandbox-dir': '/srv/a', 'log-level': 'warn' });
    const running = loadServeFlags(['--config', file], specWithConfig);
    writeConfig('apply.conf', { 'sandbox-dir': '/srv/b', 'log-level': 'debug' });
    const first = reloadServeFlags(running, specWithConfig);
    const applied = applyReloadable(running, first.diff);
    expect(applied.flags).toMatchObject({ 'sandbox-dir': '/srv/a', 'log-level': 'debug' });
    expect(running.flags['log-level']).toBe('warn'); // input untouched
    const second = reloadServeFlags(applied, specWithConfig);
    expect(second.diff).toEqual({ reloadable: [], restartRequired: [{ name: 'sandbox-dir', from: '/srv/a', to: '/srv/b' }] });
  });

  it('refuses a broken file on reload and leaves the current flags alone', () => {
    const file = writeConfig('broken.conf', { 'log-level': 'warn' });
    const loaded = loadServeFlags(['--config', file], specWithConfig);
    const before = structuredClone(loaded.flags);
    writeConfig('broken.conf', { 'log-level': 'loud' });
    expect(() => reloadServeFlags(loaded, specWithConfig)).toThrow(/broken\.conf: key 'log-level': expected one of/);
    expect(loaded.flags).toEqual(before);
  });

  it('takes the receive rate limits as rates and names the key of a bad one', () => {
    const file = writeConfig('limits.conf', { 'incoming-rate-limit': '500M', 'incoming-rate-limit-per-source': 20_000_000 });
    const loaded = loadServeFlags(['--config', file], specWithConfig);
    expect(loaded.flags).toMatchObject({ 'incoming-rate-limit': 500_000_000, 'incoming-rate-limit-per-source': 20_000_000 });
    writeConfig('limits.conf', { 'incoming-rate-limit-per-source': '20 furlongs' });
    expect(() => loadServeFlags(['--config', file], specWithConfig)).toThrow(
      /limits\.conf: key 'incoming-rate-limit-per-source': expected/,
    );
    writeConfig('limits.conf', { 'incoming-rate-limit': -5 });
    expect(() => loadServeFlags(['--config', file], specWithConfig)).toThrow(/key 'incoming-rate-limit': expected/);
  });

  it('without --config it is the command line alone', () => {
    const loaded = loadServeFlags(['--sandbox-dir', '/x'], specWithConfig);
    expect(loaded.configPath).toBeUndefined();
    expect(loaded.flags['sandbox-dir']).toBe('/x');
    expect(reloadServeFlags(loaded, specWithConfig).diff).toEqual({ reloadable: [], restartRequired: [] });
  });
});

describe('docs', () => {
  it('docs/OPERATIONS.md carries the generated config reference', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'OPERATIONS.md'), 'utf8');
    const reference = formatConfigReference();
    for (const line of reference.trim().split('\n').slice(2)) {
      const key = /^\| `([^`]+)`/.exec(line)?.[1];
      expect(doc, `docs/OPERATIONS.md lacks the row of '${key}'; regenerate it with formatConfigReference()`).toContain(line);
    }
  });
});
