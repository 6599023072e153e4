// config-file.ts — the `jetrecv serve` config file: a JSON object whose keys are the long flag
// names of `jetrecv serve` (`"sandbox-dir"`, `"recv-port"`, `"superuser": ["alice"]`, ...).
// Values are checked with the same FlagSpec (type, bounds) the command line uses; every problem
// throws JetrecvError code CONFIG naming the file and the key. Flags given on the command line
// win over the file (mergeConfig). Some settings can change on SIGHUP, the rest need a restart.
//
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type CommandSpec, type FlagSpec } from './args.js';
import { serveSpec } from './serve-spec.js';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { LOG_LEVELS } from '../log.js';
import { TRANSFER_EVENT_TYPES } from '../recv/transfer-events.js';

/** The flag that names the config file; it cannot appear inside a config file. */
export const CONFIG_FLAG = 'config';

/** Default location used by the systemd unit. */
export const DEFAULT_CONFIG_PATH = '/etc/jetrecv/jetrecv.conf';

/**
 * Settings a running daemon applies on SIGHUP without a restart. Every other `jetrecv serve`
 * setting is restart-only (see {@link restartOnlySettings}).
 * - `log-level`: the root logger's level (child loggers follow).
 * - `superuser`: the API's superuser list (takes effect at each user's next server.superuser()).
 * - `session-timeout`: the idle limit applied to sessions from then on.
 * - `resume-retention`: the resume retention; a sweep runs at once with the new value.
 * - `hook-*`, `webhook-*` (the secret file is re-read): for events from then on.
 * - `events-progress-interval`: at the next progress tick of each event stream.
 */
export const RELOADABLE_SETTINGS: readonly string[] = Object.freeze([
  'log-level',
  'superuser',
  'session-timeout',
  'resume-retention',
  'incoming-rate-limit',
  'incoming-rate-limit-per-source',
  'hook-command',
  'hook-events',
  'hook-timeout',
  'hook-concurrency',
  'hook-queue',
  'webhook-url',
  'webhook-secret-file',
  'webhook-timeout',
  'webhook-retries',
  'webhook-retry-backoff',
  'webhook-queue',
  'events-progress-interval',
]);

/**
 * Settings whose string value must be one of a fixed list. The CLI checks these later, in
 * serveConfigFromFlags; checking them here too makes a bad file fail at load (and a SIGHUP
 * reload refuse it) with a message naming the file and the key.
 */
const SETTING_CHOICES: Readonly<Record<string, readonly string[]>> = {
  'log-level': LOG_LEVELS,
  'min-cipher': ['chacha20-poly1305', 'aes-256-gcm'],
  'direct-io': ['auto', 'off'],
  'hook-events': TRANSFER_EVENT_TYPES,
};

/** What a JSON value for each flag type looks like, for error messages. */
const JSON_FORM: Record<FlagSpec['type'], string> = {
  string: 'a JSON string',
  path: "a JSON string (a path; relative paths are resolved against the config file's directory)",
  int: 'a JSON number',
  port: 'a JSON number',
  bool: 'true or false',
  rate: "a JSON number of bits/s or a string like '10G'",
  duration: "a JSON string like '30s', '500ms', '1m' or '7d'",
};

/** Settings that a running daemon cannot change: every serve flag not in RELOADABLE_SETTINGS. */
export function restartOnlySettings(spec: CommandSpec = serveSpec): string[] {
  return spec.flags.map((f) => f.name).filter((n) => n !== CONFIG_FLAG && !RELOADABLE_SETTINGS.includes(n));
}

function configError(file: string, message: string, details: Record<string, unknown> = {}): JetrecvError {
  return new JetrecvError(ErrorCodes.CONFIG, `${file}: ${message}`, { path: file, ...details });
}

/** Optimal-string-alignment edit distance, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The closest known key to `key`, if it is close enough to be a likely typo. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const bare = key.replace(/^-+/, '').toLowerCase().replace(/_/g, '-');
  if (bare !== key && known.includes(bare)) return bare;
  const extending = known.filter((name) => name.startsWith(`${bare}-`));
  if (extending.length === 1) return extending[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = editDistance(bare, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(bare.length / 4)) ? best : undefined;
}

/**
 * The offset of the first JSON syntax error in `text`, or null if it parses. Only used to point
 * at the error: Node 20's JSON.parse messages do not always carry a position.
 */
export function jsonErrorOffset(text: string): number | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const string = (): void => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
          continue;
        }
        if (!'"\\/bfnrt'.includes(text.charAt(i)) || i >= text.length) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (m === null) fail();
    i += (m as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else number();
  };
  try {
    value();
    ws();
    return i < text.length ? i : null;
  } catch (offset) {
    if (typeof offset === 'number') return Math.min(offset, text.length);
    throw offset;
  }
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}

/**
 * Validates one scalar value through the CLI's own parser, so types, bounds and units are
 * exactly those of `--name=value`. Returns the converted value (numbers for ports, ints,
 * rates in bits/s and durations in ms).
 */
function convertScalar(file: string, key: string, flag: FlagSpec, value: unknown, baseDir: string): unknown {
  const fail = (expected: string): never => {
    throw configError(file, `key '${key}': expected ${expected}, got ${describeJson(value)}`, { key });
  };
  if (flag.type === 'bool') {
    return typeof value === 'boolean' ? value : fail(JSON_FORM.bool);
  }
  let text: string;
  if (typeof value === 'string') {
    if ((flag.type === 'int' && !(flag.auto === true && value === 'auto')) || flag.type === 'port') {
      return fail(flag.auto === true ? `${JSON_FORM.int} or 'auto'` : JSON_FORM[flag.type]);
    }
    text = value;
  } else if (typeof value === 'number') {
    if (flag.type !== 'int' && flag.type !== 'port' && flag.type !== 'rate') return fail(JSON_FORM[flag.type]);
    if (!Number.isFinite(value)) return fail(JSON_FORM[flag.type]);
    text = String(value);
  } else {
    return fail(JSON_FORM[flag.type]);
  }
  const single: CommandSpec = {
    name: 'config',
    summary: '',
    usage: '',
    flags: [{ ...flag, repeatable: false, default: undefined, short: undefined }],
  };
  let converted: unknown;
  try {
    converted = parseArgs(single, [`--${flag.name}=${text}`]).flags[flag.name];
  } catch (err) {
    // The CLI says "--name: expected X, got 'v'"; keep the "expected X" part.
    const message = (err as Error).message;
    const expected = /: expected (.*), got /s.exec(message)?.[1] ?? JSON_FORM[flag.type];
    return fail(expected);
  }
  const choices = SETTING_CHOICES[flag.name];
  if (choices !== undefined && !choices.includes(converted as string)) {
    return fail(`one of ${choices.map((c) => `'${c}'`).join(', ')}`);
  }
  if (flag.type === 'path') return path.resolve(baseDir, converted as string);
  return converted;
}

/**
 * Parses and validates config text (JSON). Keys are serve flag names; keys starting with '//'
 * are comments and ignored. Returns only the keys present, with converted values.
 * `file` labels error messages; `baseDir` anchors relative paths.
 * @throws JetrecvError CONFIG naming `file` and the bad key.
 */
export function parseConfigText(text: string, file: string, opts: { baseDir?: string; spec?: CommandSpec } = {}): Record<string, unknown> {
  const spec = opts.spec ?? serveSpec;
  const baseDir = opts.baseDir ?? path.dirname(path.resolve(file));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const offset = jsonErrorOffset(text);
    let where = '';
    if (offset !== null) {
      const before = text.slice(0, offset);
      const line = before.split('\n').length;
      const column = before.length - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${column}`;
    }
    throw configError(file, `not valid JSON${where}: ${message.replace(/\s*\n\s*/g, ' ')}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError(file, `expected a JSON object of settings like {"sandbox-dir": "/srv/jetrecv"}, got ${describeJson(raw)}`);
  }
  const flags = new Map(spec.flags.map((f) => [f.name, f]));
  const known = spec.flags.map((f) => f.name).filter((n) => n !== CONFIG_FLAG);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key.startsWith('//')) continue;
    if (key === CONFIG_FLAG) {
      throw configError(file, `key '${key}' is not allowed in a config file (a config file cannot name another)`, { key });
    }
    const flag = flags.get(key);
    if (flag === undefined) {
      const hint = suggestKey(key, known);
      throw configError(file, `unknown key '${key}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ''}`, { key });
    }
    if (flag.repeatable === true) {
      if (!Array.isArray(value)) {
        throw configError(
          file,
          `key '${key}': expected a JSON array (each item ${JSON_FORM[flag.type]}), like ["a", "b"], got ${describeJson(value)}`,
          { key },
        );
      }
      out[key] = value.map((item, i) => convertScalar(file, `${key}[${i}]`, flag, item, baseDir));
    } else {
      out[key] = convertScalar(file, key, flag, value, baseDir);
    }
  }
  return out;
}

/**
 * Reads and validates a config file (see {@link parseConfigText}). Relative paths in it are
 * resolved against the file's directory.
 * @throws JetrecvError CONFIG when the file cannot be read or is invalid.
 */
export function loadConfigFile(file: string, spec: CommandSpec = serveSpec): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Node's message already starts with the code ("ENOENT: no such file or directory, open ...").
    const reason = e.code !== undefined && !e.message.startsWith(e.code) ? `${e.code}: ${e.message}` : e.message;
    throw configError(file, `cannot read the config file: ${reason}`.replace(/\s+/g, ' '), { errno: e.code ?? null });
  }
  return parseConfigText(text, file, { baseDir: path.dirname(path.resolve(file)), spec });
}

/**
 * The names of the flags that appear on `argv` (as `--name`, `--no-name`, `--name=v` or a short
 * alias), as opposed to flags parseArgs filled with defaults. `argv` must already have passed
 * parseArgs(spec, argv); unknown tokens are ignored.
 */
export function flagsGivenOnCommandLine(spec: CommandSpec, argv: readonly string[]): Set<string> {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short !== undefined).map((f) => [f.short as string, f]));
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg === '-h' || arg === '--help') continue;
    let flag: FlagSpec | undefined;
    let hasInlineValue = false;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      hasInlineValue = eq !== -1;
      flag = byName.get(name);
      if (flag === undefined && name.startsWith('no-')) {
        const positive = byName.get(name.slice(3));
        if (positive?.type === 'bool') flag = positive;
      }
    } else if (arg.length >= 2 && arg.startsWith('-') && !/^-\d/.test(arg)) {
      flag = byShort.get(arg.charAt(1));
      hasInlineValue = arg.length > 2;
    }
    if (flag === undefined) continue;
    given.add(flag.name);
    if (flag.type !== 'bool' && !hasInlineValue) i++; // skip the separate value token
  }
  return given;
}

/**
 * Merges config-file values under command-line flags: a flag given on the command line
 * (`givenOnCli`, from {@link flagsGivenOnCommandLine}) wins, else the file's value, else the
 * CLI default already in `cliFlags`. A repeatable flag given on the command line replaces the
 * file's list (no concatenation). Returns a new record shaped like parseArgs' `flags`.
 */
export function mergeConfig(
  fileValues: Record<string, unknown>,
  cliFlags: Record<string, unknown>,
  givenOnCli: ReadonlySet<string>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...cliFlags };
  for (const [key, value] of Object.entries(fileValues)) {
    if (!givenOnCli.has(key)) merged[key] = value;
  }
  return merged;
}

/** One setting that differs between two configurations. */
export interface SettingChange {
  name: string;
  from: unknown;
  to: unknown;
}

/** Result of {@link diffReloadable}. */
export interface ReloadDiff {
  /** Changed settings the daemon applies now (names from RELOADABLE_SETTINGS). */
  reloadable: SettingChange[];
  /** Changed settings that take effect only after a restart; log them, do not apply. */
  restartRequired: SettingChange[];
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Compares two merged flag records (before and after a SIGHUP re-read) and splits the changed
 * settings into those a running daemon applies and those needing a restart. The `config` key
 * itself is ignored.
 */
export function diffReloadable(previous: Record<string, unknown>, next: Record<string, unknown>): ReloadDiff {
  const diff: ReloadDiff = { reloadable: [], restartRequired: [] };
  const names = new Set([...Object.keys(previous), ...Object.keys(next)]);
  for (const name of names) {
    if (name === CONFIG_FLAG || sameValue(previous[name], next[name])) continue;
    const change = { name, from: previous[name], to: next[name] };
    (RELOADABLE_SETTINGS.includes(name) ? diff.reloadable : diff.restartRequired).push(change);
  }
  return diff;
}

/** The effective serve flags and where they came from; input to {@link reloadServeFlags}. */
export interface ServeFlags {
  /** Merged flags, shaped like parseArgs(serveSpec).flags; pass to serveConfigFromFlags. */
  flags: Record<string, unknown>;
  /** True when -h/--help was given. */
  help: boolean;
  /** The --config file, absolute, if one was given. */
  configPath?: string;
  /** Flags as parsed from the command line (defaults filled in), kept for reloads. */
  cliFlags: Record<string, unknown>;
  /** Flags given explicitly on the command line; they keep winning over the file on reload. */
  givenOnCli: ReadonlySet<string>;
}

/**
 * Parses `jetrecv serve` argv, then reads `--config FILE` if given and merges it under the
 * command line. Throws UsageError for a bad command line, JetrecvError CONFIG for a bad file.
 */
export function loadServeFlags(argv: readonly string[], spec: CommandSpec = serveSpec): ServeFlags {
  const parsed = parseArgs(spec, argv);
  const givenOnCli = flagsGivenOnCommandLine(spec, argv);
  const configArg = parsed.flags[CONFIG_FLAG];
  if (parsed.help || typeof configArg !== 'string') {
    return { flags: parsed.flags, help: parsed.help, cliFlags: parsed.flags, givenOnCli };
  }
  const configPath = path.resolve(configArg);
  const flags = mergeConfig(loadConfigFile(configPath, spec), parsed.flags, givenOnCli);
  return { flags, help: false, configPath, cliFlags: parsed.flags, givenOnCli };
}

/**
 * SIGHUP: re-reads the config file of `current` and merges it under the same command line.
 * Throws JetrecvError CONFIG if the file is now broken: the caller logs it and keeps `current`.
 * Without a config file, returns `current`'s flags and an empty diff.
 */
export function reloadServeFlags(current: ServeFlags, spec: CommandSpec = serveSpec): { next: ServeFlags; diff: ReloadDiff } {
  if (current.configPath === undefined) return { next: current, diff: { reloadable: [], restartRequired: [] } };
  const flags = mergeConfig(loadConfigFile(current.configPath, spec), current.cliFlags, current.givenOnCli);
  const next: ServeFlags = { ...current, flags };
  return { next, diff: diffReloadable(current.flags, flags) };
}

/**
 * The flags a daemon runs with after applying `diff`: `current` with only the reloadable
 * changes taken over. Restart-only changes stay out, so the next reload reports them again
 * until the daemon is restarted.
 */
export function applyReloadable(current: ServeFlags, diff: ReloadDiff): ServeFlags {
  const flags = { ...current.flags };
  for (const change of diff.reloadable) flags[change.name] = change.to;
  return { ...current, flags };
}

/**
 * A Markdown table of every config key (from the serve flag specs): key, JSON type, default,
 * reloadable, meaning. docs/OPERATIONS.md carries its output.
 */
export function formatConfigReference(spec: CommandSpec = serveSpec): string {
  const rows = ['| key | value | default | on SIGHUP | meaning |', '|---|---|---|---|---|'];
  for (const flag of spec.flags) {
    if (flag.name === CONFIG_FLAG) continue;
    const valueForm =
      flag.repeatable === true
        ? `array of ${flag.type === 'string' ? 'strings' : flag.type}`
        : {
            string: 'string',
            path: 'path (string)',
            int: 'integer',
            port: 'port (integer)',
            bool: 'boolean',
            rate: "bits/s or '10G'",
            duration: "duration ('30s')",
          }[flag.type];
    const bounds =
      (flag.type === 'int' && (flag.min !== undefined || flag.max !== undefined) ? ` ${flag.min ?? ''}..${flag.max ?? ''}` : '') +
      (flag.auto === true ? " or 'auto'" : '');
    const def =
      flag.name === 'server-name'
        ? 'host name'
        : flag.default === undefined
          ? flag.type === 'bool'
            ? 'false'
            : ''
          : JSON.stringify(flag.default);
    const reload = RELOADABLE_SETTINGS.includes(flag.name) ? 'applied' : 'restart';
    rows.push(
      `| \`${flag.name}\` | ${valueForm}${bounds} | ${def.replace(/\|/g, '\\|')} | ${reload} | ${flag.help.replace(/\|/g, '\\|')} |`,
    );
  }
  return `${rows.join('\n')}\n`;
}
