// metrics.ts — Prometheus text exposition format 0.0.4 for `/metrics`.
// Input is a snapshot the daemon assembles (addon counters, session and transfer counts);
// output is the whole response body. Every metric is prefixed `jetrecv_`; addon counters
// become `jetrecv_<name>_total`, and the `drop_<reason>` counters become one family,
// `jetrecv_packets_dropped_total{reason="<reason>"}`. Pure: no I/O, no clocks.

/** The Content-Type to send with {@link renderPrometheus}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Prefix of every metric name. */
export const METRIC_PREFIX = 'jetrecv_';

/** Addon counters with this prefix are folded into `jetrecv_packets_dropped_total{reason}`. */
const DROP_PREFIX = 'drop_';

/** A snapshot of the daemon's state, taken at scrape time. */
export interface MetricsInput {
  /** Addon counters by snake_case name (counterNames order is kept), monotonically increasing. */
  counters: Record<string, number>;
  /** Optional one-line help per counter name (e.g. from counters.def). */
  counterHelp?: Record<string, string>;
  /** Handshake packets handled by the responder, by outcome (Receiver.handshakeCounts()); omitted: no family. */
  handshakes?: Record<string, number>;
  /** Live sessions (connected senders). */
  sessions: number;
  /** Receive transfers by state. */
  transfers: { receiving: number; complete: number; error: number };
  /** File bytes received by all transfers since start (counter). */
  bytesReceived: number;
  /** Current aggregate receive rate in bits per second (gauge). */
  recvRateBps: number;
  info: { version: string; serverId: string };
  /** AEAD back end by cipher name (addon aeadBackends); omitted: no family. */
  aeadBackends?: Readonly<Record<string, string>>;
  /** Hook queues by hook kind ('command', 'webhook'); omitted: no families. */
  hooks?: Record<string, { queued: number; running: number; succeeded: number; failed: number; dropped: number }>;
  /** Clients of GET /api/v1/events; omitted: no families. */
  eventStreams?: { clients: number; slowDisconnects: number };
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Makes `raw` a valid metric-name fragment: invalid characters become '_'. */
export function sanitizeMetricName(raw: string): string {
  const cleaned = raw.replace(/[^a-zA-Z0-9_:]/g, '_');
  return NAME_RE.test(cleaned) ? cleaned : `_${cleaned}`;
}

/** Escapes a `# HELP` text: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Escapes a label value: backslash, double quote and line feed. */
function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Formats a sample value as Prometheus expects (Go ParseFloat syntax, `+Inf`, `NaN`). */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

type Labels = Record<string, string>;

class FamilyWriter {
  private readonly lines: string[] = [];
  private readonly seen = new Set<string>();

  family(name: string, type: 'counter' | 'gauge', help: string, samples: { labels?: Labels; value: number }[]): void {
    if (this.seen.has(name)) throw new Error(`metrics: family ${name} rendered twice`);
    this.seen.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const { labels, value } of samples) {
      const labelText =
        labels === undefined || Object.keys(labels).length === 0
          ? ''
          : `{${Object.entries(labels)
              .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
              .join(',')}}`;
      this.lines.push(`${name}${labelText} ${formatSampleValue(value)}`);
    }
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** Metric name of an addon counter: `jetrecv_<name>_total` (no doubled `_total`). */
export function counterMetricName(counter: string): string {
  const base = sanitizeMetricName(counter).replace(/_total$/, '');
  return `${METRIC_PREFIX}${base}_total`;
}

/**
 * Renders the snapshot in the Prometheus text format 0.0.4. Families, in order: the addon
 * counters (input order, with the `drop_*` ones replaced by one `jetrecv_packets_dropped_total`
 * family at the position of the first), then `jetrecv_handshakes_total{outcome}` (if given),
 * `jetrecv_sessions`, `jetrecv_transfers{state}`,
 * `jetrecv_received_bytes_total`, `jetrecv_receive_rate_bits_per_second`, `jetrecv_info`, then
 * (if given) `jetrecv_aead_backend{cipher,backend}`, `jetrecv_hook_jobs_total{hook,result}`,
 * `jetrecv_hook_jobs{hook,state}`, `jetrecv_event_stream_clients` and
 * `jetrecv_event_stream_slow_disconnects_total`.
 */
export function renderPrometheus(input: MetricsInput): string {
  const out = new FamilyWriter();
  const help = input.counterHelp ?? {};
  const drops: { labels: Labels; value: number }[] = [];
  let dropsPlaced = false;
  const names = Object.keys(input.counters);
  const dropNames = names.filter((n) => n.startsWith(DROP_PREFIX));
  for (const name of dropNames) {
    drops.push({ labels: { reason: name.slice(DROP_PREFIX.length) }, value: input.counters[name] as number });
  }
  for (const name of names) {
    if (name.startsWith(DROP_PREFIX)) {
      if (!dropsPlaced) {
        dropsPlaced = true;
        out.family(
          `${METRIC_PREFIX}packets_dropped_total`,
          'counter',
          'Datagrams, packets, frames or events the addon dropped, by reason (one per drop_* counter).',
          drops,
        );
      }
      continue;
    }
    out.family(counterMetricName(name), 'counter', help[name] ?? `addon counter ${name}`, [{ value: input.counters[name] as number }]);
  }
  if (input.handshakes !== undefined) {
    out.family(
      `${METRIC_PREFIX}handshakes_total`,
      'counter',
      'Handshake packets handled by the responder, by outcome (accepted, or why not; cookie-sent and bad-mac2 were answered with a cookie under load).',
      Object.entries(input.handshakes).map(([outcome, value]) => ({ labels: { outcome }, value })),
    );
  }
  out.family(`${METRIC_PREFIX}sessions`, 'gauge', 'Live sessions (connected senders).', [{ value: input.sessions }]);
  out.family(`${METRIC_PREFIX}transfers`, 'gauge', 'Receive transfers known to the server, by state.', [
    { labels: { state: 'receiving' }, value: input.transfers.receiving },
    { labels: { state: 'complete' }, value: input.transfers.complete },
    { labels: { state: 'error' }, value: input.transfers.error },
  ]);
  out.family(`${METRIC_PREFIX}received_bytes_total`, 'counter', 'File bytes received by all transfers since the server started.', [
    { value: input.bytesReceived },
  ]);
  out.family(`${METRIC_PREFIX}receive_rate_bits_per_second`, 'gauge', 'Aggregate receive rate of all transfers, bits per second.', [
    { value: input.recvRateBps },
  ]);
  out.family(`${METRIC_PREFIX}info`, 'gauge', 'Build and identity of this server; the value is always 1.', [
    { labels: { version: input.info.version, server_id: input.info.serverId }, value: 1 },
  ]);
  if (input.aeadBackends !== undefined) {
    out.family(
      `${METRIC_PREFIX}aead_backend`,
      'gauge',
      'AEAD implementation new sessions use, by cipher (ipsec-mb or openssl); the value is always 1.',
      Object.entries(input.aeadBackends).map(([cipher, backend]) => ({ labels: { cipher, backend }, value: 1 })),
    );
  }
  if (input.hooks !== undefined) {
    const hooks = Object.entries(input.hooks);
    out.family(
      `${METRIC_PREFIX}hook_jobs_total`,
      'counter',
      'Transfer events handled by a hook, by hook (command, webhook) and result: succeeded, failed (non-zero exit, timeout, delivery failed after retries) or dropped (queue full).',
      hooks.flatMap(([hook, st]) =>
        (['succeeded', 'failed', 'dropped'] as const).map((result) => ({ labels: { hook, result }, value: st[result] })),
      ),
    );
    out.family(
      `${METRIC_PREFIX}hook_jobs`,
      'gauge',
      'Transfer events waiting for or running in a hook, by hook and state (queued, running).',
      hooks.flatMap(([hook, st]) => (['queued', 'running'] as const).map((state) => ({ labels: { hook, state }, value: st[state] }))),
    );
  }
  if (input.eventStreams !== undefined) {
    out.family(`${METRIC_PREFIX}event_stream_clients`, 'gauge', 'Clients connected to GET /api/v1/events.', [
      { value: input.eventStreams.clients },
    ]);
    out.family(
      `${METRIC_PREFIX}event_stream_slow_disconnects_total`,
      'counter',
      'Event stream clients disconnected because they fell too far behind.',
      [{ value: input.eventStreams.slowDisconnects }],
    );
  }
  return out.text();
}

/**
 * Parses counters.def lines `X(name, "help")` into a help map for {@link MetricsInput}.
 * Lines that are not counter entries are ignored.
 */
export function parseCounterHelp(countersDef: string): Record<string, string> {
  const help: Record<string, string> = {};
  for (const m of countersDef.matchAll(/^X\(\s*([a-z0-9_]+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)/gm)) {
    help[m[1] as string] = (m[2] as string).replace(/\\(.)/g, '$1');
  }
  return help;
}
