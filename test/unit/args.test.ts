import { describe, expect, it } from 'vitest';
import { formatHelp, parseArgs, parseDuration, parseRate, UsageError, type CommandSpec } from '../../src/config/args.js';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import { serveSpec } from '../../src/config/serve-spec.js';
import { sendSpec } from '../../src/cli/send-command.js';
import { apiSpec } from '../../src/cli/api-command.js';
import { userSpec } from '../../src/cli/user-command.js';
import { keygenSpec } from '../../src/cli/keygen-command.js';

const serve: CommandSpec = {
  name: 'serve',
  summary: 'Run the receive server.',
  usage: 'jetrecv serve [options]',
  description: 'Receives files over UDP from authorized senders and serves the RecvInterface API.',
  flags: [
    { name: 'recv-port', type: 'port', help: 'UDP data port.', default: 8886 },
    { name: 'api-port', type: 'port', help: 'API port (0 = any).', allowZero: true, default: 8886 },
    { name: 'persistent-state-dir', type: 'path', help: 'State directory.', valueName: 'DIR' },
    { name: 'superuser', type: 'string', help: 'A superuser name.', repeatable: true, valueName: 'USER' },
    { name: 'dev', type: 'bool', help: 'Development mode.' },
    { name: 'sandbox', type: 'bool', help: 'Confine writes.', default: true },
    { name: 'max-rate', type: 'rate', help: 'Rate cap.', default: '10G' },
    { name: 'workers', type: 'int', help: 'RX threads.', min: 1, max: 64, short: 'w' },
    { name: 'offset', type: 'int', help: 'Any integer.' },
    { name: 'idle-timeout', type: 'duration', help: 'Idle timeout.', default: '30s' },
    { name: 'name', type: 'string', help: 'Server name.' },
  ],
};

const send: CommandSpec = {
  name: 'send',
  summary: 'Send files.',
  usage: 'jetrecv send --to HOST[:PORT] [options] PATH...',
  flags: [{ name: 'to', type: 'string', help: 'Receiver.', valueName: 'HOST[:PORT]' }],
  positionals: { name: 'PATH', help: 'Files or directories to send.', min: 1 },
};

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toBeInstanceOf(JetrecvError);
    expect((err as UsageError).code).toBe(ErrorCodes.USAGE);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseArgs', () => {
  it('applies defaults, parsing string defaults of numeric types', () => {
    const r = parseArgs(serve, []);
    expect(r.help).toBe(false);
    expect(r.positionals).toEqual([]);
    expect(r.flags).toEqual({
      'recv-port': 8886,
      'api-port': 8886,
      'persistent-state-dir': undefined,
      superuser: [],
      dev: false,
      sandbox: true,
      'max-rate': 10_000_000_000,
      workers: undefined,
      offset: undefined,
      'idle-timeout': 30_000,
      name: undefined,
    });
  });

  it('accepts --flag=value, --flag value, short flags, bools and --no-bools', () => {
    const r = parseArgs(serve, [
      '--recv-port=9000',
      '--persistent-state-dir',
      '/var/lib/jetrecv',
      '--dev',
      '--no-sandbox',
      '-w',
      '4',
      '--max-rate=1.5Gbit',
      '--idle-timeout',
      '500ms',
      '--api-port=0',
      '--offset',
      '-12',
      '--name=',
    ]);
    expect(r.flags['recv-port']).toBe(9000);
    expect(r.flags['persistent-state-dir']).toBe('/var/lib/jetrecv');
    expect(r.flags.dev).toBe(true);
    expect(r.flags.sandbox).toBe(false);
    expect(r.flags.workers).toBe(4);
    expect(r.flags['max-rate']).toBe(1_500_000_000);
    expect(r.flags['idle-timeout']).toBe(500);
    expect(r.flags['api-port']).toBe(0);
    expect(r.flags.offset).toBe(-12);
    expect(r.flags.name).toBe('');
    expect(parseArgs(serve, ['-w8']).flags.workers).toBe(8);
    expect(parseArgs(serve, ['-w=9']).flags.workers).toBe(9);
  });

  it('collects repeatable flags in order and keeps the last value of others', () => {
    const r = parseArgs(serve, ['--superuser', 'alice', '--superuser=bob', '--recv-port=1', '--recv-port=2']);
    expect(r.flags.superuser).toEqual(['alice', 'bob']);
    expect(r.flags['recv-port']).toBe(2);
  });

  it("treats everything after '--' as positional, and keeps a lone '-'", () => {
    const r = parseArgs(send, ['--to', 'h:1', '-', '--', '--to', '-x']);
    expect(r.positionals).toEqual(['-', '--to', '-x']);
    expect(r.flags.to).toBe('h:1');
  });

  it('sets help for -h and --help and then skips the positional count check', () => {
    expect(parseArgs(send, ['-h']).help).toBe(true);
    expect(parseArgs(send, ['--help']).help).toBe(true);
    expect(parseArgs(serve, ['--dev', '--help']).help).toBe(true);
  });

  it('rejects unknown flags naming the flag and the command', () => {
    expect(usageError(() => parseArgs(serve, ['--foo'])).message).toBe("unknown flag --foo for 'jetrecv serve' (see jetrecv serve --help)");
    expect(usageError(() => parseArgs(serve, ['--foo=1'])).message).toContain('unknown flag --foo ');
    expect(usageError(() => parseArgs(serve, ['-z'])).message).toContain('unknown flag -z ');
    // --no- only negates bool flags
    expect(usageError(() => parseArgs(serve, ['--no-recv-port'])).message).toContain('unknown flag --no-recv-port');
  });

  it('rejects bad values naming the flag and the expected form', () => {
    expect(usageError(() => parseArgs(serve, ['--recv-port', 'abc'])).message).toBe("--recv-port: expected a port 1-65535, got 'abc'");
    expect(usageError(() => parseArgs(serve, ['--recv-port=0'])).message).toBe("--recv-port: expected a port 1-65535, got '0'");
    expect(usageError(() => parseArgs(serve, ['--recv-port=65536'])).message).toContain('65536');
    expect(usageError(() => parseArgs(serve, ['--api-port=-1'])).message).toContain('a port 0-65535');
    expect(usageError(() => parseArgs(serve, ['--workers=0'])).message).toBe("--workers: expected an integer 1-64, got '0'");
    expect(usageError(() => parseArgs(serve, ['--workers=1.5'])).message).toContain('--workers');
    expect(usageError(() => parseArgs(serve, ['--offset=99999999999999999999'])).message).toContain('--offset');
    expect(usageError(() => parseArgs(serve, ['--max-rate=fast'])).message).toMatch(/^--max-rate: expected a rate/);
    expect(usageError(() => parseArgs(serve, ['--max-rate=0'])).message).toContain("got '0'");
    expect(usageError(() => parseArgs(serve, ['--idle-timeout=5'])).message).toMatch(/^--idle-timeout: expected a duration/);
    expect(usageError(() => parseArgs(serve, ['--persistent-state-dir='])).message).toBe(
      "--persistent-state-dir: expected a non-empty path, got ''",
    );
    expect(usageError(() => parseArgs(serve, ['--dev=yes'])).message).toContain('--dev takes no value');
  });

  it('reports a missing value, also when the next word is a flag', () => {
    expect(usageError(() => parseArgs(serve, ['--recv-port'])).message).toMatch(/^--recv-port: missing value/);
    expect(usageError(() => parseArgs(serve, ['--persistent-state-dir', '--dev'])).message).toMatch(
      /^--persistent-state-dir: missing value \(expected --persistent-state-dir DIR/,
    );
    expect(usageError(() => parseArgs(serve, ['-w'])).message).toMatch(/^-w: missing value/);
  });

  it('enforces positional counts', () => {
    expect(usageError(() => parseArgs(send, ['--to', 'h'])).message).toContain("missing PATH argument for 'jetrecv send'");
    expect(usageError(() => parseArgs(serve, ['stray'])).message).toContain("unexpected argument 'stray'");
    const one: CommandSpec = { ...send, positionals: { name: 'KEY', help: 'k', min: 1, max: 1 } };
    expect(usageError(() => parseArgs(one, ['a', 'b'])).message).toContain('too many arguments');
    expect(parseArgs(one, ['a']).positionals).toEqual(['a']);
  });

  it('rejects broken specs as programming errors, not usage errors', () => {
    const dup: CommandSpec = { ...send, flags: [send.flags[0]!, send.flags[0]!] };
    expect(() => parseArgs(dup, [])).toThrow(/duplicate flag --to/);
    const badDefault: CommandSpec = { ...send, flags: [{ name: 'p', type: 'port', help: '', default: 'x' }] };
    expect(() => parseArgs(badDefault, [])).toThrow(/bad default for --p/);
  });
});

describe('parseRate', () => {
  it.each([
    ['10G', 10e9],
    ['10Gbit', 10e9],
    ['10gbps', 10e9],
    ['500M', 500e6],
    ['1.5g', 1.5e9],
    ['800000k', 800e6],
    ['123', 123],
    ['2T', 2e12],
    ['100 Mbit/s', 100e6],
    ['.5k', 500],
  ])('%s -> %d bits/s', (text, bps) => {
    expect(parseRate(text)).toBe(bps);
  });

  it.each(['', '-5M', 'abc', '10X', '1e9', 'G', '10G10', 'NaN', '1.2.3M', '99999999T'])('rejects %j', (text) => {
    expect(usageError(() => parseRate(text)).message).toContain(`'${text}'`);
  });

  it('rejects zero unless allowed', () => {
    expect(() => parseRate('0')).toThrow(UsageError);
    expect(() => parseRate('0M')).toThrow(/greater than 0/);
    expect(parseRate('0', { allowZero: true })).toBe(0);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['2s', 2000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1.5s', 1500],
    ['0', 0],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['5', '-1s', '1w', 's', '', '2 s'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });
});

describe('formatHelp', () => {
  it('shows usage, description, aligned flags with value names and defaults', () => {
    const text = formatHelp(serve);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Usage: jetrecv serve [options]');
    expect(text).toContain('Run the receive server.');
    expect(text).toContain('Receives files over UDP');
    const portLine = lines.find((l) => l.includes('--recv-port'))!;
    expect(portLine).toMatch(/^ {6}--recv-port PORT +UDP data port\. \(default: 8886\)$/);
    expect(lines.find((l) => l.includes('--persistent-state-dir'))).toMatch(/--persistent-state-dir DIR +State directory\.$/);
    expect(lines.find((l) => l.includes('--superuser'))).toContain('(repeatable)');
    expect(lines.find((l) => l.includes('--[no-]sandbox'))).toBeDefined();
    expect(lines.find((l) => l.includes('-w, --workers INT'))).toBeDefined();
    expect(lines.find((l) => l.includes('--max-rate RATE'))).toContain('(default: 10G)');
    expect(lines.find((l) => l.includes('-h, --help'))).toBeDefined();
    // help texts start in one column
    const optionLines = lines.slice(lines.indexOf('Options:') + 1).filter((l) => l.trim() !== '');
    const columns = new Set(optionLines.map((l) => l.search(/(?<=\S {2,})\S/)));
    expect(columns.size).toBe(1);
  });

  it.each([
    ['serve', serveSpec],
    ['send', sendSpec],
    ['api', apiSpec],
    ['user', userSpec],
    ['keygen', keygenSpec],
  ])('the real %s command: each annotation appears once (the formatter adds them, not the help text)', (_name, spec) => {
    const text = formatHelp(spec);
    expect(text).not.toMatch(/\(repeatable\)\s*\(repeatable\)/);
    for (const flag of spec.flags) {
      expect(flag.help, `--${flag.name}`).not.toMatch(/\((repeatable|default:)/);
      // The flag's row: from its name to the next flag's row.
      const rows = text.slice(text.indexOf('Options:')).split(/\n {2}(?= {4}--|-\w, --)/);
      const block = rows.find((r) => new RegExp(`^(-\\w, )?--(\\[no-\\])?${flag.name}(\\s|$)`).test(r.trimStart()));
      expect(block, `--${flag.name}`).toBeDefined();
      expect(block!.match(/\(repeatable\)/g)?.length ?? 0, `--${flag.name}`).toBe(flag.repeatable === true ? 1 : 0);
    }
  });

  it('lists positional arguments', () => {
    const text = formatHelp(send);
    expect(text).toContain('Arguments:');
    expect(text).toMatch(/ {2}PATH +Files or directories to send\./);
    expect(text).toContain('--to HOST[:PORT]');
  });
});
