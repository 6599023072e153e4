// peers.mjs — the `peers` bench section: what a user would compare jetrecv with on this
// machine, over 127.0.0.1: dd oflag=direct (the disk's own ceiling), iperf3 UDP (bare packet
// rate), uftp plain and aes256-gcm (a UDP file-transfer peer, in a lo-only namespace), a
// plain TCP copy and a TLS 1.3 AES-256-GCM TCP copy (socat). The copy and iperf3 runs are
// shared with the veth section (veth.mjs), which runs them between two namespaces.
// Method: bench/README.md.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  MiB,
  dropCaches,
  freePort,
  fsyncSeconds,
  gbit,
  peakRssMiB,
  perGB,
  procCpu,
  round,
  sha256File,
  sleep,
  start,
  stopChild,
  tail,
  timed,
  waitTcpListen,
  which,
} from './run.mjs';

/** Summary fields of a TCP copy row (socat). */
export const copyFields = [
  'gbitPerSecond',
  'gbitPerSecondWithSync',
  'receiverPeakRssMiB',
  { name: 'receiverCpuUserPerGB', get: (r) => r.receiverCpuPerGB?.user },
  { name: 'receiverCpuSysPerGB', get: (r) => r.receiverCpuPerGB?.sys },
  { name: 'senderCpuUserPerGB', get: (r) => r.senderCpuPerGB?.user },
  { name: 'senderCpuSysPerGB', get: (r) => r.senderCpuPerGB?.sys },
];

export const iperfFields = ['gbitPerSecond', 'sendGbitPerSecond', 'lostPercent'];

/** The two TCP copies: plain, and TLS 1.3 (socat's OPENSSL address; see tcpCopyOnce). */
export const kTcpModes = [
  { name: 'TCP', tls: false },
  { name: 'TLS 1.3 AES-256-GCM', tls: true },
];

export async function sectionPeers(ctx) {
  const { opts, results, plan } = ctx;
  // dd: the disk's own write ceiling (O_DIRECT), the reference for jetrecv's disk figure.
  for (const dest of ctx.destinations.filter((d) => d.disk)) {
    const name = `dd oflag=direct → ${dest.name}`;
    plan.add(
      results,
      { section: 'peers', name, tool: 'dd', dest: dest.name, bytes: opts.size },
      ['gbitPerSecond', 'megabytesPerSecond'],
      async () => {
        const out = path.join(dest.dir, `jetrecv-bench-dd-${process.pid}.bin`);
        try {
          await dropCaches(opts);
          const r = await timed(['dd', `if=${ctx.src}`, `of=${out}`, 'bs=4M', 'oflag=direct', 'status=none']);
          if (r.code !== 0) throw new Error(`dd failed: ${tail(r.stderr)}`);
          return {
            gbitPerSecond: round(gbit(opts.size, r.seconds), 3),
            megabytesPerSecond: round(opts.size / r.seconds / 1e6, 0),
            seconds: round(r.seconds, 3),
          };
        } finally {
          await rm(out, { force: true });
        }
      },
    );
  }

  // iperf3 UDP at full rate: what the kernel moves in datagrams of that size (no file, no
  // encryption, no disk).
  if (!which('iperf3')) {
    results.push({ section: 'peers', name: 'iperf3 UDP', tool: 'iperf3', skipped: 'not installed (apt-get install iperf3)' });
  } else {
    for (const dg of opts.datagramSizes) {
      plan.add(
        results,
        { section: 'peers', name: `iperf3 -u -b 0 -l ${dg}`, tool: 'iperf3', datagramSize: dg, dest: null },
        iperfFields,
        () => iperf3Once(opts, dg),
      );
    }
  }

  // uftp -> uftpd, unicast, in a namespace that has only lo.
  if (!which('uftp') || !which('uftpd')) {
    results.push({ section: 'peers', name: 'uftp', tool: 'uftp', skipped: 'not installed (apt-get install uftp)' });
  } else if (!ctx.loNamespace) {
    results.push({ section: 'peers', name: 'uftp', tool: 'uftp', skipped: `no lo-only network namespace: ${ctx.loNamespaceReason}` });
  } else {
    const keys = await uftpKeys(ctx);
    const modes = [{ name: 'plain', enc: false }, ...(keys ? [{ name: 'aes256-gcm', enc: true }] : [])];
    if (!keys)
      results.push({ section: 'peers', name: 'uftp -Y aes256-gcm', tool: 'uftp', skipped: 'uftp_keymgt failed; encrypted run skipped' });
    for (const mode of modes) {
      for (const dest of ctx.destinations) {
        plan.add(
          results,
          {
            section: 'peers',
            name: `uftp ${mode.name} -R -1 -b 8800 → ${dest.name}`,
            tool: 'uftp',
            mode: mode.name,
            dest: dest.name,
            bytes: opts.size,
          },
          ['gbitPerSecond', 'wallGbitPerSecond', 'passes', ...copyFields.slice(2)],
          () => uftpOnce(ctx, { enc: mode.enc, keys, dest }),
        );
      }
    }
  }

  // A TCP file copy with socat (1 MiB buffers), plain and TLS.
  if (!which('socat')) {
    results.push({ section: 'peers', name: 'socat TCP', tool: 'socat', skipped: 'not installed (apt-get install socat)' });
    return;
  }
  const cert = await tlsCert(ctx);
  for (const mode of kTcpModes) {
    if (mode.tls && !cert) {
      results.push({
        section: 'peers',
        name: 'socat TLS',
        tool: 'socat',
        tls: true,
        skipped: 'openssl CLI not installed or key generation failed (apt-get install openssl)',
      });
      continue;
    }
    for (const dest of ctx.destinations) {
      plan.add(
        results,
        {
          section: 'peers',
          name: `socat -b 1048576 ${mode.name} → ${dest.name}`,
          tool: 'socat',
          tls: mode.tls,
          dest: dest.name,
          bytes: opts.size,
        },
        copyFields,
        () => tcpCopyOnce(ctx, { dest, cert: mode.tls ? cert : null }),
      );
    }
  }
}

/** One iperf3 UDP run (-b 0: as fast as it goes); `net` runs it between two namespaces. */
export async function iperf3Once(opts, dg, net = null) {
  const port = await freePort();
  const serverHost = net?.serverHost ?? '127.0.0.1';
  const server = start((net?.wrapServer ?? ((a) => a))(['iperf3', '-s', '-B', serverHost, '-p', String(port), '-1']));
  try {
    await waitTcpListen(port, { address: serverHost, ns: net?.serverNs });
    const client = [
      'iperf3',
      '-c',
      serverHost,
      '-B',
      net?.clientHost ?? '127.0.0.1',
      '-p',
      String(port),
      '-u',
      '-b',
      '0',
      '-l',
      String(dg),
      '-t',
      String(opts.iperfSeconds),
      '--json',
    ];
    const r = await start((net?.wrapClient ?? ((a) => a))(client), { timeoutMs: (opts.iperfSeconds + 30) * 1000 }).done;
    const j = JSON.parse(r.stdout);
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    const recv = j.end.sum_received ?? j.end.sum;
    const sent = j.end.sum_sent ?? j.end.sum;
    return {
      gbitPerSecond: round(recv.bits_per_second / 1e9, 3),
      sendGbitPerSecond: round(sent.bits_per_second / 1e9, 3),
      lostPercent: round(recv.lost_percent, 2),
      cpuPercent: j.end.cpu_utilization_percent ?? null,
    };
  } finally {
    await stopChild(server, 'SIGTERM', 3000);
  }
}

/**
 * A self-signed P-256 certificate for the TLS copy (made once per bench with the tests'
 * test/tools/tls-cert.ts; socat runs with verify=0), or null without the openssl CLI.
 */
export async function tlsCert(ctx) {
  if (!which('openssl')) return null;
  const dir = path.join(ctx.work, 'tls');
  await mkdir(dir, { recursive: true });
  try {
    const { loadTestTools } = await import('../test/tools/load-tools.mjs');
    return (await loadTestTools()).tlsCert.makeSelfSignedCert(dir, 1);
  } catch {
    return null;
  }
}

/**
 * One TCP copy of ctx.src into dest with socat (1 MiB buffers). With `cert`, over TLS: socat's
 * OPENSSL addresses with TLS 1.3 only, whose default first suite is TLS_AES_256_GCM_SHA384
 * (the suite both ends negotiated is read from socat's -d -d log and must be that one). `net`
 * runs it between two namespaces. Receiver and sender CPU from GNU time.
 */
export async function tcpCopyOnce(ctx, { dest, cert = null, net = null }) {
  const { opts } = ctx;
  const out = path.join(dest.dir, `jetrecv-bench-socat-${process.pid}.bin`);
  const serverHost = net?.serverHost ?? '127.0.0.1';
  const tls = ',openssl-min-proto-version=TLS1.3';
  try {
    if (dest.disk) await dropCaches(opts);
    const port = await freePort();
    const listen = cert
      ? `OPENSSL-LISTEN:${port},bind=${serverHost},reuseaddr,cert=${cert.cert},key=${cert.key},verify=0${tls}`
      : `TCP-LISTEN:${port},bind=${serverHost},reuseaddr`;
    const connect = cert ? `OPENSSL:${serverHost}:${port},verify=0${tls}` : `TCP:${serverHost}:${port}`;
    const logLevel = cert ? ['-d', '-d'] : [];
    const rxP = timed((net?.wrapServer ?? ((a) => a))(['socat', ...logLevel, '-u', '-b', '1048576', listen, `CREATE:${out}`]), {
      timeoutMs: 600_000,
    });
    await waitTcpListen(port, { address: serverHost, ns: net?.serverNs });
    const t0 = performance.now();
    const tx = await timed(
      (net?.wrapClient ?? ((a) => a))(['socat', ...logLevel, '-u', '-b', '1048576', `OPEN:${ctx.src},rdonly`, connect]),
      { timeoutMs: 600_000 },
    );
    const rx = await rxP;
    const seconds = (performance.now() - t0) / 1000;
    if (tx.code !== 0 || rx.code !== 0) throw new Error(`socat failed: ${tail(tx.stderr + rx.stderr)}`);
    const suite = cert ? (/SSL connection using (\S+)/.exec(rx.stderr)?.[1] ?? null) : null;
    if (cert && suite !== 'TLS_AES_256_GCM_SHA384')
      throw new Error(`socat TLS negotiated ${suite ?? 'no suite it logged'}, not TLS_AES_256_GCM_SHA384`);
    const syncS = dest.disk ? await fsyncSeconds(out) : 0;
    return {
      gbitPerSecond: round(gbit(opts.size, seconds), 3),
      gbitPerSecondWithSync: dest.disk ? round(gbit(opts.size, seconds + syncS), 3) : undefined,
      tlsSuite: suite ?? undefined,
      receiverCpuPerGB: perGB(rx.cpu, opts.size),
      senderCpuPerGB: perGB(tx.cpu, opts.size),
      receiverPeakRssMiB: rx.cpu?.maxRssKiB ? round(rx.cpu.maxRssKiB / 1024, 1) : null,
      sha256Ok: (await sha256File(out)) === ctx.srcSha,
    };
  } finally {
    await rm(out, { force: true });
  }
}

/** Key pairs and the server list for encrypted uftp (made once per bench). */
async function uftpKeys(ctx) {
  if (!which('uftp_keymgt')) return null;
  const dir = path.join(ctx.work, 'uftp-keys');
  await mkdir(dir, { recursive: true });
  const server = path.join(dir, 'server.pem');
  const client = path.join(dir, 'client.pem');
  const gen = (file) => spawnSync('uftp_keymgt', ['-g', 'ec:prime256v1', file], { encoding: 'utf8' });
  const s = gen(server);
  if (gen(client).status !== 0 || s.status !== 0) return null;
  const fp = /fingerprint:\s*([0-9A-F:]+)/i.exec(`${s.stdout}${s.stderr}`)?.[1];
  if (!fp) return null;
  const servers = path.join(dir, 'servers.txt');
  await writeFile(servers, `0x7F000001|127.0.0.1|${fp}\n`);
  return { server, client, servers };
}

async function uftpOnce(ctx, { enc, keys, dest }) {
  const { opts } = ctx;
  const ns = ctx.loNamespace;
  const outDir = path.join(dest.dir, `jetrecv-bench-uftp-${process.pid}-${Date.now()}`);
  await mkdir(outDir, { recursive: true });
  const port = 20000 + Math.floor(Math.random() * 20000); // inside the private namespace
  const rxArgs = [
    'uftpd',
    '-d',
    '-I',
    '127.0.0.1',
    '-U',
    '0x7F000002',
    '-p',
    String(port),
    '-D',
    outDir,
    '-q',
    '-B',
    '33554432',
    '-c',
    '20971520',
  ];
  if (enc) rxArgs.push('-E', '-k', keys.client, '-S', keys.servers, '-M', '232.4.4.1');
  const txArgs = [
    'uftp',
    '-M',
    '127.0.0.1',
    '-I',
    '127.0.0.1',
    '-U',
    '0x7F000001',
    '-p',
    String(port),
    '-R',
    '-1',
    '-b',
    '8800',
    '-B',
    '33554432',
  ];
  if (enc) txArgs.push('-Y', 'aes256-gcm', '-h', 'sha256', '-e', 'ecdh_ecdsa', '-k', keys.server, '-c');
  txArgs.push(ctx.src);
  if (dest.disk) await dropCaches(opts);
  const rx = start(ns.wrap(rxArgs));
  try {
    await sleep(300); // uftpd has no readiness signal; it binds at once
    if (rx.child.exitCode !== null) throw new Error(`uftpd exited: ${tail((await rx.done).stderr)}`);
    const cpu0 = procCpu(rx.pid);
    const tx = await timed(ns.wrap(txArgs), { timeoutMs: Math.max(300_000, (opts.size / (10 * MiB)) * 1000) });
    const cpu1 = procCpu(rx.pid);
    const rss = peakRssMiB(rx.pid);
    const log = `${tx.stdout}\n${tx.stderr}`;
    const dataTime = Number(/Status: Completed\s+time:\s+([\d.]+) seconds/.exec(log)?.[1]);
    if (tx.code !== 0 || !Number.isFinite(dataTime)) throw new Error(`uftp failed (exit ${tx.code}): ${tail(log)}`);
    const passes = Math.max(1, ...[...log.matchAll(/Starting pass (\d+)/g)].map((m) => Number(m[1])));
    const out = path.join(outDir, path.basename(ctx.src));
    const syncS = dest.disk && existsSync(out) ? await fsyncSeconds(out) : 0;
    const rcvCpu = cpu0 && cpu1 ? { user: cpu1.user - cpu0.user, sys: cpu1.sys - cpu0.sys } : null;
    return {
      gbitPerSecond: round(gbit(opts.size, dataTime), 3),
      wallGbitPerSecond: round(gbit(opts.size, tx.seconds), 3),
      gbitPerSecondWithSync: dest.disk ? round(gbit(opts.size, dataTime + syncS), 3) : undefined,
      dataSeconds: dataTime,
      passes,
      receiverCpuPerGB: perGB(rcvCpu, opts.size),
      senderCpuPerGB: perGB(tx.cpu, opts.size),
      receiverPeakRssMiB: round(rss, 1),
      sha256Ok: existsSync(out) && (await sha256File(out)) === ctx.srcSha,
    };
  } finally {
    await stopChild(rx, 'SIGTERM', 3000);
    await rm(outDir, { recursive: true, force: true });
  }
}
