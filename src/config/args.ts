// args.ts — command-line parsing for every `jetrecv <command>`, driven by a declarative spec.
// Contract (docs/ARCHITECTURE.md, conventions): `--flag=value` and `--flag value`; bool flags take no value
// (`--x`, `--no-x`); repeatable flags collect arrays; `--` ends flags; `-h`/`--help` sets `help`.
// Every problem with user input throws UsageError naming the flag and the expected form.
// A non-repeatable flag given twice keeps the last value (so wrappers can append overrides).

import { UsageError } from '../errors.js';

export { UsageError } from '../errors.js';

/** Value types a flag can have. Numbers come back as JS numbers; `bool` as boolean. */
export type FlagType = 'string' | 'int' | 'port' | 'bool' | 'rate' | 'path' | 'duration';

/** One `--long-name` flag of a command. */
export interface FlagSpec {
  /** Long name without dashes, e.g. 'persistent-state-dir'; also the key in `flags`. */
  name: string;
  type: FlagType;
  /** What the flag does; formatHelp appends ' (repeatable)' and ' (default: X)' itself. */
  help: string;
  /** Shown in help, e.g. 'DIR'. Defaults to the type in capitals ('PORT', 'RATE', ...). */
  valueName?: string;
  /** The value becomes an array of every occurrence (empty array if absent and no default). */
  repeatable?: boolean;
  /** Applied when the flag is absent. A string default of a numeric type is parsed like input. */
  default?: string | number | boolean | string[];
  /** One-letter alias, used as `-x` (no dash in the spec). */
  short?: string;
  /** `port` and `rate`: accept 0 (e.g. "any port", "no cap"). */
  allowZero?: boolean;
  /** `int` and `duration` (ms): inclusive bounds. */
  min?: number;
  max?: number;
  /** `int`: also accepts the word 'auto', kept as the string 'auto' (the command resolves it). */
  auto?: boolean;
}

/** A command: its flags and positional arguments. */
export interface CommandSpec {
  /** 'serve', 'send', 'api', ... (shown as 'jetrecv <name>'). */
  name: string;
  /** One line. */
  summary: string;
  /** e.g. 'jetrecv send --to HOST[:PORT] --server-key KEY [options] PATH...' */
  usage: string;
  description?: string;
  flags: FlagSpec[];
  /** Without it the command takes no positional arguments. */
  positionals?: { name: string; help: string; min: number; max?: number };
}

/** Result of {@link parseArgs}. When `help` is true, positional counts were not checked. */
export interface ParsedArgs {
  /** Keyed by FlagSpec.name; absent flags carry their default (bool: false, repeatable: []). */
  flags: Record<string, unknown>;
  positionals: string[];
  help: boolean;
}

const RATE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
const RATE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*([kmgt]?)(bits?\/s|bits?|bps|b\/s)?$/i;
const RATE_FORM = "a rate in bits/s like '10G', '500M', '1.5Gbit', '800000k' or '123'";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)$/;
const DURATION_FORM = "a duration like '500ms', '2s', '1m', '1h' or '7d'";

/**
 * Parses a bit rate. Decimal (SI) multipliers: k = 10^3, M = 10^6, G = 10^9, T = 10^12, case
 * insensitive, optionally followed by 'bit', 'bits', 'bps', 'bit/s'. A bare number is bits/s.
 * Returns whole bits/s (rounded). Throws UsageError for negatives, garbage, values beyond 2^53,
 * and 0 unless `opts.allowZero`.
 */
export function parseRate(text: string, opts: { allowZero?: boolean } = {}): number {
  const m = RATE_RE.exec(text.trim());
  if (m === null) throw new UsageError(`invalid rate '${text}': expected ${RATE_FORM}`);
  const unit = RATE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1;
  const bps = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bps)) throw new UsageError(`invalid rate '${text}': too large`);
  if (bps === 0 && opts.allowZero !== true) {
    throw new UsageError(`invalid rate '${text}': must be greater than 0`);
  }
  return bps;
}

/**
 * Parses a duration with a unit ('500ms', '2s', '1.5m', '1h', '7d'; a bare '0' is allowed) and returns
 * whole milliseconds. Throws UsageError for anything else.
 */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === '0') return 0;
  const m = DURATION_RE.exec(t);
  if (m === null) throw new UsageError(`invalid duration '${text}': expected ${DURATION_FORM}`);
  const ms = Math.round(Number(m[1]) * (DURATION_UNITS[m[2] ?? 'ms'] ?? 1));
  if (!Number.isSafeInteger(ms)) throw new UsageError(`invalid duration '${text}': too large`);
  return ms;
}

function programName(spec: CommandSpec): string {
  return spec.name === '' || spec.name.startsWith('jetrecv') ? spec.name || 'jetrecv' : `jetrecv ${spec.name}`;
}

function defaultValueName(flag: FlagSpec): string {
  return flag.valueName ?? flag.type.toUpperCase();
}

/** Converts one textual value; throws UsageError "--name: expected X, got 'v'". */
function convertValue(flag: FlagSpec, raw: string): string | number {
  const fail = (expected: string): never => {
    throw new UsageError(`--${flag.name}: expected ${expected}, got '${raw}'`, { flag: flag.name, value: raw });
  };
  const checkBounds = (n: number, expected: string): number => {
    if ((flag.min !== undefined && n < flag.min) || (flag.max !== undefined && n > flag.max)) fail(expected);
    return n;
  };
  switch (flag.type) {
    case 'string':
      return raw;
    case 'path':
      if (raw === '' || raw.includes('\0')) fail('a non-empty path');
      return raw;
    case 'int': {
      const range =
        flag.min !== undefined && flag.max !== undefined
          ? `an integer ${flag.min}-${flag.max}`
          : flag.min !== undefined
            ? `an integer >= ${flag.min}`
            : flag.max !== undefined
              ? `an integer <= ${flag.max}`
              : 'an integer';
      if (flag.auto === true && raw === 'auto') return raw;
      const expected = flag.auto === true ? `${range} or 'auto'` : range;
      if (!/^[+-]?\d+$/.test(raw)) fail(expected);
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) fail(expected);
      return checkBounds(n, expected);
    }
    case 'port': {
      const lo = flag.allowZero === true ? 0 : 1;
      const expected = `a port ${lo}-65535`;
      if (!/^\d+$/.test(raw)) fail(expected);
      const n = Number(raw);
      if (n < lo || n > 65535) fail(expected);
      return n;
    }
    case 'rate':
      try {
        return parseRate(raw, { allowZero: flag.allowZero === true });
      } catch {
        return fail(flag.allowZero === true ? `${RATE_FORM} (0 = no limit)` : RATE_FORM);
      }
    case 'duration': {
      let ms: number;
      try {
        ms = parseDuration(raw);
      } catch {
        return fail(DURATION_FORM);
      }
      return checkBounds(ms, `${DURATION_FORM} between ${flag.min ?? 0}ms and ${flag.max ?? 'any'}ms`);
    }
    case 'bool':
      // Unreachable: bool flags never carry a value (handled by the caller).
      return fail('no value');
  }
}

/** Spec mistakes are programming errors, not usage errors: plain Error. */
function indexSpec(spec: CommandSpec): { byName: Map<string, FlagSpec>; byShort: Map<string, FlagSpec> } {
  const byName = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const flag of spec.flags) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(flag.name) || flag.name === 'help') {
      throw new Error(`command spec '${spec.name}': bad flag name '${flag.name}'`);
    }
    if (byName.has(flag.name)) throw new Error(`command spec '${spec.name}': duplicate flag --${flag.name}`);
    byName.set(flag.name, flag);
    if (flag.short !== undefined) {
      if (!/^[a-zA-Z0-9]$/.test(flag.short) || flag.short === 'h' || byShort.has(flag.short)) {
        throw new Error(`command spec '${spec.name}': bad or duplicate short flag -${flag.short}`);
      }
      byShort.set(flag.short, flag);
    }
  }
  return { byName, byShort };
}

function applyDefault(spec: CommandSpec, flag: FlagSpec): unknown {
  const d = flag.default;
  if (d === undefined) {
    if (flag.repeatable === true) return [];
    return flag.type === 'bool' ? false : undefined;
  }
  const convert = (v: unknown): unknown => {
    if (typeof v !== 'string' || flag.type === 'string' || flag.type === 'path' || flag.type === 'bool') return v;
    try {
      return convertValue(flag, v);
    } catch (err) {
      throw new Error(`command spec '${spec.name}': bad default for --${flag.name}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (flag.repeatable === true) return (Array.isArray(d) ? d : [d]).map(convert);
  return convert(d);
}

/**
 * Parses `argv` (without the program and command names) against `spec`.
 * Throws UsageError for unknown flags, missing or malformed values, and (unless help was
 * requested) too few or too many positional arguments.
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const { byName, byShort } = indexSpec(spec);
  const prog = programName(spec);
  const given = new Map<string, unknown>();
  const positionals: string[] = [];
  let help = false;

  const unknown = (shown: string): never => {
    throw new UsageError(`unknown flag ${shown} for '${prog}' (see ${prog} --help)`, { flag: shown });
  };
  const store = (flag: FlagSpec, value: unknown): void => {
    if (flag.repeatable === true) {
      const list = (given.get(flag.name) as unknown[] | undefined) ?? [];
      list.push(value);
      given.set(flag.name, list);
    } else {
      given.set(flag.name, value);
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    let flag: FlagSpec | undefined;
    let inline: string | undefined;
    let negated = false;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      shown = `--${name}`;
      flag = byName.get(name);
      if (flag === undefined && name.startsWith('no-')) {
        const positive = byName.get(name.slice(3));
        if (positive?.type === 'bool') {
          flag = positive;
          negated = true;
        }
      }
      if (flag === undefined) return unknown(shown);
    } else if (arg.length >= 2 && arg.startsWith('-') && !/^-\d/.test(arg)) {
      // '-x', '-x=value' or '-xvalue'. A lone '-' and negative numbers are positionals.
      shown = arg.slice(0, 2);
      flag = byShort.get(arg.charAt(1));
      if (flag === undefined) return unknown(shown);
      if (arg.length > 2) inline = arg.charAt(2) === '=' ? arg.slice(3) : arg.slice(2);
    } else {
      positionals.push(arg);
      continue;
    }

    if (flag.type === 'bool') {
      if (inline !== undefined) {
        throw new UsageError(`${shown} takes no value (use --${flag.name} or --no-${flag.name}), got '${inline}'`, {
          flag: flag.name,
        });
      }
      store(flag, !negated);
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2) || next === '-h') {
        throw new UsageError(
          `${shown}: missing value (expected ${shown} ${defaultValueName(flag)} or --${flag.name}=${defaultValueName(flag)})`,
          { flag: flag.name },
        );
      }
      raw = next;
      i++;
    }
    store(flag, convertValue(flag, raw));
  }

  const flags: Record<string, unknown> = {};
  for (const flag of spec.flags) {
    flags[flag.name] = given.has(flag.name) ? given.get(flag.name) : applyDefault(spec, flag);
  }

  if (!help) {
    const pos = spec.positionals;
    if (pos === undefined) {
      if (positionals.length > 0) {
        throw new UsageError(`unexpected argument '${positionals[0]}' for '${prog}' (see ${prog} --help)`);
      }
    } else {
      if (positionals.length < pos.min) {
        throw new UsageError(
          `missing ${pos.name} argument for '${prog}': expected at least ${pos.min}, got ${positionals.length} (see ${prog} --help)`,
        );
      }
      if (pos.max !== undefined && positionals.length > pos.max) {
        throw new UsageError(
          `too many arguments for '${prog}': expected at most ${pos.max} ${pos.name}, got ${positionals.length} (see ${prog} --help)`,
        );
      }
    }
  }
  return { flags, positionals, help };
}

const HELP_WIDTH = 100;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter((w) => w !== '')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === '' ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return lines;
}

function formatDefault(flag: FlagSpec): string | undefined {
  const d = flag.default;
  if (d === undefined || d === false || (Array.isArray(d) && d.length === 0) || d === '') return undefined;
  if (flag.type === 'bool') return undefined; // shown as --[no-]name instead
  return Array.isArray(d) ? d.join(', ') : String(d);
}

/**
 * Formats `jetrecv <command> --help`: usage, summary, description, positional arguments and
 * flags with value names, help text, defaults and repeatability, in aligned columns.
 */
export function formatHelp(spec: CommandSpec): string {
  const rows: [string, string][] = [];
  for (const flag of spec.flags) {
    const short = flag.short !== undefined ? `-${flag.short}, ` : '    ';
    let left: string;
    if (flag.type === 'bool') {
      left = flag.default === true ? `${short}--[no-]${flag.name}` : `${short}--${flag.name}`;
    } else {
      left = `${short}--${flag.name} ${defaultValueName(flag)}`;
    }
    let right = flag.help;
    if (flag.repeatable === true) right += ' (repeatable)';
    const d = formatDefault(flag);
    if (d !== undefined) right += ` (default: ${d})`;
    rows.push([left, right]);
  }
  rows.push(['-h, --help', 'Show this help and exit.']);

  const out: string[] = [`Usage: ${spec.usage}`, '', spec.summary];
  if (spec.description !== undefined && spec.description !== '') out.push('', ...wrap(spec.description, HELP_WIDTH));
  if (spec.positionals !== undefined) {
    out.push('', 'Arguments:');
    const name = spec.positionals.name;
    const col = Math.max(name.length + 2, 14);
    out.push(`  ${name.padEnd(col)}${spec.positionals.help}`);
  }
  out.push('', 'Options:');
  const col = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 40);
  for (const [left, right] of rows) {
    const textLines = wrap(right, Math.max(HELP_WIDTH - col - 2, 30));
    if (left.length + 2 > col) {
      out.push(`  ${left}`);
      for (const l of textLines) out.push(`  ${' '.repeat(col)}${l}`);
    } else {
      out.push(`  ${left.padEnd(col)}${textLines[0] ?? ''}`);
      for (const l of textLines.slice(1)) out.push(`  ${' '.repeat(col)}${l}`);
    }
  }
  return `${out.join('\n')}\n`;
}
