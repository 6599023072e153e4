// authorized-clients.ts — the sender public keys this receiver trusts, and the allow-only flag.
// With a state directory both live in `<dir>/authorized-clients.json` (versioned JSON, strict
// schema), rewritten atomically on every change; a file that does not pass the schema stops
// open() with a JETRECV_ERR_STATE error instead of silently dropping the list. Without a
// directory they live in memory only. Allow-only is off by default, as in JetStream: any
// sender that knows our public key may connect until a superuser turns it on.
// isAllowed() is synchronous and cheap: the handshake path calls it for every first message.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { openStateDocument } from './state-document.js';
import { encodeKey, parsePublicKey } from '../keys/key-encoding.js';
import { writeFileAtomic } from './atomic-file.js';

/** File name inside the state directory. */
export const AUTHORIZED_CLIENTS_FILE = 'authorized-clients.json';
/** Current file format version. */
export const AUTHORIZED_CLIENTS_FILE_VERSION = 1;

/** One listed sender key. */
export interface AuthorizedClientEntry {
  /** Canonical base64 (44 characters). */
  publicKey: string;
  /** When it was added, Unix µs. */
  addedTime: number;
}

/** On-disk form (version 1). */
interface AuthorizedClientsFileV1 {
  version: 1;
  allowOnlyAuthorizedClients: boolean;
  clients: AuthorizedClientEntry[];
}

interface State {
  allowOnly: boolean;
  /** Keyed by canonical base64; Map keeps insertion (= adding) order. */
  clients: Map<string, AuthorizedClientEntry>;
}

/** The authorized-clients list and the allow-only flag. Create with {@link AuthorizedClients.open}. */
export class AuthorizedClients {
  private state: State;
  /** Serialises mutations so each one persists on top of the previous one. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    /** Absolute path of the state file, or undefined for memory only. */
    readonly filePath: string | undefined,
    state: State,
  ) {
    this.state = state;
  }

  /**
   * Loads the list from `<stateDir>/authorized-clients.json` (an absent file is an empty list
   * with allow-only off; the directory is created if missing), or starts empty in memory when
   * `stateDir` is undefined. Throws JetrecvError JETRECV_ERR_STATE if the file cannot be read
   * or fails validation; the message names the file and the problem.
   */
  static async open(stateDir: string | undefined): Promise<AuthorizedClients> {
    if (stateDir === undefined) return new AuthorizedClients(undefined, { allowOnly: false, clients: new Map() });
    const filePath = path.resolve(stateDir, AUTHORIZED_CLIENTS_FILE);
    try {
      await fsp.mkdir(path.dirname(filePath), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new JetrecvError(ErrorCodes.STATE, `cannot create state directory ${stateDir}: ${(err as Error).message}`, {
        path: stateDir,
      });
    }
    let text: string;
    try {
      text = await fsp.readFile(filePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return new AuthorizedClients(filePath, { allowOnly: false, clients: new Map() });
      }
      throw new JetrecvError(ErrorCodes.STATE, `cannot read ${filePath}: ${(err as Error).message}`, { path: filePath });
    }
    return new AuthorizedClients(filePath, parseStateFile(text, filePath));
  }

  /** Whether the list is saved in a state directory (false: memory only). */
  get persistent(): boolean {
    return this.filePath !== undefined;
  }

  /** True when only listed senders may connect. */
  get allowOnly(): boolean {
    return this.state.allowOnly;
  }

  /** Listed keys (canonical base64), oldest first. */
  list(): string[] {
    return [...this.state.clients.keys()];
  }

  /** Listed keys with the time each was added, oldest first. */
  entries(): AuthorizedClientEntry[] {
    return [...this.state.clients.values()].map((e) => ({ ...e }));
  }

  /**
   * Whether a sender with this raw 32-byte public key may connect: true if allow-only is off
   * or the key is listed. A key of the wrong length is never listed.
   */
  isAllowed(publicKey: Uint8Array): boolean {
    if (!this.state.allowOnly) return true;
    if (publicKey.length !== 32) return false;
    return this.state.clients.has(Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString('base64'));
  }

  /**
   * Adds a key (base64 text; validated, stored canonical). Adding a listed key is not an
   * error: `added` is false and nothing is written. Throws JETRECV_ERR_BAD_KEY for a bad key
   * and JETRECV_ERR_STATE if the file cannot be written (the list is then unchanged).
   */
  async add(publicKeyText: string): Promise<{ clientPublicKey: string; added: boolean }> {
    const key = canonicalKey(publicKeyText);
    return await this.mutate<{ clientPublicKey: string; added: boolean }>((current) => {
      if (current.clients.has(key)) return { next: undefined, result: { clientPublicKey: key, added: false } };
      const clients = new Map(current.clients);
      clients.set(key, { publicKey: key, addedTime: Date.now() * 1000 });
      return { next: { ...current, clients }, result: { clientPublicKey: key, added: true } };
    });
  }

  /**
   * Removes a key. Removing an absent key is not an error: `removed` is false. Errors as
   * {@link add}.
   */
  async remove(publicKeyText: string): Promise<{ clientPublicKey: string; removed: boolean }> {
    const key = canonicalKey(publicKeyText);
    return await this.mutate<{ clientPublicKey: string; removed: boolean }>((current) => {
      if (!current.clients.has(key)) return { next: undefined, result: { clientPublicKey: key, removed: false } };
      const clients = new Map(current.clients);
      clients.delete(key);
      return { next: { ...current, clients }, result: { clientPublicKey: key, removed: true } };
    });
  }

  /** Sets the allow-only flag; `changed` is false when it already had this value. */
  async setAllowOnly(onlyAuthorizedClientsAllowed: boolean): Promise<{ onlyAuthorizedClientsAllowed: boolean; changed: boolean }> {
    if (typeof onlyAuthorizedClientsAllowed !== 'boolean') {
      throw new TypeError(`setAllowOnly: expected a boolean, got ${typeof onlyAuthorizedClientsAllowed}`);
    }
    return await this.mutate((current) => {
      const changed = current.allowOnly !== onlyAuthorizedClientsAllowed;
      return {
        next: changed ? { ...current, allowOnly: onlyAuthorizedClientsAllowed } : undefined,
        result: { onlyAuthorizedClientsAllowed, changed },
      };
    });
  }

  /** Waits for every queued change to be persisted. */
  async flush(): Promise<void> {
    await this.tail.catch(() => {});
  }

  /**
   * Runs `change` after every earlier mutation; when it returns a next state, persists it
   * and only then makes it current, so memory never runs ahead of the file.
   */
  private mutate<R>(change: (current: State) => { next: State | undefined; result: R }): Promise<R> {
    const run = async (): Promise<R> => {
      const { next, result } = change(this.state);
      if (next !== undefined) {
        await this.persist(next);
        this.state = next;
      }
      return result;
    };
    const done = this.tail.then(run, run);
    this.tail = done.catch(() => {});
    return done;
  }

  private async persist(state: State): Promise<void> {
    if (this.filePath === undefined) return;
    const file: AuthorizedClientsFileV1 = {
      version: AUTHORIZED_CLIENTS_FILE_VERSION,
      allowOnlyAuthorizedClients: state.allowOnly,
      clients: [...state.clients.values()],
    };
    try {
      await writeFileAtomic(this.filePath, `${JSON.stringify(file, null, 2)}\n`, 0o600);
    } catch (err) {
      throw new JetrecvError(ErrorCodes.STATE, `cannot save the authorized-clients list to ${this.filePath}: ${(err as Error).message}`, {
        path: this.filePath,
      });
    }
  }
}

function canonicalKey(text: string): string {
  return encodeKey(parsePublicKey(text, 'clientPublicKey'));
}

/** Parses and validates the state file; throws JETRECV_ERR_STATE naming the problem. */
function parseStateFile(text: string, filePath: string): State {
  const { obj, corrupt } = openStateDocument(
    text,
    filePath,
    AUTHORIZED_CLIENTS_FILE_VERSION,
    'Fix the file, or move it away to start with an empty list (allow-only off)',
  );
  for (const key of Object.keys(obj)) {
    if (!['version', 'allowOnlyAuthorizedClients', 'clients'].includes(key)) throw corrupt(`unknown field '${key}'`);
  }
  if (typeof obj.allowOnlyAuthorizedClients !== 'boolean') throw corrupt("'allowOnlyAuthorizedClients' must be a boolean");
  if (!Array.isArray(obj.clients)) throw corrupt("'clients' must be an array");
  const clients = new Map<string, AuthorizedClientEntry>();
  obj.clients.forEach((entry: unknown, i: number) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw corrupt(`clients[${i}] must be an object`);
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (key !== 'publicKey' && key !== 'addedTime') throw corrupt(`clients[${i}] has unknown field '${key}'`);
    }
    if (typeof e.publicKey !== 'string') throw corrupt(`clients[${i}].publicKey must be a string`);
    let key: string;
    try {
      key = encodeKey(parsePublicKey(e.publicKey, `clients[${i}].publicKey`));
    } catch (err) {
      throw corrupt((err as Error).message);
    }
    if (key !== e.publicKey) throw corrupt(`clients[${i}].publicKey is not in canonical form`);
    if (typeof e.addedTime !== 'number' || !Number.isSafeInteger(e.addedTime) || e.addedTime < 0) {
      throw corrupt(`clients[${i}].addedTime must be a non-negative integer (Unix microseconds)`);
    }
    if (clients.has(key)) throw corrupt(`clients[${i}].publicKey ${key} is listed twice`);
    clients.set(key, { publicKey: key, addedTime: e.addedTime });
  });
  return { allowOnly: obj.allowOnlyAuthorizedClients, clients };
}
