// user-command.ts — `jetrecv user add|remove|list|passwd NAME --persistent-state-dir DIR`:
// manages the API users in <DIR>/users.json. A running daemon sees changes on its next API
// call. Passwords come from $JETRECV_USER_PASSWORD or a prompt on the terminal (asked twice,
// not echoed), never from a flag. Also home of the CLI's no-echo password prompt.
import { isJetrecvError, UsageError } from '../errors.js';
import { UserStore } from '../state/users.js';
import { formatHelp, parseArgs, type CommandSpec } from '../config/args.js';

/** Streams and environment of a command (process ones by default; tests pass their own). */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /** The terminal for prompts; prompts are refused when it is not a TTY. */
  stdin: NodeJS.ReadStream;
}

/** The process's own streams and environment. */
export function processIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin };
}

/**
 * Reads a line from the terminal without echoing it. The prompt goes to stderr. Rejects with
 * a UsageError when stdin is not a TTY (name the environment variable in `hint`) and on
 * Ctrl-C / Ctrl-D.
 */
export function promptHidden(question: string, io: CommandIo, hint: string): Promise<string> {
  const input = io.stdin;
  if (input.isTTY !== true || typeof input.setRawMode !== 'function') {
    return Promise.reject(new UsageError(`no password: standard input is not a terminal; ${hint}`));
  }
  io.stderr.write(question);
  return new Promise((resolve, reject) => {
    let text = '';
    const wasRaw = input.isRaw;
    const finish = (err: Error | undefined): void => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(undefined);
        if (ch === '\u0003' || ch === '\u0004') return finish(new UsageError('password prompt cancelled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else if (ch >= ' ') text += ch;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

/** Environment variable holding the password for `user add` / `user passwd`. */
export const USER_PASSWORD_ENV = 'JETRECV_USER_PASSWORD';

export const userSpec: CommandSpec = {
  name: 'user',
  summary: 'manage API users in the state directory',
  usage: 'jetrecv user add|remove|passwd NAME --persistent-state-dir DIR | jetrecv user list --persistent-state-dir DIR',
  description:
    "API users live in <DIR>/users.json (scrypt-hashed passwords, mode 0600); use the daemon's " +
    '--persistent-state-dir. A running daemon picks up changes at once; passwd and remove end ' +
    `the user's API sessions. Passwords (8-1024 characters) come from $${USER_PASSWORD_ENV} or ` +
    'are asked twice on the terminal. Make a user a superuser by naming it with --superuser ' +
    'when starting the daemon.',
  flags: [
    {
      name: 'persistent-state-dir',
      type: 'path',
      valueName: 'DIR',
      help: "the daemon's state directory (required)",
    },
  ],
  positionals: { name: 'ACTION [NAME]', help: 'add NAME, remove NAME, passwd NAME, or list', min: 1, max: 2 },
};

async function readNewPassword(io: CommandIo, name: string): Promise<string> {
  const fromEnv = io.env[USER_PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const hint = `set ${USER_PASSWORD_ENV}`;
  const first = await promptHidden(`New password for ${name}: `, io, hint);
  const second = await promptHidden('Repeat the password: ', io, hint);
  if (first !== second) throw new UsageError('the two passwords differ; nothing was changed');
  return first;
}

/** Runs `jetrecv user ...` (argv after 'user'). Exit codes: 0 ok, 1 failure, 2 usage. */
export async function runUserCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  try {
    const parsed = parseArgs(userSpec, argv);
    if (parsed.help) {
      io.stdout.write(formatHelp(userSpec));
      return 0;
    }
    const [action, name] = parsed.positionals;
    const dir = parsed.flags['persistent-state-dir'] as string | undefined;
    if (dir === undefined) throw new UsageError("--persistent-state-dir DIR is required (the daemon's state directory)");
    const needsName = action === 'add' || action === 'remove' || action === 'passwd';
    if (action !== 'list' && !needsName) {
      throw new UsageError(`unknown action '${action}': expected add, remove, passwd or list (see jetrecv user --help)`);
    }
    if (needsName && name === undefined) throw new UsageError(`jetrecv user ${action} needs a user NAME`);
    if (!needsName && name !== undefined) throw new UsageError(`jetrecv user list takes no NAME, got '${name}'`);
    const store = await UserStore.open(dir);
    switch (action) {
      case 'list': {
        const users = await store.list();
        if (users.length === 0) io.stderr.write(`no users in ${store.filePath}\n`);
        for (const u of users) {
          io.stdout.write(`${u.name}\tcreated ${new Date(u.createdTime / 1000).toISOString()}\n`);
        }
        return 0;
      }
      case 'add': {
        if ((await store.get(name as string)) !== undefined) {
          io.stderr.write(`jetrecv user: user '${name}' already exists in ${store.filePath}\n`);
          return 1;
        }
        const user = await store.add(name as string, await readNewPassword(io, name as string));
        io.stdout.write(`added user ${user.name} to ${store.filePath}\n`);
        return 0;
      }
      case 'passwd': {
        if ((await store.get(name as string)) === undefined) {
          io.stderr.write(`jetrecv user: no user '${name}' in ${store.filePath}\n`);
          return 1;
        }
        await store.setPassword(name as string, await readNewPassword(io, name as string));
        io.stdout.write(`changed the password of ${name}\n`);
        return 0;
      }
      default: {
        await store.remove(name as string);
        io.stdout.write(`removed user ${name}\n`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`jetrecv user: ${err.message}\n`);
      return 2;
    }
    if (isJetrecvError(err)) {
      io.stderr.write(`jetrecv user: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}
