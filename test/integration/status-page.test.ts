// The status page GET /ui of a real `jetrecv serve` child process: its HTTP answers (content
// types, the Content-Security-Policy and other headers, no data without a token, nothing
// write-capable), then headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// logging in and watching a real `jetrecv send` whose destination path and failure message
// carry HTML: they must render as text. Saves a screenshot; the browser part skips with a
// printed reason when no browser is installed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findMethod } from '../../src/api/catalog.js';
import { UI_CONTENT_SECURITY_POLICY } from '../../src/api/ui-route.js';
import { repoRoot, runCli, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

const PASSWORD = 'status page password';
const CHROMIUM = process.env['JETRECV_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
const SCREENSHOT = path.join(repoRoot, 'build', 'test-screenshots', 'status-page.png');
/** Sender-chosen text that would run script if it were parsed as HTML. */
const HOSTILE_DEST = 'in/<script>window.pwned=1</script><img src=x onerror="window.pwned=2">';

const noBrowser = existsSync(CHROMIUM) ? null : `needs a browser at ${CHROMIUM} (apt-get install chromium, or set JETRECV_TEST_CHROMIUM)`;
if (noBrowser !== null) console.log(`status page browser test skipped: ${noBrowser}`);

let root: string;
let sandbox: string;
let serve: ServeProcess;
let base: string;

async function get(urlPath: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${base}${urlPath}`, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function call(method: string, body: unknown = {}, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}/api/v1/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  root = await tempDir('status-page');
  const stateDir = path.join(root, 'state');
  sandbox = path.join(root, 'sandbox');
  const added = await runCli(['user', 'add', 'viewer', '--persistent-state-dir', stateDir], {
    env: { ...process.env, JETRECV_USER_PASSWORD: PASSWORD },
  });
  expect(added.code, added.stderr).toBe(0);
  serve = await spawnServe([
    '--persistent-state-dir',
    stateDir,
    '--sandbox-dir',
    sandbox,
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--server-name',
    'status-test',
  ]);
  base = `http://127.0.0.1:${serve.apiPort}`;
});

afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('GET /ui over HTTP', () => {
  it('serves the page, its script and its style with their types and a strict CSP', async () => {
    for (const [urlPath, type] of [
      ['/ui', 'text/html; charset=utf-8'],
      ['/ui/', 'text/html; charset=utf-8'],
      ['/ui/status.js', 'text/javascript; charset=utf-8'],
      ['/ui/status.css', 'text/css; charset=utf-8'],
      ['/ui/favicon.svg', 'image/svg+xml'],
    ] as const) {
      const r = await get(urlPath);
      expect(r.status, urlPath).toBe(200);
      expect(r.headers.get('content-type'), urlPath).toBe(type);
      expect(r.headers.get('content-security-policy'), urlPath).toBe(UI_CONTENT_SECURITY_POLICY);
      expect(r.headers.get('x-content-type-options'), urlPath).toBe('nosniff');
      expect(r.headers.get('x-frame-options'), urlPath).toBe('DENY');
      expect(r.headers.get('referrer-policy'), urlPath).toBe('no-referrer');
      expect(r.headers.get('cache-control'), urlPath).toBe('no-store');
      expect(r.headers.get('set-cookie'), urlPath).toBeNull();
      expect(r.text.length, urlPath).toBeGreaterThan(100);
    }
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "form-action 'none'",
      "require-trusted-types-for 'script'",
    ]) {
      expect(UI_CONTENT_SECURITY_POLICY).toContain(directive);
    }
    expect(UI_CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    const html = (await get('/ui')).text;
    // The CSP allows no inline script or style: the page must not need any.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const head = await fetch(`${base}/ui`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(html));
    expect(await head.text()).toBe('');
  });

  it('answers other verbs 405 with Allow and unknown files 404', async () => {
    const post = await get('/ui', { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(JSON.parse(post.text).error.code).toBe('JETRECV_ERR_HTTP_METHOD');
    for (const urlPath of ['/ui/index.html', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/status.js/x']) {
      const r = await get(urlPath);
      expect(r.status, urlPath).toBe(404);
      expect(r.text, urlPath).not.toContain('"version"');
    }
  });

  it('holds no data: the page needs a session token for every figure, as the API does', async () => {
    const html = (await get('/ui', { headers: { Authorization: 'Bearer not-a-token' } })).text;
    const info = (await call('server.getServerInfo')).json;
    expect(html).not.toContain(info.publicKey);
    expect(html).not.toContain(info.serverId);
    expect((await call('recv.getTransfersAsync')).status).toBe(401);
    expect((await call('recv.getTransfersAsync', {}, 'A'.repeat(43))).status).toBe(401);
    const login = await call('server.auth', { user: 'viewer', password: PASSWORD });
    expect(login.status).toBe(200);
    expect((await call('recv.getTransfersAsync', {}, login.json.token)).status).toBe(200);
    expect((await call('server.logout', {}, login.json.token)).status).toBe(200);
  });

  it("the page's script calls only methods that read (and logout, which ends its own session)", () => {
    const script = readFileSync(path.join(repoRoot, 'ui', 'status.js'), 'utf8');
    const called = new Set([...script.matchAll(/\b(?:call|request)\('([a-zA-Z]+\.[a-zA-Z]+)'/g)].map((m) => m[1] as string));
    expect([...called].sort()).toEqual([
      'recv.getSourcesAsync',
      'recv.getTransfersAsync',
      'server.auth',
      'server.getRequestResult',
      'server.getServerInfo',
      'server.logout',
    ]);
    for (const name of called) expect(findMethod(name)?.access, name).not.toBe('superuser');
    // No HTML sinks: values reach the page through textContent and DOM properties only.
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
  });
});

describe.skipIf(noBrowser !== null)('the status page in headless Chromium', () => {
  it('logs in, shows a live transfer with progress and rate, its source and a failure, all as text', async () => {
    const { chromium } = await import('playwright-core');
    // A failure whose destination path and error message carry HTML: the directory the
    // transfer needs is a regular file, so opening the transfer fails at the receiver.
    await mkdir(sandbox, { recursive: true });
    await writeFile(path.join(sandbox, 'blocked'), 'a file, not a directory');
    const small = path.join(root, 'small.bin');
    await writeRandomFile(small, 64 << 10);
    const sendArgs = [
      'send',
      '--to',
      `127.0.0.1:${serve.recvPort}`,
      '--server-key',
      serve.publicKey,
      '--handshake-timeout',
      '2s',
      '--quiet',
    ];
    const refused = await runCli([...sendArgs, '--dest', `blocked/${HOSTILE_DEST}`, small]);
    expect(refused.code, refused.stderr).not.toBe(0);
    // A live transfer: 48 MiB paced at 40 Mbit/s takes about 10 s.
    const big = path.join(root, 'big.bin');
    await writeRandomFile(big, 48 << 20);
    const live = runCli([...sendArgs, '--rate-max', '40M', '--dest', HOSTILE_DEST, big], { timeoutMs: 120_000 });

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
      });
      await page.goto(`${base}/ui`);
      await page.fill('#login-user', 'viewer');
      await page.fill('#login-password', 'wrong password');
      await page.click('button[type=submit]');
      await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '') !== '');
      expect(await page.textContent('#login-error')).toMatch(/password/i);
      // The browser logs the refused login's 401 as a console error: expected, so start over.
      expect(problems).toEqual(['console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
      problems.length = 0;
      await page.fill('#login-password', PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForSelector('#status-view:not([hidden])');
      expect(await page.textContent('#session-user')).toBe('viewer');

      // The live row, once it has made some progress but is not done.
      const row = page.locator('#live-body tr').first();
      await page.waitForFunction(
        () => {
          const p = document.querySelector('#live-body tr progress') as HTMLProgressElement | null;
          return p !== null && p.value > 0 && p.value < p.max;
        },
        undefined,
        { timeout: 60_000 },
      );
      expect(await row.locator('td.path').textContent()).toBe(`/${HOSTILE_DEST}`);
      expect(await row.locator('.pct').textContent()).toMatch(/^\d+\.\d %$/);
      expect(await row.textContent()).toMatch(/\d+(\.\d+)? (kbit|Mbit|Gbit)\/s/);
      expect(await row.textContent()).toContain('0 / 1');
      await page.waitForSelector('#source-body tr');
      expect(await page.textContent('#source-body')).toContain('127.0.0.1:');
      const failure = page.locator('#failure-body tr').first();
      expect(await failure.locator('td.path').textContent()).toBe(`/blocked/${HOSTILE_DEST}`);
      expect((await failure.locator('td.error').textContent())?.length).toBeGreaterThan(0);

      // Sender text stayed text: no element was made of it and nothing ran.
      expect(await page.locator('main script, main img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();

      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      console.log(`status page screenshot: ${SCREENSHOT}`);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      const sent = await live;
      expect(sent.code, sent.stderr).toBe(0);
    }
  }, 180_000);
});
