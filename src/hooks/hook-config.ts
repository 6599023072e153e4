// hook-config.ts — HookSettings from the `jetrecv serve` flags (or config keys) hook-*,
// webhook-*: checked with errors naming the flag; the webhook secret is read from its file
// (at start and at each SIGHUP). The secret never appears in an error or a log line.
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { TRANSFER_EVENT_TYPES, type TransferEventType } from '../recv/transfer-events.js';
import type { HookSettings } from './transfer-hooks.js';

/** Longest secret read from --webhook-secret-file. */
const kMaxSecretBytes = 4096;

function readSecret(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--webhook-secret-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      flag: 'webhook-secret-file',
    });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.length === 0)
    throw new UsageError(`--webhook-secret-file: ${file} is empty; put the shared secret in it`, { flag: 'webhook-secret-file' });
  if (Buffer.byteLength(secret) > kMaxSecretBytes)
    throw new UsageError(`--webhook-secret-file: ${file} holds more than ${kMaxSecretBytes} bytes`, { flag: 'webhook-secret-file' });
  return secret;
}

function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('--webhook-url: not a URL; expected http://host[:port]/path or https://...', { flag: 'webhook-url' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--webhook-url: expected an http:// or https:// URL, got a ${url.protocol} URL`, { flag: 'webhook-url' });
  }
  return url.href;
}

/** The hook settings of parsed serve flags; throws UsageError naming the bad flag. */
export function hookSettingsFromFlags(flags: Record<string, unknown>): HookSettings {
  const events = flags['hook-events'] as string[];
  for (const e of events) {
    if (!(TRANSFER_EVENT_TYPES as readonly string[]).includes(e)) {
      throw new UsageError(`--hook-events: expected any of ${TRANSFER_EVENT_TYPES.join(', ')}, got '${e}'`, { flag: 'hook-events' });
    }
  }
  const command = flags['hook-command'] as string[];
  if (command.length > 0 && command[0] === '')
    throw new UsageError('--hook-command: the first argument (the program) is empty', { flag: 'hook-command' });
  const urlText = flags['webhook-url'] as string | undefined;
  const secretFile = flags['webhook-secret-file'] as string | undefined;
  const webhookUrl = urlText === undefined || urlText === '' ? null : checkUrl(urlText);
  if (webhookUrl !== null && secretFile === undefined) {
    throw new UsageError('--webhook-secret-file is required with --webhook-url: webhooks are always signed', {
      flag: 'webhook-secret-file',
    });
  }
  return {
    events: events as TransferEventType[],
    command,
    commandTimeoutMs: flags['hook-timeout'] as number,
    commandConcurrency: flags['hook-concurrency'] as number,
    commandQueue: flags['hook-queue'] as number,
    webhookUrl,
    webhookSecret: webhookUrl !== null ? readSecret(secretFile as string) : null,
    webhookTimeoutMs: flags['webhook-timeout'] as number,
    webhookRetries: flags['webhook-retries'] as number,
    webhookBackoffMs: flags['webhook-retry-backoff'] as number,
    webhookQueue: flags['webhook-queue'] as number,
  };
}
