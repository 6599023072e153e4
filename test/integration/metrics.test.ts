// GET /metrics of a real `jetrecv serve` child process: strict Prometheus text 0.0.4 with
// every native counter, and counters that move (and never go back) while the real
// `jetrecv send` CLI transfers a file to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { parseCounterHelp } from '../../src/ops/metrics.js';
import {
  parsePrometheus,
  sampleValue,
  scrapeMetrics,
  spawnJetrecv,
  type PromFamily,
  type ReadyInfo,
  type ServeProcess,
} from './serve-process.js';

let root: string;
let serve: ServeProcess;
let info: ReadyInfo;
const counterNames = Object.keys(parseCounterHelp(readFileSync(path.join(repoRoot, 'native', 'src', 'core', 'counters.def'), 'utf8')));

beforeAll(async () => {
  root = await tempDir('metrics');
  serve = spawnJetrecv([
    'serve',
    '--sandbox-dir',
    path.join(root, 'sandbox'),
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
  ]);
  info = await serve.ready();
});

afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

/** Every sample of every counter family, keyed by name and labels. */
function counterSamples(families: Map<string, PromFamily>): Map<string, number> {
  const out = new Map<string, number>();
  for (const fam of families.values()) {
    if (fam.type !== 'counter') continue;
    for (const s of fam.samples) out.set(`${s.name}${JSON.stringify(s.labels)}`, s.value);
  }
  return out;
}

describe('/metrics', () => {
  it('is valid Prometheus text with every native counter, drops by reason and the daemon gauges', async () => {
    const { contentType, families } = await scrapeMetrics(info.apiPort as number);
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(counterNames.length).toBeGreaterThan(20);
    for (const name of counterNames) {
      if (name.startsWith('drop_')) {
        expect(sampleValue(families, 'jetrecv_packets_dropped_total', { reason: name.slice(5) }), name).toBe(0);
      } else {
        const fam = families.get(`jetrecv_${name}_total`);
        expect(fam, name).toMatchObject({ type: 'counter' });
        expect(fam!.help, name).not.toMatch(/^addon counter/); // help comes from counters.def
      }
    }
    expect(families.get('jetrecv_packets_dropped_total')?.type).toBe('counter');
    expect(families.get('jetrecv_sessions')?.type).toBe('gauge');
    expect(sampleValue(families, 'jetrecv_sessions')).toBe(0);
    for (const state of ['receiving', 'complete', 'error']) expect(sampleValue(families, 'jetrecv_transfers', { state })).toBe(0);
    expect(families.get('jetrecv_received_bytes_total')?.type).toBe('counter');
    expect(families.get('jetrecv_receive_rate_bits_per_second')?.type).toBe('gauge');
    const infoSample = families.get('jetrecv_info')!.samples[0]!;
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(infoSample.labels['version']).toBe(pkg.version);
    expect(infoSample.labels['server_id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('counters move during a real transfer and never go back', async () => {
    const size = 6 << 20;
    const src = path.join(root, 'payload.bin');
    await writeRandomFile(src, size);
    const before = await scrapeMetrics(info.apiPort as number);

    // Scrape while a paced send (about 2.5 s) runs.
    const snapshots: Map<string, PromFamily>[] = [before.families];
    let sending = true;
    const send = runCli([
      'send',
      '--to',
      `127.0.0.1:${info.recvPort}`,
      '--server-key',
      info.publicKey,
      '--rate-max',
      '20M',
      '--quiet',
      '--dest',
      'm',
      src,
    ]).finally(() => (sending = false));
    while (sending) {
      snapshots.push((await scrapeMetrics(info.apiPort as number)).families);
      await new Promise((r) => setTimeout(r, 100));
    }
    const sent = await send;
    expect(sent.code, sent.stderr).toBe(0);
    expect(await sha256File(path.join(info.sandboxDir, 'm', 'payload.bin'))).toBe(await sha256File(src));
    const after = await scrapeMetrics(info.apiPort as number);
    snapshots.push(after.families);

    // Every counter series is present in every snapshot and never decreases.
    for (let i = 1; i < snapshots.length; i++) {
      const prev = counterSamples(snapshots[i - 1]!);
      const cur = counterSamples(snapshots[i]!);
      expect([...cur.keys()].sort()).toEqual([...prev.keys()].sort());
      for (const [series, value] of prev) expect(cur.get(series)!, series).toBeGreaterThanOrEqual(value);
    }
    // Mid-transfer, some scrape saw the live session receiving at a non-zero rate.
    const live = snapshots.filter(
      (f) => sampleValue(f, 'jetrecv_sessions') === 1 && sampleValue(f, 'jetrecv_transfers', { state: 'receiving' }) === 1,
    );
    expect(live.length).toBeGreaterThan(0);
    expect(Math.max(...live.map((f) => sampleValue(f, 'jetrecv_receive_rate_bits_per_second')))).toBeGreaterThan(0);

    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after.families, name, labels) - sampleValue(before.families, name, labels);
    expect(delta('jetrecv_received_bytes_total')).toBe(size);
    expect(delta('jetrecv_bytes_written_total')).toBe(size);
    expect(delta('jetrecv_rx_bytes_total')).toBeGreaterThan(size);
    expect(delta('jetrecv_rx_datagrams_total')).toBeGreaterThanOrEqual(Math.ceil(size / 1472));
    expect(delta('jetrecv_blocks_written_total')).toBeGreaterThanOrEqual(Math.ceil(size / 1472));
    expect(delta('jetrecv_files_completed_total')).toBe(1);
    expect(delta('jetrecv_handshake_packets_total')).toBeGreaterThanOrEqual(1);
    expect(delta('jetrecv_feedback_sent_total')).toBeGreaterThan(0);
    expect(delta('jetrecv_write_errors_total')).toBe(0);
    expect(sampleValue(after.families, 'jetrecv_transfers', { state: 'complete' })).toBe(1);
    expect(sampleValue(after.families, 'jetrecv_transfers', { state: 'receiving' })).toBe(0);
  });

  it('the strict parser used here rejects malformed expositions', () => {
    const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{r="q\\"x"} 1\n';
    expect(parsePrometheus(ok).get('a_total')!.samples[0]).toEqual({ name: 'a_total', labels: { r: 'q"x' }, value: 1 });
    expect(() => parsePrometheus(ok.slice(0, -1))).toThrow(/line feed/);
    expect(() => parsePrometheus('a_total 1\n')).toThrow(/without a TYPE/);
    expect(() => parsePrometheus('# TYPE a counter\na{r="x} 1\n')).toThrow(/bad labels|not a sample/);
    expect(() => parsePrometheus('# TYPE a counter\na one\n')).toThrow(/bad sample value/);
    expect(() => parsePrometheus('# TYPE a counter\na 1\na 2\n')).toThrow(/repeated/);
    expect(() => parsePrometheus('# TYPE a counter\na 1\n# TYPE a gauge\n')).toThrow(/TYPE after samples/);
    expect(() => parsePrometheus('# TYPE 1a counter\n')).toThrow(/bad metric name/);
  });
});
