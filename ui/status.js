// status.js — the jetrecv status page. Logs in with server.auth, then every POLL_MS reads
// recv.getTransfersAsync and recv.getSourcesAsync through the request model and redraws.
// Read-only: it calls no method that changes anything (server.logout ends its own session).
// Every value from the server is written with textContent or a DOM property, never parsed as
// HTML: destination paths and error messages come from senders. The page's
// Content-Security-Policy also requires Trusted Types, so an HTML sink would throw.
'use strict';
(() => {
  const POLL_MS = 2000;
  const RESULT_WAIT_MS = 10000;
  const MAX_FAILURES = 20;
  const TOKEN_KEY = 'jetrecv.status.token';

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let polling = false;

  /** An element with properties (textContent, title, className, value, max...) and children. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props ?? {})) {
      if (k === 'dataset') Object.assign(node.dataset, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function call(method, params) {
    const headers = { 'Content-Type': 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token !== null && method !== 'server.auth') headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`/api/v1/${method}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(params ?? {}),
      credentials: 'omit',
      cache: 'no-store',
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      // Not JSON: handled below by the status.
    }
    if (!res.ok) {
      const err = body?.error ?? {};
      throw new ApiError(res.status, err.code ?? 'HTTP_' + res.status, err.message ?? `HTTP ${res.status}`);
    }
    return body;
  }

  /** Runs an *Async method and waits for its result. */
  async function request(method) {
    const { requestId } = await call(method);
    const answer = await call('server.getRequestResult', { requestId, timeoutMs: RESULT_WAIT_MS });
    return answer.result;
  }

  // ---- formatting ----------------------------------------------------------------------

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = Number(n) || 0;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
  }

  /** A rate given in kbit/s. */
  function rate(kbps) {
    const v = Number(kbps) || 0;
    if (v >= 1e6) return `${(v / 1e6).toFixed(2)} Gbit/s`;
    if (v >= 1e3) return `${(v / 1e3).toFixed(1)} Mbit/s`;
    return `${v.toFixed(0)} kbit/s`;
  }

  /** A Unix time in µs as "12 s ago" (null: "never"). */
  function ago(us) {
    if (us === null || us === undefined) return 'never';
    const s = Math.max(0, Math.round((Date.now() - us / 1000) / 1000));
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${Math.round(s / 3600)} h ago`;
    return new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function when(us) {
    return us === null || us === undefined ? '' : new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function shortKey(key) {
    return el('code', { textContent: `${String(key).slice(0, 10)}…`, title: String(key) });
  }

  function address(ip, port) {
    return String(ip).includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  }

  function percent(done, total) {
    return total > 0 ? Math.min(100, (done / total) * 100) : 100;
  }

  // ---- rendering -----------------------------------------------------------------------

  function fill(bodyId, emptyId, countId, rows) {
    $(bodyId).replaceChildren(...rows);
    $(emptyId).hidden = rows.length > 0;
    $(countId).textContent = `(${rows.length})`;
  }

  function renderTransfers(transfers) {
    const live = transfers.filter((t) => t.status === 'receiving').sort((a, b) => a.startTime - b.startTime);
    fill(
      'live-body',
      'live-empty',
      'live-count',
      live.map((t) => {
        const pct = percent(t.bytesReceived, t.totalSize);
        return el(
          'tr',
          { dataset: { transferId: t.transferId } },
          el('td', { className: 'path', textContent: t.destinationPath, title: `transfer ${t.transferId}` }),
          el('td', {}, address(t.sourceIP, t.sourcePort), el('br'), shortKey(t.clientPublicKey)),
          el(
            'td',
            { className: 'progress' },
            el('progress', { max: Math.max(1, t.totalSize), value: Math.min(t.bytesReceived, Math.max(1, t.totalSize)) }),
            el('span', { className: 'pct', textContent: `${pct.toFixed(1)} %` }),
            el('div', { className: 'muted', textContent: `${bytes(t.bytesReceived)} of ${bytes(t.totalSize)}` }),
          ),
          el('td', { textContent: `${t.filesDone} / ${t.filesTotal}` }),
          el('td', { className: 'num', textContent: rate(t.recvRate) }),
          el('td', { textContent: ago(t.lastRecvTime) }),
        );
      }),
    );
    const failed = transfers
      .filter((t) => t.status === 'error')
      .sort((a, b) => (b.endTime ?? b.lastErrorTime ?? 0) - (a.endTime ?? a.lastErrorTime ?? 0))
      .slice(0, MAX_FAILURES);
    fill(
      'failure-body',
      'failure-empty',
      'failure-count',
      failed.map((t) =>
        el(
          'tr',
          { dataset: { transferId: t.transferId } },
          el('td', { textContent: when(t.endTime ?? t.lastErrorTime) }),
          el('td', { className: 'path', textContent: t.destinationPath, title: `transfer ${t.transferId}` }),
          el('td', {}, address(t.sourceIP, t.sourcePort), el('br'), shortKey(t.clientPublicKey)),
          el('td', { textContent: `${bytes(t.bytesReceived)} of ${bytes(t.totalSize)}` }),
          el('td', { className: 'error', textContent: t.errorMessage }),
        ),
      ),
    );
  }

  function renderSources(sources) {
    const sorted = [...sources].sort((a, b) => (b.lastRecvTime ?? 0) - (a.lastRecvTime ?? 0));
    fill(
      'source-body',
      'source-empty',
      'source-count',
      sorted.map((s) =>
        el(
          'tr',
          {},
          el('td', { textContent: address(s.sourceIP, s.sourcePort) }),
          el('td', {}, shortKey(s.clientPublicKey)),
          el('td', { className: `state-${s.encryptedConnectionState}`, textContent: s.encryptedConnectionState }),
          el('td', { textContent: `${s.activeTransferCount} / ${s.completeTransferCount} / ${s.errorTransferCount}` }),
          el('td', { className: 'num', textContent: bytes(s.bytesReceived) }),
          el('td', { className: 'num', textContent: rate(s.aveRecvRateWindow) }),
          el('td', { textContent: ago(s.lastRecvTime) }),
        ),
      ),
    );
  }

  // ---- views ---------------------------------------------------------------------------

  function showLogin(message) {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('status-view').hidden = true;
    $('session').hidden = true;
    $('login-view').hidden = false;
    $('login-error').textContent = message ?? '';
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const [transfers, sources] = await Promise.all([request('recv.getTransfersAsync'), request('recv.getSourcesAsync')]);
      renderTransfers(transfers);
      renderSources(sources);
      $('status-line').textContent = `Updated ${new Date().toLocaleTimeString()}; every ${POLL_MS / 1000} s.`;
      $('status-line').classList.remove('error');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        showLogin(`Logged out: ${err.message}`);
        return;
      }
      $('status-line').textContent = `Update failed: ${err.message}`;
      $('status-line').classList.add('error');
    } finally {
      polling = false;
      if (sessionStorage.getItem(TOKEN_KEY) !== null) timer = setTimeout(poll, POLL_MS);
    }
  }

  async function showStatus() {
    $('login-view').hidden = true;
    $('status-view').hidden = false;
    try {
      const info = await call('server.getServerInfo');
      $('server-name').textContent = `${info.serverName} · ${info.hostName} · v${info.version}`;
      $('session-user').textContent = info.sessionUser ?? '';
      $('session').hidden = false;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return showLogin(`Logged out: ${err.message}`);
      $('status-line').textContent = `Server information failed: ${err.message}`;
    }
    await poll();
  }

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('login-error').textContent = '';
    const password = $('login-password');
    try {
      const answer = await call('server.auth', { user: $('login-user').value, password: password.value });
      sessionStorage.setItem(TOKEN_KEY, answer.token);
      password.value = '';
      await showStatus();
    } catch (err) {
      $('login-error').textContent = err.message;
    }
  });

  $('logout').addEventListener('click', async () => {
    try {
      await call('server.logout');
    } catch {
      // The token may already be gone; the page forgets it either way.
    }
    showLogin('Logged out.');
  });

  if (sessionStorage.getItem(TOKEN_KEY) !== null) void showStatus();
  else showLogin();
})();
