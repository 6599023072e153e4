// main.ts — `jetrecv <command>` dispatch. Each command lives in its own file and
// returns an exit code: 0 success, 1 runtime failure, 2 usage error.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../addon/package-root.js';
import { UsageError } from '../errors.js';

interface CommandEntry {
  summary: string;
  run: (argv: string[]) => Promise<number>;
}

const commands: Record<string, CommandEntry> = {
  serve: { summary: 'run the receiver daemon', run: async (a) => (await import('./serve-command.js')).runServeCommand(a) },
  send: { summary: 'send files and directories to a receiver', run: async (a) => (await import('./send-command.js')).runSendCommand(a) },
  keygen: { summary: 'create a sender key pair (X25519)', run: async (a) => (await import('./keygen-command.js')).runKeygenCommand(a) },
  api: {
    summary: 'call the receiver API (RecvInterface) and print JSON',
    run: async (a) => (await import('./api-command.js')).runApiCommand(a),
  },
  user: { summary: 'manage API users in the state directory', run: async (a) => (await import('./user-command.js')).runUserCommand(a) },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const lines = [
    'Usage: jetrecv <command> [options]',
    '',
    'Receive server for fast, encrypted file transfer over UDP.',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`),
    '',
    "Run 'jetrecv <command> --help' for the options of a command.",
  ];
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(version());
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`jetrecv: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`jetrecv ${name}: ${err.message}`);
      return 2;
    }
    const e = err as Error & { code?: string };
    console.error(`jetrecv ${name}: ${e.message}${e.code ? ` [${e.code}]` : ''}`);
    return 1;
  }
}
