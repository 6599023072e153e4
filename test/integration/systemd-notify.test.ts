// sd_notify from a real `jetrecv serve` child process to a NOTIFY_SOCKET this test listens on
// (python3: Node has no AF_UNIX datagram sockets): READY=1 only once the UDP data port and the
// API port are bound, STATUS= updates while a real `jetrecv send` transfer runs, STOPPING=1
// and exit 0 on SIGTERM, WATCHDOG=1 pings when WATCHDOG_USEC is set.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import {
  freePort,
  listenNotify,
  python3SkipReason,
  until,
  sampleValue,
  scrapeMetrics,
  spawnJetrecv,
  type NotifyListener,
  type ServeProcess,
} from './serve-process.js';

let root: string;
const cleanups: (() => unknown)[] = [];

const noPython = python3SkipReason();
if (noPython !== null) console.log(`systemd-notify tests skipped: ${noPython}`);

beforeAll(async () => {
  if (noPython !== null) return;
  root = await tempDir('notify');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function serveWith(name: string, env: Record<string, string>, ports: { udp: number; tcp: number }): Promise<ServeProcess> {
  const dir = path.join(root, name);
  await mkdir(dir);
  const serve = spawnJetrecv(
    [
      'serve',
      '--sandbox-dir',
      path.join(dir, 'sandbox'),
      '--persistent-state-dir',
      path.join(dir, 'state'),
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      String(ports.udp),
      '--api-port',
      String(ports.tcp),
    ],
    { env },
  );
  cleanups.push(() => serve.stop());
  return serve;
}

async function listen(socketPath: string, probe: { udpPort: number; tcpPort: number } | null = null): Promise<NotifyListener> {
  const l = await listenNotify(socketPath, probe);
  cleanups.push(() => l.close());
  return l;
}

describe.skipIf(noPython !== null)('jetrecv serve under a NOTIFY_SOCKET', () => {
  it('sends READY=1 only once its ports are bound, STATUS= as transfers run, STOPPING=1 and exits 0 on SIGTERM', async () => {
    const udp = await freePort('udp');
    const tcp = await freePort('tcp');
    const notify = await listen(path.join(root, 'notify.sock'), { udpPort: udp, tcpPort: tcp });
    const serve = await serveWith('lifecycle', { NOTIFY_SOCKET: notify.socketPath }, { udp, tcp });

    const ready = await notify.waitFor((m) => m.fields['READY'] === '1', 'READY=1');
    // The listener probed both ports the moment READY=1 arrived: the UDP port must be bound
    // (silent, no ICMP port-unreachable) and the API port must accept connections.
    expect(ready.probe).toEqual({ udp: 'open', tcp: 'open' });
    expect(notify.messages[0]).toBe(ready); // nothing before READY=1
    expect(ready.fields['STATUS']).toBe('0 sessions, 0 receiving, 0 bit/s');

    const info = await serve.ready();
    expect(info.recvPort).toBe(udp);
    expect(info.apiPort).toBe(tcp);
    // The probe datagram (type byte 0xff) reached the daemon's data socket.
    const m0 = await scrapeMetrics(tcp);
    expect(sampleValue(m0.families, 'jetrecv_packets_dropped_total', { reason: 'bad_type' })).toBeGreaterThanOrEqual(1);

    // A real transfer, paced to last a few seconds: STATUS= follows it.
    const src = path.join(root, 'src.bin');
    await writeRandomFile(src, 6 << 20);
    const statusFrom = notify.messages.length;
    const sent = await runCli([
      'send',
      '--to',
      `127.0.0.1:${udp}`,
      '--server-key',
      info.publicKey,
      '--rate-max',
      '20M',
      '--quiet',
      '--dest',
      'n',
      src,
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(await sha256File(path.join(info.sandboxDir, 'n', 'src.bin'))).toBe(await sha256File(src));
    const busy = await notify.waitFor(
      (m) => /^1 session, 1 receiving, [\d.]+ [kMG]bit\/s$/.test(m.fields['STATUS'] ?? ''),
      'STATUS= with one session receiving at a non-zero rate',
      { from: statusFrom },
    );
    expect(busy.fields['READY']).toBeUndefined();
    await notify.waitFor((m) => /, 0 receiving, /.test(m.fields['STATUS'] ?? ''), 'STATUS= after the transfer', {
      from: notify.messages.indexOf(busy) + 1,
    });
    expect(notify.messages.some((m) => 'WATCHDOG' in m.fields)).toBe(false); // no WATCHDOG_USEC given

    const stopFrom = notify.messages.length;
    const exit = await serve.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    const stopping = await notify.waitFor((m) => m.fields['STOPPING'] === '1', 'STOPPING=1', { from: stopFrom, timeoutMs: 5000 });
    expect(notify.messages.slice(notify.messages.indexOf(stopping) + 1).filter((m) => 'READY' in m.fields)).toEqual([]);
    expect(serve.logs.some((l) => l.msg === 'jetrecv receiver stopped')).toBe(true);
  });

  it('pings WATCHDOG=1 at half of WATCHDOG_USEC (abstract-namespace NOTIFY_SOCKET)', async () => {
    const notify = await listen(`@jetrecv-test-${randomBytes(6).toString('hex')}`);
    const serve = await serveWith('watchdog', { NOTIFY_SOCKET: notify.socketPath, WATCHDOG_USEC: '400000' }, { udp: 0, tcp: 0 });
    const ready = await notify.waitFor((m) => m.fields['READY'] === '1', 'READY=1');
    await until(() => notify.messages.filter((m) => m.fields['WATCHDOG'] === '1').length >= 6, 'six WATCHDOG=1 pings');
    const pings = notify.messages.filter((m) => m.fields['WATCHDOG'] === '1').slice(0, 6);
    expect(notify.messages.indexOf(pings[0]!)).toBeGreaterThan(notify.messages.indexOf(ready)); // after READY=1
    // One ping per 200 ms (half of 400 ms). Timers only fire late, so the mean gap is >= ~200 ms;
    // the bound leaves room for the listener receiving some pings late.
    const meanGap = (pings[5]!.t - pings[0]!.t) / 5;
    expect(meanGap).toBeGreaterThan(0.1);
    expect((await serve.stop()).code).toBe(0);
  });

  it('ignores WATCHDOG_USEC meant for another process (WATCHDOG_PID)', async () => {
    const notify = await listen(path.join(root, 'notify-pid.sock'));
    const serve = await serveWith(
      'watchdog-pid',
      { NOTIFY_SOCKET: notify.socketPath, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' },
      { udp: 0, tcp: 0 },
    );
    await notify.waitFor((m) => m.fields['READY'] === '1', 'READY=1');
    await new Promise((r) => setTimeout(r, 500));
    expect((await serve.stop()).code).toBe(0);
    await notify.waitFor((m) => m.fields['STOPPING'] === '1', 'STOPPING=1', { timeoutMs: 5000 });
    expect(notify.messages.filter((m) => 'WATCHDOG' in m.fields)).toEqual([]);
  });
});
