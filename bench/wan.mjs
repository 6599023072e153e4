// wan.mjs — the `wan` bench section (`npm run bench -- --only wan`): jetrecv, TCP BBR, TCP
// CUBIC and uftp (TFMCC, and a fixed rate) through the WAN emulator (build/wan-emu,
// test/tools/wan.ts) between two network namespaces, over a matrix of RTT × random loss, plus
// two jetrecv flows at once (fairness) and jetrecv beside one TCP BBR flow and one TCP CUBIC flow (share). Root only.
// Figures per row: goodput / link, retransmitted / sent, retransmitted / lost (the emulator's
// random + queue drops), time to 90 % of the link (the emulator's link_bytes sampled every
// 50 ms), steady-state goodput (the middle 80 % of the link bytes), peak queue delay.
// Method: bench/README.md "WAN".
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  MiB,
  cleanups,
  parseSendJson,
  round,
  sendArgv,
  sha256File,
  sleep,
  start,
  startReceiver,
  stopChild,
  tail,
  which,
  writeRandomFile,
} from './run.mjs';

const kTools = ['jetrecv', 'tcp-bbr', 'tcp-cubic', 'uftp-tfmcc', 'uftp-fixed'];
const kStatsMs = 50;

/** RTTs from which a row uses --wan-size-long. */
const kLongRttMs = 100;

/** The matrix points: [rate bit/s, MTU, RTT ms, loss %]. */
function wanPoints(quick) {
  const pts = [];
  const rtts = quick ? [20, 100] : [2, 20, 100, 200];
  const losses = quick ? [0, 1] : [0, 0.1, 1, 2];
  for (const rttMs of rtts) for (const lossPercent of losses) pts.push({ rateBps: 1e9, mtu: 1500, rttMs, lossPercent });
  // A target point of issue 10 (>= 1.5x TCP BBR): in the quick subset too.
  pts.push({ rateBps: 1e9, mtu: 1500, rttMs: 200, lossPercent: 0.5 });
  for (const lossPercent of quick ? [1] : [0, 1]) pts.push({ rateBps: 2.5e9, mtu: 9000, rttMs: 50, lossPercent });
  return pts;
}

export const wanUsage = `  --wan-size SIZE      file size per wan row (default 256M; --wan-quick: 64M)
  --wan-size-long SIZE file size of the wan rows at RTT >= ${kLongRttMs} ms (default: --wan-size), so their
                       steady state outlasts startup and tail
  --wan-quick          the wan section's subset: RTT {20, 100} × loss {0, 1 %} and 200 ms × 0.5 % at 1 Gbit/s,
                       2.5 Gbit/s at 1 %
  --wan-tools LIST     wan tools (default all): ${kTools.join(', ')}
  --wan-queue-ms MS    the emulated bottleneck's drop-tail limit (default 50)
  --wan-rows LIST      only these rows (default all): matrix points as RTT/loss (e.g. 20/0,100/1; the
                       2.5 Gbit/s ones as 2.5G/50/1), 'fairness', 'share' (beside TCP BBR), 'share-cubic' —
                       for several short A/B runs`;

/** Parses the wan flags into `o`; returns false when `flag` is not one of them. */
export function parseWanFlag(o, flag, value, die) {
  switch (flag) {
    case '--wan-quick':
      o.wanQuick = true;
      return true;
    case '--wan-size':
      o.wanSize = value();
      return true;
    case '--wan-size-long':
      o.wanSizeLong = value();
      return true;
    case '--wan-tools': {
      o.wanTools = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const t of o.wanTools) if (!kTools.includes(t)) die(`--wan-tools: unknown tool '${t}' (expected ${kTools.join(', ')})`);
      return true;
    }
    case '--wan-rows': {
      o.wanRows = value()
        .split(',')
        .map((x) => x.trim().toLowerCase())
        .filter(Boolean);
      for (const r of o.wanRows)
        if (!/^(fairness|share|share-cubic|(2\.5g\/)?\d+(\.\d+)?\/\d+(\.\d+)?)$/.test(r))
          die(`--wan-rows: bad row '${r}' (expected RTT/loss such as 20/1, 2.5G/50/1, fairness, share or share-cubic)`);
      return true;
    }
    case '--wan-queue-ms': {
      const v = Number(value());
      if (!(v > 0 && v <= 10000)) die('--wan-queue-ms: expected a number of ms in (0, 10000]');
      o.wanQueueMs = v;
      return true;
    }
    default:
      return false;
  }
}

/** The --wan-rows name of a matrix point: RTT/loss, prefixed by the rate when it is not 1 Gbit/s. */
const rowName = (p) => `${p.rateBps === 1e9 ? '' : `${p.rateBps / 1e9}g/`}${p.rttMs}/${p.lossPercent}`;
const wanted = (opts, row) => !opts.wanRows || opts.wanRows.includes(row);

const linkName = (p) => `${p.rateBps / 1e9} Gbit/s MTU ${p.mtu}, RTT ${p.rttMs} ms, loss ${p.lossPercent} %`;
const idealSeconds = (bytes, p) => (bytes * 8) / p.rateBps;

/**
 * Collects the emulator's stats lines of one run. `startAt()` marks the emulator time of a
 * moment (the latest sample), `t90()` is the time from the first 50 ms in which data flowed
 * (>= 10 MTU) to the end of the first 100 ms at >= 90 % of the link.
 */
function sampler(wan, p) {
  const samples = [];
  const off = wan.onStats((s) => samples.push({ t: s.t_ms, link: s.ab.link_bytes }));
  return {
    samples,
    stop: off,
    now: () => samples.at(-1) ?? { t: 0, link: 0 },
    /**
     * The link's rate over the middle 80 % of the bytes it carried (from 10 % to 90 % of
     * them), / link: the steady state without the fixed costs of a transfer (handshake,
     * first train, startup, tail). null when too few samples span it.
     */
    steadyLinkUtil() {
      if (samples.length < 3) return null;
      const total = samples.at(-1).link - samples[0].link;
      const at = (frac) => samples.find((s) => s.link - samples[0].link >= frac * total);
      const a = at(0.1);
      const b = at(0.9);
      if (!a || !b || b.t - a.t < 2 * kStatsMs) return null;
      return round(((b.link - a.link) * 8) / ((b.t - a.t) / 1000) / p.rateBps, 3);
    },
    t90() {
      const first = samples.findIndex((s, i) => i > 0 && s.link - samples[i - 1].link >= 10 * p.mtu);
      if (first < 0) return null;
      const t0 = samples[first - 1].t;
      for (let i = first + 1; i < samples.length; i++) {
        const a = samples[i - 2] ?? samples[0];
        if (((samples[i].link - a.link) * 8) / ((samples[i].t - a.t) / 1000) >= 0.9 * p.rateBps)
          return round((samples[i].t - t0) / 1000, 3);
      }
      return null;
    },
  };
}

/** The common figures of a row from the emulator's final counters. */
function linkFigures(final, p, socketDrops) {
  const ab = final?.ab;
  return {
    // Lost on the way: random loss, the full queue, and the receiver's full socket buffer.
    pathLost: ab ? ab.lost_packets + ab.queue_dropped_packets + socketDrops : null,
    receiverSocketDrops: socketDrops,
    randomLost: ab?.lost_packets ?? null,
    queueDropped: ab?.queue_dropped_packets ?? null,
    packetsIntoLink: ab?.rx_packets ?? null,
    peakQueueMs: ab ? round(ab.queue_delay_peak_us / 1000, 1) : null,
  };
}

/** jetrecv send of each of `files` at once, a -> b; `onDone(i)` when send i exits. */
async function jetrecvRun(ctx, wan, p, { files, extraSend = [], timeoutMs, onDone = () => {} }) {
  const sandbox = path.join(ctx.tmpfs.dir, `jetrecv-wan-${process.pid}-${Date.now()}`);
  const rx = await startReceiver(sandbox, { wrap: (a) => wan.wrap('b', a), host: wan.addressB });
  try {
    const dg = p.mtu - 28;
    const sends = files.map((f, i) =>
      start(wan.wrap('a', sendArgv(`${wan.addressB}:${rx.recvPort}`, rx.publicKey, dg, [f.file], extraSend)), { timeoutMs }).done.then(
        (r) => {
          onDone(i);
          return r;
        },
      ),
    );
    const done = await Promise.all(sends);
    const out = [];
    for (const [i, r] of done.entries()) {
      const summary = parseSendJson(r.stdout);
      if (r.code !== 0 || !summary) {
        out.push({ error: `jetrecv send ${i} failed (exit ${r.code ?? r.signal}): ${tail(r.stderr || r.stdout, 300)}` });
        continue;
      }
      const received = path.join(sandbox, path.basename(files[i].file));
      out.push({
        seconds: summary.seconds,
        bytes: summary.bytes,
        blocksSent: summary.blocksSent,
        blocksRetransmitted: summary.blocksRetransmitted,
        competingEvents: summary.competingEvents ?? 0,
        tailCopies: summary.blocksTailCopies ?? 0,
        wireBytes: summary.blocksSent * (dg + 28),
        sha256Ok: (await sha256File(received).catch(() => null)) === files[i].sha,
      });
    }
    return out;
  } finally {
    await stopChild(rx.handle);
    await rm(sandbox, { recursive: true, force: true });
  }
}

/**
 * `iperf3 -C algo` from a to b, for `length.seconds` or until it has sent `length.bytes`
 * (`-n`; then killed after `length.timeoutMs`); {bytes, seconds, retransmits, segmentsSent} or
 * {error}. `killOn` (a promise) ends it early, without figures.
 */
async function tcpRun(wan, algo, length, port, killOn) {
  const seconds = length.seconds ?? Math.ceil((length.timeoutMs ?? 60_000) / 1000);
  const amount = length.bytes !== undefined ? ['-n', String(length.bytes)] : ['-t', String(seconds)];
  const srv = start(wan.wrap('b', ['iperf3', '-s', '-1', '-p', String(port), '-B', wan.addressB]));
  try {
    await sleep(400); // iperf3 -s binds at once; no readiness line with -1
    const c = await start(wan.wrap('a', ['iperf3', '-c', wan.addressB, '-p', String(port), '-C', algo, ...amount, '-J', '-i', '0.1']), {
      timeoutMs: length.timeoutMs ?? (seconds + 30) * 1000,
      killOn,
    }).done;
    let j;
    try {
      j = JSON.parse(c.stdout);
    } catch {
      return { error: `iperf3 gave no JSON (exit ${c.code}): ${tail(c.stderr || c.stdout, 300)}` };
    }
    if (j.error) return { error: `iperf3: ${j.error}` };
    const mss = j.start?.tcp_mss_default ?? 1448;
    return {
      bytes: j.end.sum_received.bytes,
      seconds: j.end.sum_received.seconds,
      retransmits: j.end.sum_sent.retransmits,
      segmentsSent: Math.round(j.end.sum_sent.bytes / mss),
      intervals: j.intervals.map((x) => ({ start: x.sum.start, end: x.sum.end, bytes: x.sum.bytes })),
    };
  } finally {
    await stopChild(srv, 'SIGTERM', 2000);
  }
}

/** uftp a -> uftpd b; TFMCC (`-C tfmcc`) or a fixed rate (`-R kbps`). */
async function uftpRun(ctx, wan, p, src, { mode, timeoutMs }) {
  const outDir = path.join(ctx.tmpfs.dir, `jetrecv-wan-uftp-${process.pid}-${Date.now()}`);
  await mkdir(outDir, { recursive: true });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const rx = start(wan.wrap('b', ['uftpd', '-d', '-I', wan.addressB, '-p', String(port), '-D', outDir, '-B', '33554432']));
  try {
    await sleep(300);
    const block = p.mtu === 1500 ? 1400 : 8800;
    const cc =
      mode === 'tfmcc' ? ['-C', `tfmcc:max=${Math.round(p.rateBps / 1000)}`] : ['-R', String(Math.round((p.rateBps * 0.95) / 1000))];
    const tx = await start(
      wan.wrap('a', [
        'uftp',
        '-M',
        wan.addressB,
        '-I',
        wan.addressA,
        '-p',
        String(port),
        '-b',
        String(block),
        '-B',
        '33554432',
        ...cc,
        src.file,
      ]),
      { timeoutMs },
    ).done;
    const log = `${tx.stdout}\n${tx.stderr}`;
    const dataTime = Number(/Status: Completed\s+time:\s+([\d.]+) seconds/.exec(log)?.[1]);
    if (tx.code !== 0 || !Number.isFinite(dataTime))
      return {
        error: tx.signal === 'SIGKILL' ? `timeout after ${timeoutMs / 1000} s` : `uftp failed (exit ${tx.code}): ${tail(log, 300)}`,
        timedOut: tx.signal === 'SIGKILL',
      };
    const out = path.join(outDir, path.basename(src.file));
    return {
      seconds: dataTime,
      blocks: Math.ceil(src.size / block),
      passes: Math.max(1, ...[...log.matchAll(/Starting pass (\d+)/g)].map((m) => Number(m[1]))),
      sha256Ok: (await sha256File(out).catch(() => null)) === src.sha,
    };
  } finally {
    await stopChild(rx, 'SIGTERM', 3000);
    await rm(outDir, { recursive: true, force: true });
  }
}

/** One tool at one matrix point; returns the row's figures. */
async function wanRow(ctx, wan, p, tool, src) {
  const { opts } = ctx;
  const ideal = idealSeconds(src.size, p);
  await wan.start({
    rateBps: p.rateBps,
    rttMs: p.rttMs,
    lossPercent: p.lossPercent,
    queueMs: opts.wanQueueMs,
    statsIntervalMs: kStatsMs,
    seed: 1,
  });
  const smp = sampler(wan, p);
  const drops0 = await wan.udpReceiveBufferErrors('b');
  let r;
  try {
    if (tool === 'jetrecv') {
      const [x] = await jetrecvRun(ctx, wan, p, { files: [src], timeoutMs: Math.max(90_000, ideal * 20_000) });
      r = x.error
        ? x
        : {
            goodputOverLink: round((x.bytes * 8) / x.seconds / p.rateBps, 3),
            seconds: x.seconds,
            sha256Ok: x.sha256Ok,
            retransmittedOverSent: round(x.blocksRetransmitted / x.blocksSent, 4),
            retransmitted: x.blocksRetransmitted,
            tailCopies: x.tailCopies,
            sent: x.blocksSent,
          };
    } else if (tool.startsWith('tcp-')) {
      // TCP moves the same bytes as jetrecv (iperf3 -n), so both pay their start-up and tail;
      // a run that has not finished after 6 x the ideal time (at least 20 s: CUBIC at 200 ms
      // + 2 % could take an hour) is killed and says FAILED with the share it delivered.
      const x = await tcpRun(wan, tool.slice(4), { bytes: src.size, timeoutMs: Math.max(20_000, ideal * 6000) }, 5201);
      r = x.error
        ? x
        : {
            goodputOverLink: round((x.bytes * 8) / x.seconds / p.rateBps, 3),
            seconds: round(x.seconds, 3),
            bytesReceived: x.bytes,
            retransmittedOverSent: round(x.retransmits / x.segmentsSent, 4),
            retransmitted: x.retransmits,
            sent: x.segmentsSent,
          };
    } else {
      const x = await uftpRun(ctx, wan, p, src, { mode: tool.slice(5), timeoutMs: Math.max(20_000, ideal * 6000) });
      r = x.error
        ? x
        : {
            goodputOverLink: round((src.size * 8) / x.seconds / p.rateBps, 3),
            seconds: x.seconds,
            passes: x.passes,
            sha256Ok: x.sha256Ok,
            blocks: x.blocks,
          };
    }
  } finally {
    smp.stop();
  }
  const final = await wan.stop();
  const link = linkFigures(final, p, (await wan.udpReceiveBufferErrors('b')) - drops0);
  if (tool.startsWith('uftp') && !r.error && link.packetsIntoLink !== null) {
    // uftp reports no resend count: estimated from the packets that entered the link.
    r.retransmitted = Math.max(0, link.packetsIntoLink - r.blocks);
    r.sent = link.packetsIntoLink;
    r.retransmittedOverSent = round(r.retransmitted / r.sent, 4);
    r.retransmittedEstimated = true;
  }
  if (r.error && final) r.deliveredOverLink = round((final.ab.forwarded_bytes * 8) / (final.t_ms / 1000) / p.rateBps, 3);
  // Steady-state goodput: the link's middle-80 % rate times the share of its bytes that were
  // the tool's useful data (file or TCP payload bytes / link bytes, over the whole run).
  const util = smp.steadyLinkUtil();
  const useful = tool.startsWith('tcp-') ? r.bytesReceived : src.size;
  const steadyGoodputOverLink =
    !r.error && util !== null && final?.ab.link_bytes > 0 && useful ? round((util * useful) / final.ab.link_bytes, 3) : null;
  return {
    ...r,
    ...link,
    timeTo90Seconds: smp.t90(),
    steadyLinkUtil: util,
    steadyGoodputOverLink,
    retransmittedOverLost: r.retransmitted !== undefined && link.pathLost ? round(r.retransmitted / link.pathLost, 3) : null,
  };
}

/**
 * Two jetrecv flows started together: their sending rates while both ran. The faster one's is
 * its wire bytes over its time; the slower one's is its wire bytes minus what the link
 * carried after the faster one ended (then it was alone), over the same time.
 */
async function fairnessRun(ctx, wan, p, files) {
  await wan.start({
    rateBps: p.rateBps,
    rttMs: p.rttMs,
    lossPercent: p.lossPercent,
    queueMs: ctx.opts.wanQueueMs,
    statsIntervalMs: kStatsMs,
  });
  const smp = sampler(wan, p);
  const marks = [];
  try {
    const rs = await jetrecvRun(ctx, wan, p, { files, timeoutMs: 180_000, onDone: (i) => (marks[i] = smp.now()) });
    const bad = rs.find((x) => x.error);
    if (bad) return bad;
    const [iFast, iSlow] = rs[0].seconds <= rs[1].seconds ? [0, 1] : [1, 0];
    const fast = rs[iFast];
    const slow = rs[iSlow];
    const fastRate = fast.wireBytes / fast.seconds;
    const slowRate = Math.max(0, slow.wireBytes - (marks[iSlow].link - marks[iFast].link)) / fast.seconds;
    return {
      goodputs: rs.map((x) => round((x.bytes * 8) / x.seconds / p.rateBps, 3)),
      fairnessSlowerOverFaster: round(Math.min(fastRate, slowRate) / Math.max(fastRate, slowRate), 3),
      completionRatio: round(fast.seconds / slow.seconds, 3),
      retransmittedOverSent: round(rs.reduce((s, x) => s + x.blocksRetransmitted, 0) / rs.reduce((s, x) => s + x.blocksSent, 0), 4),
      sha256Ok: rs.every((x) => x.sha256Ok),
      timeTo90Seconds: smp.t90(),
    };
  } finally {
    smp.stop();
    await wan.stop();
  }
}

/** jetrecv beside one TCP flow (`algo`: bbr, cubic): each one's share of the link while jetrecv ran. */
async function shareRun(ctx, wan, p, src, algo) {
  await wan.start({
    rateBps: p.rateBps,
    rttMs: p.rttMs,
    lossPercent: p.lossPercent,
    queueMs: ctx.opts.wanQueueMs,
    statsIntervalMs: kStatsMs,
  });
  const smp = sampler(wan, p);
  try {
    // TCP runs until jetrecv is done (then it is stopped; its share comes from the link).
    let jetrecvDone;
    const tcp = tcpRun(wan, algo, { seconds: 600 }, 5202, new Promise((r) => (jetrecvDone = r)));
    await sleep(3000); // TCP at its steady state first
    const m0 = smp.now();
    const [x] = await jetrecvRun(ctx, wan, p, { files: [src], timeoutMs: Math.max(90_000, idealSeconds(src.size, p) * 20_000) });
    const m1 = smp.now();
    jetrecvDone('jetrecv finished');
    await tcp;
    if (x.error) return x;
    const window = (m1.t - m0.t) / 1000;
    const tcpBytes = Math.max(0, m1.link - m0.link - x.wireBytes);
    return {
      jetrecvShare: round((x.bytes * 8) / x.seconds / p.rateBps, 3),
      tcpShare: round((tcpBytes * 8) / window / p.rateBps, 3),
      competingEvents: x.competingEvents,
      retransmittedOverSent: round(x.blocksRetransmitted / x.blocksSent, 4),
      sha256Ok: x.sha256Ok,
    };
  } finally {
    smp.stop();
    await wan.stop();
  }
}

export async function sectionWan(ctx, tools) {
  const { opts, results } = ctx;
  const check = tools?.wan.checkWanEmulator() ?? { ok: false, skipReason: 'test tools unavailable' };
  if (!check.ok) {
    results.push({ section: 'wan', name: 'wan (emulated WAN)', skipped: check.skipReason });
    return;
  }
  const wanTools = opts.wanTools ?? kTools;
  const missing = (t) =>
    t.startsWith('tcp-') && !which('iperf3')
      ? 'iperf3 is not installed (--install-peers)'
      : t.startsWith('uftp') && !(which('uftp') && which('uftpd'))
        ? 'uftp is not installed (--install-peers)'
        : null;
  const cc = readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8');
  if (!/\bbbr\b/.test(cc)) spawnSync('modprobe', ['tcp_bbr']);
  const size = opts.wanSize;
  const mk = async (name, bytes) => {
    const file = path.join(ctx.work, name);
    await writeRandomFile(file, bytes);
    return { file, size: bytes, sha: await sha256File(file) };
  };
  const src = await mk('wan.bin', size);
  const sizeLong = opts.wanSizeLong ?? size;
  const srcLong = sizeLong === size ? src : await mk('wan-long.bin', sizeLong);
  const paths = {};
  const pathFor = async (mtu) => {
    if (!paths[mtu]) {
      const c = await tools.wan.createWanPath({ mtu, prefix: `jrbw${mtu}` });
      if (!c.value) throw new Error(c.skipReason);
      paths[mtu] = c.value;
      cleanups.push(() => c.value.close());
    }
    return paths[mtu];
  };
  for (const p of wanPoints(opts.wanQuick).filter((q) => wanted(opts, rowName(q)))) {
    const wan = await pathFor(p.mtu);
    for (const tool of wanTools) {
      const name = `${tool} ${linkName(p)}`;
      const why = missing(tool);
      if (why) {
        results.push({ section: 'wan', name, tool, point: p, skipped: why });
        continue;
      }
      process.stderr.write(`• wan ${name} … `);
      let r;
      try {
        r = await wanRow(ctx, wan, p, tool, p.rttMs >= kLongRttMs ? srcLong : src);
      } catch (err) {
        r = { error: err.message };
      }
      process.stderr.write(
        `${r.error ? `failed: ${r.error.split('\n')[0]}` : `${r.goodputOverLink} of the link (steady ${r.steadyGoodputOverLink})`}\n`,
      );
      results.push({ section: 'wan', kind: 'matrix', name, tool, point: p, bytes: p.rttMs >= kLongRttMs ? sizeLong : size, wan: r });
    }
  }
  const fairP = { rateBps: 1e9, mtu: 1500, rttMs: 50, lossPercent: 0 };
  if (wanTools.includes('jetrecv')) {
    const wan = await pathFor(1500);
    if (wanted(opts, 'fairness')) {
      const half = Math.max(MiB, Math.floor(size / 2 / MiB) * MiB);
      const files = [await mk('wan-f1.bin', half), await mk('wan-f2.bin', half)];
      process.stderr.write(`• wan two jetrecv flows, ${linkName(fairP)} … `);
      const f = await fairnessRun(ctx, wan, fairP, files).catch((err) => ({ error: err.message }));
      process.stderr.write(`${f.error ?? `fairness ${f.fairnessSlowerOverFaster}`}\n`);
      results.push({
        section: 'wan',
        kind: 'fairness',
        name: `two jetrecv flows, ${linkName(fairP)}`,
        tool: 'jetrecv',
        point: fairP,
        wan: f,
      });
    }
    for (const [row, algo, label] of [
      ['share', 'bbr', 'BBR'],
      ['share-cubic', 'cubic', 'CUBIC'],
    ]) {
      if (!wanted(opts, row) || missing(`tcp-${algo}`)) continue;
      process.stderr.write(`• wan jetrecv beside TCP ${label}, ${linkName(fairP)} … `);
      const s = await shareRun(ctx, wan, fairP, src, algo).catch((err) => ({ error: err.message }));
      process.stderr.write(`${s.error ?? `jetrecv ${s.jetrecvShare}, TCP ${s.tcpShare} (competing ${s.competingEvents}×)`}\n`);
      results.push({
        section: 'wan',
        kind: 'share',
        name: `jetrecv beside TCP ${label}, ${linkName(fairP)}`,
        tool: 'jetrecv',
        tcp: label,
        point: fairP,
        wan: s,
      });
    }
  }
}

/** The wan table: one line per matrix point and tool, then fairness and share. */
export function printWanTable(results) {
  const rows = results.filter((r) => r.section === 'wan');
  if (rows.length === 0) return;
  const f = (v) => (v === null || v === undefined ? '–' : String(v));
  const lines = [
    ['link', 'RTT ms', 'loss %', 'MiB', 'tool', 'goodput/link', 'steady', 'retx/sent', 'retx/lost', 't90 s', 'peak queue ms', 'notes'],
  ];
  const mib = (r) => (r.bytes ? String(Math.round(r.bytes / 2 ** 20)) : '');
  for (const r of rows) {
    const p = r.point ?? {};
    const w = r.wan ?? {};
    const link = p.rateBps ? `${p.rateBps / 1e9}G/${p.mtu}` : '';
    if (r.skipped) {
      lines.push([link, f(p.rttMs), f(p.lossPercent), '', r.tool ?? '', 'skipped', '', '', '', '', '', r.skipped]);
      continue;
    }
    const notes = [];
    if (w.error)
      notes.push(
        `FAILED: ${w.error.split('\n')[0].slice(0, 70)}${w.deliveredOverLink !== undefined ? ` (delivered ${w.deliveredOverLink} of the link)` : ''}`,
      );
    if (w.sha256Ok === false) notes.push('SHA256 MISMATCH');
    if (w.retransmittedEstimated) notes.push('retx estimated from the emulator');
    if (w.passes) notes.push(`${w.passes} passes`);
    if (w.receiverSocketDrops) notes.push(`receiver socket drops ${w.receiverSocketDrops}`);
    if (w.queueDropped) notes.push(`queue drops ${w.queueDropped}`);
    if (w.tailCopies) notes.push(`tail copies ${w.tailCopies}`); // of retx: second copies of tail repairs
    if (r.kind === 'fairness') {
      lines.push([
        link,
        f(p.rttMs),
        f(p.lossPercent),
        '',
        'jetrecv ×2',
        f(w.goodputs?.join(' + ')),
        '',
        f(w.retransmittedOverSent),
        '',
        f(w.timeTo90Seconds),
        '',
        `fairness ${f(w.fairnessSlowerOverFaster)} (completion ratio ${f(w.completionRatio)}) ${notes.join('; ')}`,
      ]);
      continue;
    }
    if (r.kind === 'share') {
      lines.push([
        link,
        f(p.rttMs),
        f(p.lossPercent),
        '',
        `jetrecv + ${r.tcp ?? 'BBR'}`,
        `${f(w.jetrecvShare)} + ${f(w.tcpShare)}`,
        '',
        f(w.retransmittedOverSent),
        '',
        '',
        '',
        `TCP keeps ${f(w.tcpShare)} of the link; jetrecv entered competing mode ${f(w.competingEvents)}× ${notes.join('; ')}`,
      ]);
      continue;
    }
    lines.push([
      link,
      f(p.rttMs),
      f(p.lossPercent),
      mib(r),
      r.tool,
      f(w.goodputOverLink),
      f(w.steadyGoodputOverLink),
      f(w.retransmittedOverSent),
      f(w.retransmittedOverLost),
      f(w.timeTo90Seconds),
      f(w.peakQueueMs),
      notes.join('; '),
    ]);
  }
  const widths = lines[0].map((_, c) => Math.min(70, Math.max(...lines.map((l) => String(l[c]).length))));
  const line = (l) =>
    l
      .map((cell, c) => String(cell).padEnd(widths[c]))
      .join(' | ')
      .trimEnd();
  console.log(
    "\nwan (through build/wan-emu; goodput/link: file bytes per the tool's own data time, TCP moving the same bytes with iperf3 -n):",
  );
  console.log(line(lines[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const l of lines.slice(1)) console.log(line(l));
}
