// webhook.ts — POSTs one transfer event to the configured URL: the event JSON as body, signed
// `X-JetRecv-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`. A network
// error, a timeout, HTTP 429 or 5xx is retried with exponential backoff; any other answer
// is final. Credentials in the URL (https://user:pass@host/...) go out as HTTP Basic auth.
// The log shows the URL without credentials, query or fragment, never the secret.
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TransferEvent } from '../recv/transfer-events.js';

export const SIGNATURE_HEADER = 'X-JetRecv-Signature';

/** `sha256=<hex>`: the value of X-JetRecv-Signature for `body`. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The URL as logs show it: scheme, host, port and path. */
export function redactedUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Longest wait between two attempts. */
const kMaxBackoffMs = 60_000;

export interface WebhookOptions {
  url: string;
  secret: string;
  /** Per attempt. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /** Wait before the first retry; doubles at each next one (at most 60 s). */
  backoffMs: number;
  log: Logger;
  /** The daemon stops: the delivery is abandoned. */
  signal: AbortSignal;
}

/** Delivers `event`; resolves true when an attempt got a 2xx answer. Never rejects. */
export async function deliverWebhook(event: TransferEvent, o: WebhookOptions): Promise<boolean> {
  const body = JSON.stringify(event);
  const target = new URL(o.url);
  const basic =
    target.username !== '' || target.password !== ''
      ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`
      : null;
  target.username = target.password = '';
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'jetrecv-webhook',
    'X-JetRecv-Event': event.type,
    // The same for every attempt of one delivery: the receiving side can drop repeats.
    'X-JetRecv-Delivery': randomUUID(),
    [SIGNATURE_HEADER]: signBody(body, o.secret),
  };
  if (basic !== null) headers['Authorization'] = `Basic ${Buffer.from(basic).toString('base64')}`;
  const context = { hook: 'webhook', url: redactedUrl(o.url), event: event.type, transferId: event.transfer.transferId };
  for (let attempt = 0; ; attempt++) {
    let problem: string;
    let retryable = true;
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]),
        redirect: 'manual',
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        o.log.info({ ...context, status: res.status, attempts: attempt + 1 }, 'webhook delivered');
        return true;
      }
      problem = `HTTP ${res.status}`;
      retryable = res.status === 429 || res.status >= 500;
    } catch (err) {
      const e = err as Error;
      problem =
        e.name === 'TimeoutError'
          ? `no answer within ${o.timeoutMs} ms`
          : `${e.message}${(e.cause as Error | undefined)?.message ? `: ${(e.cause as Error).message}` : ''}`;
    }
    if (o.signal.aborted) {
      o.log.warn({ ...context, attempts: attempt + 1 }, 'webhook delivery abandoned: the daemon stops');
      return false;
    }
    if (!retryable || attempt >= o.retries) {
      o.log.warn({ ...context, problem, attempts: attempt + 1 }, 'webhook delivery failed');
      return false;
    }
    const wait = Math.min(kMaxBackoffMs, o.backoffMs * 2 ** attempt);
    o.log.info({ ...context, problem, attempt: attempt + 1, retryInMs: wait }, 'webhook attempt failed; retrying');
    await new Promise<void>((r) => {
      const timer = setTimeout(r, wait);
      o.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          r();
        },
        { once: true },
      );
    });
  }
}
