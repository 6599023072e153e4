import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  counterMetricName,
  parseCounterHelp,
  PROMETHEUS_CONTENT_TYPE,
  renderPrometheus,
  sanitizeMetricName,
  type MetricsInput,
} from '../../src/ops/metrics.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const HELP_RE = new RegExp(`^# HELP (${NAME}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`);
const TYPE_RE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_RE = new RegExp(
  `^(${NAME})(?:\\{(${LABEL_NAME}=${LABEL_VALUE}(?:,${LABEL_NAME}=${LABEL_VALUE})*)?\\})? ` +
    `(NaN|[+-]Inf|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)$`,
);
const UNESCAPE = (s: string): string => s.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));

/**
 * A strict parser of the text exposition format 0.0.4 as jetrecv writes it: every family has
 * HELP then TYPE before its samples, samples of a family are contiguous and named after it,
 * no family or series appears twice, and the text ends with a newline.
 */
function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith('\n'), 'exposition must end with a newline').toBe(true);
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | null = null;
  let pendingHelp: { name: string; help: string } | null = null;
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1}: ${JSON.stringify(line)}`;
      let m: RegExpExecArray | null;
      if ((m = HELP_RE.exec(line)) !== null) {
        expect(pendingHelp, `${where}: HELP twice`).toBeNull();
        expect(families.has(m[1] as string), `${where}: family repeated`).toBe(false);
        pendingHelp = { name: m[1] as string, help: UNESCAPE(m[2] as string) };
        current = null;
      } else if ((m = TYPE_RE.exec(line)) !== null) {
        const help = pendingHelp as { name: string; help: string } | null;
        expect(help?.name, `${where}: TYPE without HELP of the same name`).toBe(m[1]);
        current = { name: m[1] as string, type: m[2] as string, help: help?.help ?? '', samples: [] };
        families.set(current.name, current);
        pendingHelp = null;
      } else if ((m = SAMPLE_RE.exec(line)) !== null) {
        const family = current as Family | null;
        expect(family, `${where}: sample outside a family`).not.toBeNull();
        const name = m[1] as string;
        expect(name, `${where}: sample of another family`).toBe((family as Family).name);
        const labels: Record<string, string> = {};
        for (const lm of (m[2] ?? '').matchAll(new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, 'g'))) {
          expect(labels[lm[1] as string], `${where}: label repeated`).toBeUndefined();
          labels[lm[1] as string] = UNESCAPE((lm[2] as string).slice(1, -1));
        }
        const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
        expect(series.has(key), `${where}: series repeated`).toBe(false);
        series.add(key);
        const raw = m[3] as string;
        const value = raw === 'NaN' ? NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
        (family as Family).samples.push({ name, labels, value });
      } else {
        throw new Error(`${where}: not HELP, TYPE or a sample`);
      }
    });
  expect(pendingHelp, 'HELP without TYPE at the end').toBeNull();
  return families;
}

function sampleInput(overrides: Partial<MetricsInput> = {}): MetricsInput {
  return {
    counters: {
      rx_datagrams: 1000,
      rx_bytes: 1_472_000,
      drop_short: 0,
      drop_bad_tag: 3,
      drop_replay: 2,
      tx_datagrams: 12,
      files_completed: 4,
    },
    counterHelp: { rx_datagrams: 'UDP datagrams received', drop_bad_tag: 'AEAD tag did not verify' },
    sessions: 2,
    transfers: { receiving: 1, complete: 5, error: 1 },
    bytesReceived: 123_456_789_012,
    recvRateBps: 9.4e9,
    info: { version: '0.1.0', serverId: 'ab"c\\d\ne' },
    ...overrides,
  };
}

describe('renderPrometheus', () => {
  it('writes valid exposition text with the expected families', () => {
    const families = parseExposition(renderPrometheus(sampleInput()));
    expect([...families.keys()]).toEqual([
      'jetrecv_rx_datagrams_total',
      'jetrecv_rx_bytes_total',
      'jetrecv_packets_dropped_total',
      'jetrecv_tx_datagrams_total',
      'jetrecv_files_completed_total',
      'jetrecv_sessions',
      'jetrecv_transfers',
      'jetrecv_received_bytes_total',
      'jetrecv_receive_rate_bits_per_second',
      'jetrecv_info',
    ]);
    for (const family of families.values()) {
      expect(family.name.startsWith('jetrecv_')).toBe(true);
      expect(family.help.length).toBeGreaterThan(0);
      if (family.type === 'counter') expect(family.name.endsWith('_total'), family.name).toBe(true);
    }
  });

  it('carries addon counters with their values and help', () => {
    const families = parseExposition(renderPrometheus(sampleInput()));
    const rx = families.get('jetrecv_rx_datagrams_total') as Family;
    expect(rx).toMatchObject({ type: 'counter', help: 'UDP datagrams received' });
    expect(rx.samples).toEqual([{ name: 'jetrecv_rx_datagrams_total', labels: {}, value: 1000 }]);
    expect(families.get('jetrecv_rx_bytes_total')?.samples[0]?.value).toBe(1_472_000);
    expect(families.get('jetrecv_rx_bytes_total')?.help).toBe('addon counter rx_bytes');
  });

  it('folds every drop_* counter into one family with a reason label', () => {
    const families = parseExposition(renderPrometheus(sampleInput()));
    const drops = families.get('jetrecv_packets_dropped_total') as Family;
    expect(drops.type).toBe('counter');
    expect(drops.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ reason: 'short' }, 0],
      [{ reason: 'bad_tag' }, 3],
      [{ reason: 'replay' }, 2],
    ]);
    expect([...families.keys()].some((n) => n.startsWith('jetrecv_drop_'))).toBe(false);
  });

  it('reports sessions, transfers by state, bytes, rate and info', () => {
    const families = parseExposition(renderPrometheus(sampleInput()));
    expect(families.get('jetrecv_sessions')).toMatchObject({ type: 'gauge', samples: [{ labels: {}, value: 2 }] });
    expect(families.get('jetrecv_transfers')?.samples.map((s) => [s.labels['state'], s.value])).toEqual([
      ['receiving', 1],
      ['complete', 5],
      ['error', 1],
    ]);
    expect(families.get('jetrecv_received_bytes_total')).toMatchObject({ type: 'counter', samples: [{ value: 123_456_789_012 }] });
    expect(families.get('jetrecv_receive_rate_bits_per_second')).toMatchObject({ type: 'gauge', samples: [{ value: 9.4e9 }] });
    // Label values round-trip through escaping of quote, backslash and newline.
    expect(families.get('jetrecv_info')?.samples).toEqual([
      { name: 'jetrecv_info', labels: { version: '0.1.0', server_id: 'ab"c\\d\ne' }, value: 1 },
    ]);
  });

  it('names the AEAD back end per cipher as a gauge with labels, last, only when given', () => {
    const families = parseExposition(
      renderPrometheus(sampleInput({ aeadBackends: { 'aes-256-gcm': 'ipsec-mb', 'chacha20-poly1305': 'openssl' } })),
    );
    expect([...families.keys()].at(-1)).toBe('jetrecv_aead_backend');
    expect(families.get('jetrecv_aead_backend')).toMatchObject({ type: 'gauge' });
    expect(families.get('jetrecv_aead_backend')?.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ cipher: 'aes-256-gcm', backend: 'ipsec-mb' }, 1],
      [{ cipher: 'chacha20-poly1305', backend: 'openssl' }, 1],
    ]);
    expect(parseExposition(renderPrometheus(sampleInput())).has('jetrecv_aead_backend')).toBe(false);
  });

  it('reports handshake outcomes as one family with an outcome label, placed before jetrecv_sessions', () => {
    const families = parseExposition(renderPrometheus(sampleInput({ handshakes: { accepted: 3, 'cookie-sent': 120, 'bad-mac2': 1 } })));
    expect(families.get('jetrecv_handshakes_total')?.type).toBe('counter');
    expect(families.get('jetrecv_handshakes_total')?.samples.map((s) => [s.labels['outcome'], s.value])).toEqual([
      ['accepted', 3],
      ['cookie-sent', 120],
      ['bad-mac2', 1],
    ]);
    const names = [...families.keys()];
    expect(names.indexOf('jetrecv_handshakes_total')).toBe(names.indexOf('jetrecv_sessions') - 1);
    expect(parseExposition(renderPrometheus(sampleInput())).has('jetrecv_handshakes_total')).toBe(false);
  });

  it('renders the real addon counter list, and with no drop counters no drop family', () => {
    const def = readFileSync(path.join(repoRoot, 'native', 'src', 'core', 'counters.def'), 'utf8');
    const help = parseCounterHelp(def);
    const names = Object.keys(help);
    expect(names.length).toBeGreaterThan(10);
    const counters = Object.fromEntries(names.map((n, i) => [n, i * 10]));
    const families = parseExposition(renderPrometheus(sampleInput({ counters, counterHelp: help })));
    const dropReasons = names.filter((n) => n.startsWith('drop_')).map((n) => n.slice(5));
    expect(families.get('jetrecv_packets_dropped_total')?.samples.map((s) => s.labels['reason'])).toEqual(dropReasons);
    expect(families.get('jetrecv_rx_datagrams_total')?.help).toBe(help['rx_datagrams']);

    const noDrops = parseExposition(renderPrometheus(sampleInput({ counters: { rx_datagrams: 1 } })));
    expect(noDrops.has('jetrecv_packets_dropped_total')).toBe(false);
  });

  it('writes special float values and keeps odd counter names valid', () => {
    const text = renderPrometheus(sampleInput({ counters: { 'weird-name.x': 1, already_total: 2 }, recvRateBps: NaN, sessions: Infinity }));
    const families = parseExposition(text);
    expect(families.has('jetrecv_weird_name_x_total')).toBe(true);
    expect(families.has('jetrecv_already_total')).toBe(true); // no doubled _total
    expect(text).toContain('jetrecv_receive_rate_bits_per_second NaN\n');
    expect(text).toContain('jetrecv_sessions +Inf\n');
  });
});

describe('helpers', () => {
  it('names counters', () => {
    expect(counterMetricName('rx_bytes')).toBe('jetrecv_rx_bytes_total');
    expect(sanitizeMetricName('9lives')).toBe('_9lives');
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('parseCounterHelp reads counters.def entries only', () => {
    expect(parseCounterHelp('// X(no, "comment")\nX(rx_a, "first \\"quoted\\"")\nX( tx_b ,"second")\n')).toEqual({
      rx_a: 'first "quoted"',
      tx_b: 'second',
    });
  });
});
