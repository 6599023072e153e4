// key-file.ts — the sender key file (`jetrecv keygen`, `jetrecv send --key FILE`) and the
// server key file share one format: a JSON object
//   {"type":"jetrecv-x25519","publicKey":"<base64 32 bytes>","privateKey":"<base64 32 bytes>"}
// written with mode 0600. Unknown extra fields are ignored (forward compatibility).
import * as fsp from 'node:fs/promises';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { createFileExclusive, writeFileAtomic } from './atomic-file.js';
import { encodeKey, keysEqual, parsePrivateKey, parsePublicKey, publicKeyFromPrivate, type KeyPair } from '../keys/key-encoding.js';

/** Value of the `type` field of a key file. */
export const KEY_FILE_TYPE = 'jetrecv-x25519';

/** What {@link readKeyFile} returns: the key pair and, if the file is too open, a warning. */
export interface KeyFileContents {
  keyPair: KeyPair;
  /** Set when the file is readable or writable by group or other; the caller should log it. */
  warning?: string;
}

/** The key file text for `keyPair` (one JSON line, newline-terminated). */
export function formatKeyFile(keyPair: KeyPair): string {
  return (
    JSON.stringify({
      type: KEY_FILE_TYPE,
      publicKey: encodeKey(keyPair.publicKey),
      privateKey: encodeKey(keyPair.privateKey),
    }) + '\n'
  );
}

/**
 * Parse key file text. Throws JETRECV_ERR_BAD_KEY naming `source` (usually the path) and the
 * problem: not JSON, not an object, wrong `type`, missing or malformed key, or a public key
 * that does not belong to the private key.
 */
export function parseKeyFileText(text: string, source: string): KeyPair {
  if (text.trim().length === 0) throw badKeyFile(source, 'is empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw badKeyFile(source, `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badKeyFile(source, 'is not a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  if (record['type'] !== KEY_FILE_TYPE) {
    throw badKeyFile(source, `has type ${JSON.stringify(record['type'])}, expected "${KEY_FILE_TYPE}"`);
  }
  for (const field of ['publicKey', 'privateKey'] as const) {
    if (typeof record[field] !== 'string') throw badKeyFile(source, `has no string field "${field}"`);
  }
  const publicKey = parsePublicKey(record['publicKey'] as string, `publicKey in key file ${source}`);
  const privateKey = parsePrivateKey(record['privateKey'] as string, `privateKey in key file ${source}`);
  if (!keysEqual(publicKeyFromPrivate(privateKey), publicKey)) {
    throw badKeyFile(source, 'has a publicKey that does not belong to its privateKey (file edited or mixed up?)');
  }
  return { publicKey, privateKey };
}

/**
 * Write a key file with mode 0600. Refuses (JETRECV_ERR_DISK, message says so) to replace an
 * existing file unless `force`; the write is atomic either way.
 */
export async function writeKeyFile(path: string, keyPair: KeyPair, options: { force?: boolean } = {}): Promise<void> {
  const text = formatKeyFile(keyPair);
  try {
    if (options.force) await writeFileAtomic(path, text, 0o600);
    else await createFileExclusive(path, text, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new JetrecvError(
        ErrorCodes.DISK,
        `key file ${path} already exists; refusing to overwrite it (use --force to replace it)`,
        { path },
        { cause: err },
      );
    }
    throw new JetrecvError(ErrorCodes.DISK, `cannot write key file ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

/**
 * Read and validate a key file. A missing or unreadable file is JETRECV_ERR_DISK; bad
 * content is JETRECV_ERR_BAD_KEY (see {@link parseKeyFileText}). A file readable or writable
 * by group or other is accepted, with `warning` set.
 */
export async function readKeyFile(path: string): Promise<KeyFileContents> {
  let text: string;
  let mode: number;
  try {
    const handle = await fsp.open(path, 'r');
    try {
      mode = (await handle.stat()).mode;
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist (create one with `jetrecv keygen`)'
        : code === 'EACCES'
          ? 'is not readable by this user (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory, not a key file'
            : `cannot be read: ${(err as Error).message}`;
    throw new JetrecvError(ErrorCodes.DISK, `key file ${path} ${why}`, { path }, { cause: err });
  }
  const keyPair = parseKeyFileText(text, path);
  const result: KeyFileContents = { keyPair };
  if ((mode & 0o077) !== 0) {
    result.warning =
      `key file ${path} is accessible by group or other (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); ` +
      `its private key should be secret: run chmod 600 ${path}`;
  }
  return result;
}

function badKeyFile(source: string, problem: string): JetrecvError {
  return new JetrecvError(ErrorCodes.BAD_KEY, `key file ${source} ${problem}`, { path: source });
}
