// Transfer events end to end: a real `jetrecv serve --config FILE` child process, real
// `jetrecv send` runs, a real hook command (a node script), a real webhook receiver (a local
// HTTP server), the event stream through the TS client and through `jetrecv api watch`.
// Then SIGHUP swaps in hooks that hang: transfers still complete while the hooks hang, the
// concurrency limit holds, the overflow is counted in /metrics, the timeout kills the hook's
// whole process group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JetrecvClient, type StreamEvent, type TransferEvent } from '../../src/client/index.js';
import { cliPath, runCli, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

/** Polls `check` (sync or async) every 50 ms until it gives a value other than undefined/false. */
async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await check();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PASSWORD = 'correct horse battery staple';
const SECRET = 'webhook-shared-secret-1';

/** The hook: records its stdin and JETRECV_* environment ('record'), or hangs with a child ('hang'). */
const HOOK_SCRIPT = `
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
const [outDir, mode] = process.argv.slice(2);
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const stdin = Buffer.concat(chunks).toString();
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('JETRECV_') || k === 'LEAK_CHECK'));
const name = process.hrtime.bigint() + '-' + process.pid;
if (mode === 'hang') {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  writeFileSync(outDir + '/' + name + '.hang', JSON.stringify({ pid: process.pid, child: child.pid, event: env.JETRECV_EVENT }));
  setInterval(() => {}, 1000);
} else {
  writeFileSync(outDir + '/' + name + '.json', JSON.stringify({ stdin, env, cwd: process.cwd() }));
  console.log('recorded ' + env.JETRECV_EVENT);
}
`;

interface WebhookHit {
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: number | null;
}

let root: string;
let sandbox: string;
let configFile: string;
let hookOut: string;
let hookScript: string;
let serve: ServeProcess;
let hits: WebhookHit[] = [];
let webhookMode: 'flaky' | 'hang' = 'flaky';
let webhook: http.Server;
let webhookPort: number;
let baseConfig: Record<string, unknown>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function login(): Promise<JetrecvClient> {
  const c = new JetrecvClient({ port: serve.apiPort! });
  await c.server.auth('alice', PASSWORD);
  return c;
}

async function makeFiles(name: string, count: number): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir);
  for (let i = 0; i < count; i++) await writeRandomFile(path.join(dir, `f${i}.bin`), 20_000 + i);
  return dir;
}

function send(dir: string, dest: string) {
  return runCli([
    'send',
    '--to',
    `127.0.0.1:${serve.recvPort}`,
    '--server-key',
    serve.publicKey,
    '--handshake-timeout',
    '5s',
    '--dest',
    dest,
    dir,
  ]);
}

async function recorded(): Promise<{ stdin: string; env: Record<string, string>; cwd: string }[]> {
  const names = (await readdir(hookOut))
    .filter((n) => n.endsWith('.json'))
    .sort((a, b) => (BigInt(a.split('-')[0]!) < BigInt(b.split('-')[0]!) ? -1 : 1));
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(path.join(hookOut, n), 'utf8'))));
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${serve.apiPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

beforeAll(async () => {
  root = await tempDir('transfer-events');
  sandbox = path.join(root, 'sandbox');
  hookOut = path.join(root, 'hook-out');
  await mkdir(hookOut);
  hookScript = path.join(root, 'hook.mjs');
  await writeFile(hookScript, HOOK_SCRIPT);
  await writeFile(path.join(root, 'secret'), `${SECRET}\n`, { mode: 0o600 });
  const stateDir = path.join(root, 'state');
  const r = await runCli(['user', 'add', 'alice', '--persistent-state-dir', stateDir], { env: { JETRECV_USER_PASSWORD: PASSWORD } });
  expect(r.code, r.stderr).toBe(0);

  let answered = 0;
  webhook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit: WebhookHit = { headers: req.headers, body: Buffer.concat(chunks).toString(), answered: null };
      hits.push(hit);
      if (webhookMode === 'hang') return; // never answers
      hit.answered = answered++ < 2 ? 500 : 200;
      res.statusCode = hit.answered;
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  webhookPort = (webhook.address() as AddressInfo).port;

  configFile = path.join(root, 'jetrecv.conf');
  baseConfig = {
    'sandbox-dir': sandbox,
    'persistent-state-dir': stateDir,
    'recv-host': '127.0.0.1',
    'recv-port': 0,
    'api-port': 0,
    'hook-command': [process.execPath, hookScript, hookOut, 'record'],
    'hook-concurrency': 1,
    'webhook-url': `http://user:pw@127.0.0.1:${webhookPort}/hook?token=abc`,
    'webhook-secret-file': path.join(root, 'secret'),
    'webhook-retry-backoff': '50ms',
    'events-progress-interval': '100ms',
  };
  await writeFile(configFile, JSON.stringify(baseConfig));
  serve = await spawnServe(['--config', configFile], { env: { LEAK_CHECK: 'must-not-reach-the-hook' } });
});

afterAll(async () => {
  await serve?.stop();
  // The daemon kills running hooks when it stops; in case it did not, the test ends its own.
  for (const n of hookOut ? (await readdir(hookOut)).filter((f) => f.endsWith('.hang')) : []) {
    const p = JSON.parse(await readFile(path.join(hookOut, n), 'utf8')) as { pid: number; child: number };
    for (const pid of [p.pid, p.child]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  webhook?.closeAllConnections();
  webhook?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('events of a real transfer', () => {
  it('reach the SSE stream, `jetrecv api watch`, the hook command and the webhook', async () => {
    const streamed: StreamEvent[] = [];
    const client = await login();
    const stop = new AbortController();
    const reading = (async () => {
      for await (const e of client.events({ signal: stop.signal })) {
        streamed.push(e);
        if (e.type === 'transferComplete') break;
      }
    })();
    const watch: ChildProcess = spawn(
      process.execPath,
      [cliPath, 'api', '--api-control-port', String(serve.apiPort), '--user', 'alice', 'watch'],
      {
        env: { ...process.env, JETRECV_API_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let watchOut = '';
    watch.stdout!.on('data', (d: Buffer) => (watchOut += d.toString()));
    const watchExit = new Promise<number | null>((r) => watch.on('close', r));
    // Both streams are connected once the daemon counts two clients.
    await until(async () => (await metric('jetrecv_event_stream_clients')) === 2, 'two event stream clients', 15_000);

    const dir = await makeFiles('batch1', 2);
    const sent = await send(dir, 'inbox');
    expect(sent.code, sent.stderr).toBe(0);
    await reading;
    stop.abort();
    client.close();

    // The stream: started -> one fileComplete per file -> complete, one transfer, the API's structure.
    const lifecycle = streamed.filter((e): e is TransferEvent => e.type !== 'progress');
    expect(lifecycle.map((e) => e.type)).toEqual(['transferStarted', 'fileComplete', 'fileComplete', 'transferComplete']);
    const transferId = lifecycle[0]!.transfer.transferId;
    for (const e of lifecycle) expect(e.transfer.transferId).toBe(transferId);
    expect(lifecycle[0]!.transfer).toMatchObject({ status: 'receiving', destinationPath: '/inbox', filesTotal: 2, totalSize: 40_001 });
    expect(
      lifecycle
        .slice(1, 3)
        .map((e) => e.file!.path)
        .sort(),
    ).toEqual(['inbox/batch1/f0.bin', 'inbox/batch1/f1.bin']);
    expect(lifecycle[3]!.transfer).toMatchObject({ status: 'complete', bytesReceived: 40_001, filesDone: 2 });

    // `jetrecv api watch`: the same events, one JSON per line.
    await until(() => watchOut.includes('"transferComplete"'), 'watch prints transferComplete', 15_000);
    watch.kill('SIGINT');
    expect(await watchExit).toBe(0);
    const watchLines = watchOut.trim().split('\n');
    const watched = watchLines.map((l) => JSON.parse(l) as StreamEvent).filter((e) => e.type !== 'progress');
    expect(watched.map((e) => e.type)).toEqual(['transferStarted', 'fileComplete', 'fileComplete', 'transferComplete']);
    expect(watched.every((e) => (e as TransferEvent).transfer.transferId === transferId)).toBe(true);

    // The hook command: one run per event, event JSON on stdin, JETRECV_* variables, nothing else leaked.
    const runs = await until(
      async () => {
        const r = await recorded();
        return r.length === 4 ? r : undefined;
      },
      'four hook runs',
      20_000,
    );
    const events = runs.map((r) => JSON.parse(r.stdin) as TransferEvent);
    expect(events.map((e) => e.type)).toEqual(['transferStarted', 'fileComplete', 'fileComplete', 'transferComplete']);
    expect(events[3]!.transfer).toEqual(lifecycle[3]!.transfer);
    const fileRun = runs[1]!;
    expect(fileRun.env).toMatchObject({
      JETRECV_EVENT: 'fileComplete',
      JETRECV_TRANSFER_ID: transferId,
      JETRECV_STATUS: 'receiving',
      JETRECV_DESTINATION_PATH: '/inbox',
      JETRECV_FILES_TOTAL: '2',
      JETRECV_SANDBOX_DIR: sandbox,
      JETRECV_FILE_PATH: events[1]!.file!.path,
      JETRECV_FILE_FULL_PATH: path.join(sandbox, events[1]!.file!.path!),
    });
    expect(fileRun.env['LEAK_CHECK']).toBeUndefined();
    expect(fileRun.cwd).toBe(sandbox);
    expect(runs[3]!.env).toMatchObject({
      JETRECV_EVENT: 'transferComplete',
      JETRECV_STATUS: 'complete',
      JETRECV_BYTES_RECEIVED: '40001',
      JETRECV_END_TIME: String(events[3]!.transfer.endTime),
    });
    // Exit status and output are logged.
    // (the log line follows the hook's exit, so it may come a moment after the hook's file)
    const done = await until(
      () => {
        const lines = serve.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'hook command done');
        return lines.length === 4 ? lines : undefined;
      },
      'four hook runs logged',
      10_000,
    );
    expect(done[0]).toMatchObject({ exitCode: 0, stdout: 'recorded transferStarted\n', program: process.execPath });

    // The webhook: 500 twice, then 200; every attempt signed; retries of one delivery share its id.
    await until(() => hits.filter((h) => h.answered === 200).length === 4, 'four webhook deliveries', 20_000);
    expect(hits.map((h) => h.answered)).toEqual([500, 500, 200, 200, 200, 200]);
    for (const h of hits) {
      expect(h.headers['content-type']).toBe('application/json');
      expect(h.headers['authorization']).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
      expect(h.headers['x-jetrecv-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(h.body).digest('hex')}`);
      expect(h.headers['x-jetrecv-event']).toBe((JSON.parse(h.body) as TransferEvent).type);
    }
    expect(new Set(hits.slice(0, 3).map((h) => h.headers['x-jetrecv-delivery'])).size).toBe(1);
    expect(hits.slice(2).map((h) => (JSON.parse(h.body) as TransferEvent).type)).toEqual([
      'transferStarted',
      'fileComplete',
      'fileComplete',
      'transferComplete',
    ]);
    expect(JSON.parse(hits[5]!.body)).toEqual(events[3]);
    // The log names the webhook without its credentials or query, and never the secret.
    const all = serve.logs.join('\n');
    expect(all).toContain(`"url":"http://127.0.0.1:${webhookPort}/hook"`);
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain('token=abc');
    expect(all).not.toContain('user:pw');
    expect(await metric('jetrecv_hook_jobs_total{hook="webhook",result="succeeded"}')).toBe(4);
    expect(await metric('jetrecv_hook_jobs_total{hook="command",result="succeeded"}')).toBe(4);
  });

  it('GET /api/v1/events refuses a caller without a valid session token', async () => {
    const none = await fetch(`http://127.0.0.1:${serve.apiPort}/api/v1/events`);
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe('JETRECV_ERR_UNAUTHENTICATED');
    const bad = await fetch(`http://127.0.0.1:${serve.apiPort}/api/v1/events`, { headers: { Authorization: 'Bearer nosuchtoken' } });
    expect(bad.status).toBe(401);
    const client = new JetrecvClient({ port: serve.apiPort! });
    await expect(client.events().next()).rejects.toMatchObject({ code: 'JETRECV_ERR_UNAUTHENTICATED', status: 401 });
    const watch = await runCli(['api', '--api-control-port', String(serve.apiPort), 'watch']);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toContain('needs a session');
  });
});

describe('hooks that hang (after SIGHUP)', () => {
  it('never hold up a transfer; the concurrency limit holds, the overflow is counted, the timeout kills the group', async () => {
    webhookMode = 'hang';
    hits = [];
    const before = serve.logs.length;
    await writeFile(
      configFile,
      JSON.stringify({
        ...baseConfig,
        'hook-command': [process.execPath, hookScript, hookOut, 'hang'],
        'hook-concurrency': 2,
        'hook-queue': 1,
        'hook-timeout': '8s',
        'webhook-timeout': '60s',
        'webhook-queue': 2,
      }),
    );
    process.kill(serve.pid, 'SIGHUP');
    await until(() => serve.logs.slice(before).some((l) => l.includes('configuration reloaded')), 'configuration reloaded', 10_000);

    const dir = await makeFiles('batch2', 5);
    const sent = await send(dir, 'inbox2');
    expect(sent.code, sent.stderr).toBe(0);
    // The transfer is complete while both hook commands and the webhook still hang.
    const hangs = await until(
      async () => {
        const names = (await readdir(hookOut)).filter((n) => n.endsWith('.hang'));
        return names.length === 2 ? names : undefined;
      },
      'two hanging hooks',
      10_000,
    );
    const pids = await Promise.all(
      hangs.map(async (n) => JSON.parse(await readFile(path.join(hookOut, n), 'utf8')) as { pid: number; child: number }),
    );
    for (const p of pids) {
      expect(alive(p.pid)).toBe(true);
      expect(alive(p.child)).toBe(true);
    }
    const client = await login();
    const transfers = await client.wait(await client.recv.getTransfersAsync());
    expect(transfers.find((t) => t.destinationPath === '/inbox2')).toMatchObject({ status: 'complete', filesDone: 5 });
    client.close();
    expect(serve.logs.slice(before).some((l) => l.includes('timed out and was killed'))).toBe(false);

    // 7 events (started, 5 files, complete): 2 running, 1 queued, 4 dropped and counted.
    expect(await metric('jetrecv_hook_jobs{hook="command",state="running"}')).toBe(2);
    expect(await metric('jetrecv_hook_jobs{hook="command",state="queued"}')).toBe(1);
    expect(await metric('jetrecv_hook_jobs_total{hook="command",result="dropped"}')).toBe(4);
    // The webhook: 1 in flight, 2 queued, 4 dropped.
    expect(await metric('jetrecv_hook_jobs{hook="webhook",state="running"}')).toBe(1);
    expect(await metric('jetrecv_hook_jobs_total{hook="webhook",result="dropped"}')).toBe(4);
    expect(hits.length).toBe(1);

    // The timeout kills each hanging hook with its child, logged as such.
    await until(() => pids.every((p) => !alive(p.pid) && !alive(p.child)), 'hooks killed', 20_000);
    await until(
      () => serve.logs.slice(before).filter((l) => l.includes('timed out and was killed')).length >= 2,
      'timeouts logged',
      10_000,
    );
    expect(await metric('jetrecv_hook_jobs_total{hook="command",result="failed"}')).toBeGreaterThanOrEqual(2);

    // The queued event runs next; stopping the daemon kills it (and abandons the webhook) at once.
    const third = await until(
      async () => {
        const names = (await readdir(hookOut)).filter((n) => n.endsWith('.hang') && !hangs.includes(n));
        return names.length === 1 ? names[0] : undefined;
      },
      'the queued hook runs',
      10_000,
    );
    const p3 = JSON.parse(await readFile(path.join(hookOut, third), 'utf8')) as { pid: number; child: number };
    expect(await serve.stop()).toBe(0);
    await until(() => !alive(p3.pid) && !alive(p3.child), 'the running hook killed at stop', 5_000);
    expect(serve.logs.some((l) => l.includes('hook command killed: the daemon stops'))).toBe(true);
  }, 60_000);
});
