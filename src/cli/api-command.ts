// api-command.ts — `jetrecv api [global flags] <command> [--param=value ...]`: one API call
// from the console, printed as pretty JSON (JetStream's `jetstream api`). Global flags come
// before the command; everything after it is the method's parameters. Values are parsed as
// JSON when they parse (true, 3, {"a":1}), else taken as strings. Commands may omit the
// namespace when the name is unique (getServerInfo = server.getServerInfo).
// `jetrecv api --user U watch` prints the event stream instead (api-watch.ts).
// Exit codes: 0 ok, 1 API error (JSON on stderr), 2 usage.
import { METHODS, resolveMethodName, type MethodSpec } from '../api/catalog.js';
import { ApiCallError } from '../api/api-errors.js';
import { EVENTS_ROUTE } from '../api/event-stream.js';
import { printEvents, WATCH_COMMAND } from './api-watch.js';
import { validateParams } from '../api/params.js';
import { ApiError, DEFAULT_API_PORT, JetrecvClient } from '../client/index.js';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { adminSocketCandidates, defaultAdminSocketPath } from '../api/local-admin.js';
import { UsageError } from '../errors.js';
import { formatHelp, parseArgs, type CommandSpec, type FlagSpec } from '../config/args.js';
import { processIo, promptHidden, type CommandIo } from './user-command.js';

/** Environment variable holding the API password for --user. */
export const API_PASSWORD_ENV = 'JETRECV_API_PASSWORD';

export const apiSpec: CommandSpec = {
  name: 'api',
  summary: 'call the receiver API (RecvInterface) and print JSON',
  usage:
    'jetrecv api [--admin-socket PATH | --host H] [--api-control-port P] [--user U | --token-env VAR] [--wait] [--tls] <command> [--param=value ...]',
  description:
    'Calls one API method and prints its answer as JSON. <command> is a method name with or ' +
    'without its namespace (getServerInfo, recv.getSourcesAsync). Parameters follow the command ' +
    'as --name=value or --name value; a value that parses as JSON (true, 42, {"a":1}) is sent ' +
    'as that JSON, anything else as a string; a bare --name means true. ' +
    'Without --user, --token-env, --host, --api-control-port or --http, the call goes over the ' +
    "daemon's local admin socket when it is there and this process may use it (root, the " +
    "daemon's user or its --admin-socket-group): no password, superuser at once. Otherwise " +
    'it goes to the HTTP API. With --user the ' +
    `password comes from $${API_PASSWORD_ENV} or a prompt on the terminal. Superuser-only ` +
    "methods elevate the session automatically (the user must be named by the daemon's " +
    '--superuser). --wait waits for an *Async request and prints its result instead of the ' +
    `request id. The command '${WATCH_COMMAND}' prints the live transfer events ` +
    '(GET /api/v1/events), one JSON object per line, until interrupted.',
  flags: [
    { name: 'host', type: 'string', valueName: 'HOST', default: '127.0.0.1', help: 'API host' },
    { name: 'api-control-port', type: 'port', valueName: 'PORT', default: DEFAULT_API_PORT, help: 'API TCP port' },
    {
      name: 'admin-socket',
      type: 'path',
      valueName: 'PATH',
      help: `the daemon's local admin socket; without it, the first of ${adminSocketCandidates().join(', ')} that exists`,
    },
    { name: 'http', type: 'bool', help: 'use the HTTP API even when the admin socket is there' },
    { name: 'user', type: 'string', valueName: 'USER', help: 'log in as this user first (HTTP API)' },
    {
      name: 'token-env',
      type: 'string',
      valueName: 'VAR',
      help: 'send the API token held in environment variable VAR (HTTP API; never a token on the command line)',
    },
    { name: 'wait', type: 'bool', help: 'wait for an *Async request and print its result' },
    { name: 'wait-timeout', type: 'duration', valueName: 'DURATION', default: '5m', help: 'how long --wait waits' },
    {
      name: 'superuser',
      type: 'bool',
      help: 'elevate the session even for methods that do not need it (e.g. getServerInfo shows the configuration)',
    },
    { name: 'tls', type: 'bool', help: 'use HTTPS' },
    { name: 'tls-ca', type: 'path', valueName: 'FILE', help: "trust this CA certificate (PEM), e.g. the server's self-signed one" },
    { name: 'tls-insecure', type: 'bool', help: 'do not verify the server certificate' },
  ],
  positionals: { name: 'COMMAND', help: 'API method, then its --param=value arguments', min: 1, max: 1 },
};

function commandList(): string {
  const lines = ['', 'Commands (parameters; access):', `  ${WATCH_COMMAND}  (session): live transfer events, one JSON per line`];
  for (const m of METHODS) {
    const params = m.params.map((p) => (p.required ? `--${p.name}=${p.type}` : `[--${p.name}=${p.type}]`)).join(' ');
    lines.push(`  ${m.name}${params !== '' ? ` ${params}` : ''}  (${m.access})`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Splits argv into global flags, the command and the parameter arguments: the command is the
 * first argument that is neither a flag nor the value of a global flag.
 */
function splitArgv(argv: string[]): { globals: string[]; command: string | undefined; paramArgs: string[] } {
  const byName = new Map<string, FlagSpec>(apiSpec.flags.map((f) => [f.name, f]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      return { globals: argv.slice(0, i), command: argv[i + 1], paramArgs: argv.slice(i + 2) };
    }
    if (arg.startsWith('-') && arg !== '-') {
      const name = arg.replace(/^--?/, '').split('=')[0] as string;
      const flag = byName.get(name);
      if (!arg.includes('=') && flag !== undefined && flag.type !== 'bool') i++; // skip the value
      continue;
    }
    return { globals: argv.slice(0, i), command: arg, paramArgs: argv.slice(i + 1) };
  }
  return { globals: argv, command: undefined, paramArgs: [] };
}

/** JSON when it parses, else the text itself. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Parses `--name=value`, `--name value` and `--name` (true) into named parameters. */
export function parseParamArgs(args: string[]): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const m = /^--([A-Za-z_][A-Za-z0-9_]*)(?:=([\s\S]*))?$/.exec(arg);
    if (m === null) {
      throw new UsageError(`unexpected argument '${arg}': parameters are --name=value (after the command)`);
    }
    const name = m[1] as string;
    if (Object.hasOwn(params, name)) throw new UsageError(`parameter --${name} given twice`);
    let value: unknown;
    if (m[2] !== undefined) value = parseValue(m[2]);
    else if (i + 1 < args.length && !(args[i + 1] as string).startsWith('--')) value = parseValue(args[++i] as string);
    else value = true;
    params[name] = value;
  }
  return params;
}

/**
 * The admin socket to use, or undefined for the HTTP API: --admin-socket when given; else,
 * unless the command line asks for HTTP (--http, --user, --token-env, --tls, --host,
 * --api-control-port), the first default location holding a socket this process may connect to.
 */
function chooseAdminSocket(flags: Record<string, unknown>, globals: string[], env: Record<string, string | undefined>): string | undefined {
  const given = flags['admin-socket'] as string | undefined;
  if (given !== undefined) return given;
  const wantsHttp =
    flags['http'] === true ||
    flags['user'] !== undefined ||
    flags['token-env'] !== undefined ||
    flags['tls'] === true ||
    globals.some((a) => /^--?(host|api-control-port|tls-ca)(=|$)/.test(a));
  if (wantsHttp) return undefined;
  return adminSocketCandidates(env).find((socketPath) => {
    try {
      accessSync(socketPath, fsConstants.W_OK); // connect(2) needs write permission
      return statSync(socketPath).isSocket();
    } catch {
      return false;
    }
  });
}

async function readApiPassword(io: CommandIo, user: string): Promise<string> {
  const fromEnv = io.env[API_PASSWORD_ENV];
  if (fromEnv !== undefined) return fromEnv;
  return promptHidden(`Password for ${user}: `, io, `set ${API_PASSWORD_ENV}`);
}

/** Runs `jetrecv api ...` (argv after 'api'). */
export async function runApiCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  let client: JetrecvClient | undefined;
  let loggedIn = false;
  try {
    const { globals, command, paramArgs } = splitArgv(argv);
    const parsed = parseArgs(apiSpec, command === undefined ? globals : [...globals, command]);
    if (parsed.help) {
      io.stdout.write(formatHelp(apiSpec) + commandList());
      return 0;
    }
    const watch = command === WATCH_COMMAND;
    const method: MethodSpec | undefined = watch ? EVENTS_ROUTE : resolveMethodName(command as string);
    if (method === undefined) {
      throw new UsageError(`unknown command '${command}' (run 'jetrecv api --help' for the list)`);
    }
    let params: Record<string, unknown>;
    try {
      params = validateParams(method, parseParamArgs(paramArgs));
    } catch (err) {
      if (err instanceof ApiCallError) throw new UsageError(err.message);
      throw err;
    }
    const user = parsed.flags['user'] as string | undefined;
    const tokenEnv = parsed.flags['token-env'] as string | undefined;
    if (user !== undefined && tokenEnv !== undefined)
      throw new UsageError('--user and --token-env exclude each other: log in, or send a token');
    let apiToken: string | undefined;
    if (tokenEnv !== undefined) {
      apiToken = io.env[tokenEnv];
      if (apiToken === undefined || apiToken === '')
        throw new UsageError(`--token-env: environment variable ${tokenEnv} is not set or empty`);
    }
    const socketPath = chooseAdminSocket(parsed.flags, globals, io.env);
    if (socketPath !== undefined && (user !== undefined || tokenEnv !== undefined)) {
      throw new UsageError("--admin-socket authenticates by this process's user: it takes no --user or --token-env");
    }
    const elevate =
      socketPath === undefined && apiToken === undefined && (method.access === 'superuser' || parsed.flags['superuser'] === true);
    if (socketPath === undefined && user === undefined && apiToken === undefined && (method.access !== 'public' || elevate)) {
      throw new UsageError(
        `${method.name} needs a session: give --user NAME (password from $${API_PASSWORD_ENV} or a prompt) or --token-env VAR (an API token), ` +
          `or run this as root or the daemon's user on its host (local admin socket ${defaultAdminSocketPath(io.env)})`,
      );
    }
    const caFile = parsed.flags['tls-ca'] as string | undefined;
    const useTls = parsed.flags['tls'] === true || caFile !== undefined;
    let ca: Buffer | undefined;
    if (caFile !== undefined) {
      const { readFile } = await import('node:fs/promises');
      try {
        ca = await readFile(caFile);
      } catch (err) {
        throw new UsageError(`--tls-ca: cannot read ${caFile}: ${(err as Error).message}`);
      }
    }
    client = new JetrecvClient({
      ...(socketPath !== undefined ? { socketPath } : {}),
      ...(apiToken !== undefined ? { token: apiToken } : {}),
      host: parsed.flags['host'] as string,
      port: parsed.flags['api-control-port'] as number,
      tls: useTls ? (ca !== undefined ? { ca } : true) : false,
      rejectUnauthorized: parsed.flags['tls-insecure'] !== true,
    });
    if (user !== undefined && method.name !== 'server.auth' && method.name !== 'server.authAsync') {
      const password = await readApiPassword(io, user);
      await client.server.auth(user, password);
      loggedIn = true;
      if (elevate) await client.server.superuser();
    }
    if (watch) return await printEvents(client, io);
    let result: unknown = await client.call(method.name, params);
    if (parsed.flags['wait'] === true && method.async) {
      result = await client.wait(result as { requestId: number }, parsed.flags['wait-timeout'] as number);
    }
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`jetrecv api: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      io.stderr.write(`${JSON.stringify(err.toJSON(), null, 2)}\n`);
      return 1;
    }
    throw err;
  } finally {
    if (client !== undefined) {
      if (loggedIn) await client.server.logout().catch(() => {});
      client.close();
    }
  }
}
