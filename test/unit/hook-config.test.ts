// Hook settings from serve flags and config keys: defaults, and bad input refused with an
// error naming the flag (or the config key), never showing the webhook secret.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/config/args.js';
import { serveSpec } from '../../src/config/serve-spec.js';
import { parseConfigText } from '../../src/config/config-file.js';
import { hookSettingsFromFlags } from '../../src/hooks/hook-config.js';
import { TRANSFER_EVENT_TYPES } from '../../src/recv/transfer-events.js';

const dir = mkdtempSync(path.join(tmpdir(), 'jetrecv-hook-config-'));
const secretFile = path.join(dir, 'secret');
writeFileSync(secretFile, 'the-secret\n');
const settings = (...argv: string[]) => hookSettingsFromFlags(parseArgs(serveSpec, ['--sandbox-dir', '/s', ...argv]).flags);
const usageError = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as Error & { flag?: string; details?: { flag?: string } };
  }
  throw new Error('no error');
};

describe('hookSettingsFromFlags', () => {
  it('defaults: no command, no webhook, every event', () => {
    expect(settings()).toMatchObject({
      command: [],
      webhookUrl: null,
      webhookSecret: null,
      events: [...TRANSFER_EVENT_TYPES],
      commandTimeoutMs: 60_000,
      commandConcurrency: 2,
      webhookRetries: 3,
    });
  });

  it('takes the command as an argv and reads the secret file (trailing newline dropped)', () => {
    const s = settings(
      '--hook-command',
      '/usr/bin/env',
      '--hook-command=--fast',
      '--webhook-url',
      'https://example.net/hook',
      '--webhook-secret-file',
      secretFile,
      '--hook-events',
      'transferComplete',
    );
    expect(s).toMatchObject({
      command: ['/usr/bin/env', '--fast'],
      webhookUrl: 'https://example.net/hook',
      webhookSecret: 'the-secret',
      events: ['transferComplete'],
    });
  });

  it('refuses bad input naming the flag', () => {
    expect(usageError(() => settings('--hook-events', 'done')).message).toMatch(
      /^--hook-events: expected any of transferStarted, .*got 'done'/,
    );
    expect(usageError(() => settings('--webhook-url', 'ftp://x/y', '--webhook-secret-file', secretFile)).message).toMatch(
      /^--webhook-url: expected an http:\/\/ or https:\/\/ URL/,
    );
    expect(usageError(() => settings('--webhook-url', 'not a url', '--webhook-secret-file', secretFile)).message).toMatch(
      /^--webhook-url: not a URL/,
    );
    expect(usageError(() => settings('--webhook-url', 'https://x/y')).message).toMatch(
      /^--webhook-secret-file is required with --webhook-url/,
    );
    expect(usageError(() => settings('--webhook-url', 'https://x/y', '--webhook-secret-file', path.join(dir, 'missing'))).message).toMatch(
      /^--webhook-secret-file: cannot read .*ENOENT/,
    );
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(usageError(() => settings('--webhook-url', 'https://x/y', '--webhook-secret-file', empty)).message).toMatch(
      /^--webhook-secret-file: .* is empty/,
    );
    expect(usageError(() => settings('--hook-timeout', '10ms')).message).toMatch(/^--hook-timeout/);
    expect(usageError(() => settings('--hook-concurrency', '0')).message).toMatch(/^--hook-concurrency/);
  });

  it('config keys are checked the same way, naming the file and the key', () => {
    expect(() => parseConfigText('{"hook-events": ["transferComplete", "bogus"]}', '/etc/j.conf')).toThrow(
      /\/etc\/j\.conf: key 'hook-events\[1\]': expected one of 'transferStarted'/,
    );
    expect(() => parseConfigText('{"hook-command": "/bin/true --x"}', '/etc/j.conf')).toThrow(/key 'hook-command': expected a JSON array/);
    expect(parseConfigText('{"hook-command": ["/bin/echo", "a b"], "webhook-retries": 0}', '/etc/j.conf')).toEqual({
      'hook-command': ['/bin/echo', 'a b'],
      'webhook-retries': 0,
    });
  });
});
