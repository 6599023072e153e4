// keygen-command.ts — `jetrecv keygen`: make a sender key pair (X25519).
import { formatHelp, parseArgs, type CommandSpec } from '../config/args.js';
import { generateKeyPair, encodeKey } from '../keys/key-encoding.js';
import { formatKeyFile, writeKeyFile } from '../state/key-file.js';

export const keygenSpec: CommandSpec = {
  name: 'keygen',
  summary: 'create a sender key pair (X25519)',
  usage: 'jetrecv keygen [--out FILE] [--force]',
  description:
    'Creates a key pair for `jetrecv send --key FILE`. With --out the key file is written with ' +
    "mode 0600 and the public key is printed (give it to the receiver's admin for " +
    'recv.addAuthorizedClientAsync); without it the key file is printed on stdout.',
  flags: [
    { name: 'out', type: 'path', valueName: 'FILE', help: 'write the key file here (mode 0600)' },
    { name: 'force', type: 'bool', help: 'overwrite an existing --out file' },
  ],
};

export async function runKeygenCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(keygenSpec, argv);
  if (parsed.help) {
    console.log(formatHelp(keygenSpec));
    return 0;
  }
  const kp = generateKeyPair();
  const out = parsed.flags['out'] as string | undefined;
  if (out === undefined) {
    process.stdout.write(formatKeyFile(kp));
    return 0;
  }
  await writeKeyFile(out, kp, { force: parsed.flags['force'] === true });
  console.log(`public key: ${encodeKey(kp.publicKey)}`);
  console.log(`key file:   ${out}`);
  return 0;
}
