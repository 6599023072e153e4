// The trigger parts one layer at a time: the bounded queue (concurrency, overflow counted),
// TransferHooks' subscription (only while a hook is configured), the webhook's retry rule
// (429/5xx/no answer retried, other answers final) against a local HTTP server.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/hooks/work-queue.js';
import { TransferHooks, type HookSettings } from '../../src/hooks/transfer-hooks.js';
import { deliverWebhook, redactedUrl, signBody } from '../../src/hooks/webhook.js';
import { eventEnvironment, HookRunner } from '../../src/hooks/command-hook.js';
import type { TransferEvent, TransferEventListener, TransferEventSource } from '../../src/recv/transfer-events.js';

const silent = pino({ level: 'silent' });
const EVENT: TransferEvent = {
  type: 'fileComplete',
  time: 5,
  file: { index: 2, path: 'in/a.mxf', size: 9 },
  transfer: {
    transferId: 'ab'.repeat(16),
    destinationPath: '/in',
    sourceIP: '10.0.0.1',
    sourcePort: 4000,
    status: 'receiving',
    totalSize: 9,
    lastErrorTime: null,
    lastRecvTime: 7,
    lastSendTime: 8,
    errorMessage: '',
    bytesReceived: 9,
    filesTotal: 3,
    filesDone: 1,
    recvRate: 0,
    startTime: 1,
    endTime: null,
    clientPublicKey: 'k',
  },
};

describe('WorkQueue', () => {
  it('runs at most `concurrency` jobs, queues `capacity` more and counts the rest as dropped', async () => {
    const release: (() => void)[] = [];
    let peak = 0;
    let running = 0;
    const q = new WorkQueue<number>(
      async (n) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
        return n % 2 === 0;
      },
      { concurrency: 2, capacity: 3 },
    );
    const accepted = [1, 2, 3, 4, 5, 6, 7].map((n) => q.push(n));
    expect(accepted).toEqual([true, true, true, true, true, false, false]);
    expect(q.stats()).toEqual({ queued: 3, running: 2, succeeded: 0, failed: 0, dropped: 2 });
    while (q.stats().running > 0 || q.stats().queued > 0) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(peak).toBe(2);
    expect(q.stats()).toEqual({ queued: 0, running: 0, succeeded: 2, failed: 3, dropped: 2 });
  });
});

class Source implements TransferEventSource {
  readonly listeners = new Set<TransferEventListener>();
  subscribe(l: TransferEventListener) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

const NONE: HookSettings = {
  events: ['transferComplete'],
  command: [],
  commandTimeoutMs: 1000,
  commandConcurrency: 1,
  commandQueue: 10,
  webhookUrl: null,
  webhookSecret: null,
  webhookTimeoutMs: 1000,
  webhookRetries: 0,
  webhookBackoffMs: 10,
  webhookQueue: 10,
};

describe('TransferHooks', () => {
  it('listens to the receiver only while a hook is configured', () => {
    const source = new Source();
    const hooks = new TransferHooks(source, NONE, '/sandbox', silent);
    expect(source.listeners.size).toBe(0);
    hooks.configure({ ...NONE, command: ['/bin/true'] });
    expect(source.listeners.size).toBe(1);
    hooks.configure(NONE);
    expect(source.listeners.size).toBe(0);
    hooks.configure({ ...NONE, webhookUrl: 'http://127.0.0.1:9/x', webhookSecret: 's' });
    hooks.close();
    expect(source.listeners.size).toBe(0);
  });
});

describe('command hook environment', () => {
  it('one JETRECV_* variable per structure field, plus the event and file ones', () => {
    const env = eventEnvironment(EVENT, '/srv/sandbox');
    expect(env).toMatchObject({
      JETRECV_EVENT: 'fileComplete',
      JETRECV_EVENT_TIME: '5',
      JETRECV_TRANSFER_ID: 'ab'.repeat(16),
      JETRECV_LAST_ERROR_TIME: '',
      JETRECV_END_TIME: '',
      JETRECV_SOURCE_IP: '10.0.0.1',
      JETRECV_FILES_DONE: '1',
      JETRECV_CLIENT_PUBLIC_KEY: 'k',
      JETRECV_SANDBOX_DIR: '/srv/sandbox',
      JETRECV_FILE_INDEX: '2',
      JETRECV_FILE_PATH: 'in/a.mxf',
      JETRECV_FILE_FULL_PATH: '/srv/sandbox/in/a.mxf',
      JETRECV_FILE_SIZE: '9',
    });
    expect(Object.keys(env).length).toBe(3 + Object.keys(EVENT.transfer).length + 4);
  });
});

describe('deliverWebhook', () => {
  let server: http.Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });
  async function serve(statuses: number[]): Promise<{ url: string; seen: { status: number; sig: string; body: string }[] }> {
    const seen: { status: number; sig: string; body: string }[] = [];
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const status = statuses[Math.min(seen.length, statuses.length - 1)] as number;
        seen.push({ status, sig: String(req.headers['x-jetrecv-signature']), body });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/h?key=x`, seen };
  }
  const opts = (url: string, retries: number) => ({
    url,
    secret: 'k3y',
    timeoutMs: 2000,
    retries,
    backoffMs: 10,
    log: silent,
    signal: new AbortController().signal,
  });

  it('retries 429 and 5xx, then succeeds; every attempt signed over the exact body', async () => {
    const { url, seen } = await serve([503, 429, 204]);
    expect(await deliverWebhook(EVENT, opts(url, 3))).toBe(true);
    expect(seen.map((s) => s.status)).toEqual([503, 429, 204]);
    for (const s of seen) expect(s.sig).toBe(signBody(s.body, 'k3y'));
    expect(JSON.parse(seen[0]!.body)).toEqual(EVENT);
  });

  it('gives up after the retries, and at once on another 4xx', async () => {
    const a = await serve([500]);
    expect(await deliverWebhook(EVENT, opts(a.url, 2))).toBe(false);
    expect(a.seen.length).toBe(3);
    server!.close();
    const b = await serve([404]);
    expect(await deliverWebhook(EVENT, opts(b.url, 5))).toBe(false);
    expect(b.seen.length).toBe(1);
  });

  it('logs the URL without credentials or query', () => {
    expect(redactedUrl('https://u:p@h.example:8443/a/b?token=t#f')).toBe('https://h.example:8443/a/b');
    expect(signBody('{}', 'k')).toMatch(/^sha256=[0-9a-f]{64}$/);
  });
});

describe('HookRunner (the built dist/hooks/hook-runner.js)', () => {
  /** Running (a zombie waiting for its reaper counts as gone). */
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const job = (script: string, timeoutMs = 10_000) => ({
    argv: ['/bin/sh', '-c', script],
    env: { PATH: '/usr/bin:/bin', X: 'y' },
    cwd: '/tmp',
    stdin: 'in\n',
    timeoutMs,
  });

  it('runs argv with the env, cwd and stdin given, keeps the output, kills at the timeout and at close', async () => {
    const runner = new HookRunner(silent);
    const signal = new AbortController().signal;
    try {
      const ok = await runner.run(job('read line; echo "$line $X $(pwd)"; echo err >&2; exit 3'), signal);
      expect(ok).toMatchObject({ exitCode: 3, timedOut: false, killed: false, error: null, stdout: 'in y /tmp\n', stderr: 'err\n' });
      const slow = await runner.run(job('sleep 30 & echo $!; wait', 300), signal);
      expect(slow).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
      const child = Number(slow.stdout.trim());
      for (let i = 0; i < 50 && alive(child); i++) await new Promise((r) => setTimeout(r, 20));
      expect(alive(child)).toBe(false); // the whole group
      const missing = await runner.run({ ...job(''), argv: ['/no/such/program'] }, signal);
      expect(missing.error).toMatch(/ENOENT/);
    } finally {
      runner.close();
    }
    const stop = new AbortController();
    const runner2 = new HookRunner(silent);
    const hanging = runner2.run(job('sleep 30'), stop.signal);
    await new Promise((r) => setTimeout(r, 300));
    stop.abort();
    expect(await hanging).toMatchObject({ killed: true });
    runner2.close();
  });
});
