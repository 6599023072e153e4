// ops/grafana/jetrecv.json against a real `jetrecv serve` child process: every metric the
// dashboard queries is a family GET /metrics serves, every literal label matcher matches one
// of its samples, and every label it groups or names a legend by exists, so the dashboard
// cannot drift from src/ops/metrics.ts and counters.def.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, tempDir } from './harness.js';
import { scrapeMetrics, spawnJetrecv, type PromFamily, type ServeProcess } from './serve-process.js';

const DASHBOARD = path.join(repoRoot, 'ops', 'grafana', 'jetrecv.json');
/** Labels Prometheus adds when it scrapes (target labels): not in the exposition. */
const TARGET_LABELS = new Set(['instance', 'job']);

interface Query {
  where: string;
  expr: string;
  legend?: string;
}

/** Every PromQL query of the dashboard: panel targets and templating variables. */
function dashboardQueries(dashboard: any): Query[] {
  const out: Query[] = [];
  const walk = (panels: any[]): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr, legend: t.legendFormat });
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type === 'query') out.push({ where: `variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query });
  }
  return out;
}

/** `name{matchers}` selectors of an expression (metric names are all jetrecv_*). */
function selectors(expr: string): { name: string; matchers: { label: string; op: string; value: string }[] }[] {
  const out: { name: string; matchers: { label: string; op: string; value: string }[] }[] = [];
  for (const m of expr.matchAll(/\b(jetrecv_[a-zA-Z0-9_:]*)\s*(?:\{([^}]*)\})?/g)) {
    const matchers = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({
      label: x[1] as string,
      op: x[2] as string,
      value: x[3] as string,
    }));
    out.push({ name: m[1] as string, matchers });
  }
  return out;
}

/** Labels an expression groups by (`by (a, b)`) and a legend names (`{{a}}`). */
function namedLabels(q: Query): string[] {
  const labels: string[] = [];
  for (const m of q.expr.matchAll(/\bby\s*\(([^)]*)\)/g))
    labels.push(
      ...(m[1] as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  for (const m of (q.legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) labels.push(m[1] as string);
  return labels.filter((l) => !TARGET_LABELS.has(l));
}

/** Problems of one query against the scraped families; [] when it only uses what exists. */
function queryProblems(q: Query, families: Map<string, PromFamily>): string[] {
  const problems: string[] = [];
  const sels = selectors(q.expr);
  if (sels.length === 0) problems.push(`${q.where}: queries no jetrecv_ metric: ${q.expr}`);
  const used: PromFamily[] = [];
  for (const s of sels) {
    const fam = families.get(s.name);
    if (fam === undefined) {
      problems.push(`${q.where}: ${s.name} is not served by /metrics`);
      continue;
    }
    used.push(fam);
    for (const { label, op, value } of s.matchers) {
      if (TARGET_LABELS.has(label)) continue;
      if (!fam.samples.some((x) => label in x.labels)) problems.push(`${q.where}: ${s.name} has no label ${label}`);
      else if (op === '=' && !value.includes('$') && !fam.samples.some((x) => x.labels[label] === value)) {
        problems.push(`${q.where}: ${s.name} has no sample with ${label}="${value}"`);
      }
    }
  }
  for (const label of namedLabels(q)) {
    if (!used.some((f) => f.samples.some((x) => label in x.labels)))
      problems.push(`${q.where}: no metric of "${q.expr}" has the label ${label}`);
  }
  return problems;
}

let root: string;
let serve: ServeProcess;
let families: Map<string, PromFamily>;
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));

beforeAll(async () => {
  root = await tempDir('grafana');
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
  const info = await serve.ready();
  families = (await scrapeMetrics(info.apiPort as number)).families;
});

afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('ops/grafana/jetrecv.json', () => {
  it('queries only metrics, label values and labels a real daemon serves', () => {
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(15);
    expect(queries.flatMap((q) => queryProblems(q, families))).toEqual([]);
  });

  it('covers rates, sessions, transfers, drops by reason, retransmissions and disk writes', () => {
    const exprs = dashboardQueries(dashboard)
      .map((q) => q.expr)
      .join('\n');
    for (const name of [
      'jetrecv_receive_rate_bits_per_second',
      'jetrecv_sessions',
      'jetrecv_transfers',
      'jetrecv_packets_dropped_total',
      'jetrecv_bytes_written_total',
      'jetrecv_write_errors_total',
    ]) {
      expect(exprs, name).toContain(name);
    }
    expect(exprs).toMatch(/by \([^)]*reason[^)]*\) \(rate\(jetrecv_packets_dropped_total/);
    expect(exprs).toContain('reason="duplicate_block"');
    // Disk write latency is not measured: the dashboard says so instead of graphing it.
    expect(JSON.stringify(dashboard.panels)).toMatch(/does \*\*not\*\* measure disk write latency/);
  });

  it('the checker itself finds a metric, a label value and a label that do not exist', () => {
    const problems = [
      { where: 'a', expr: 'rate(jetrecv_no_such_metric_total[5m])' },
      { where: 'b', expr: 'jetrecv_transfers{state="paused"}' },
      { where: 'c', expr: 'sum by (colour) (jetrecv_sessions)' },
      { where: 'd', expr: 'up' },
    ].map((q) => queryProblems(q, families));
    expect(problems.map((p) => p.length)).toEqual([1, 1, 1, 1]);
  });
});
