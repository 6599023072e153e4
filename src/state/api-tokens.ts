// api-tokens.ts — long-lived named API tokens (JetStream's API tokens), in
// `<stateDir>/api-tokens.json` (mode 0600, written atomically), or in memory without a state
// directory. A token is `jrt_<id>_<secret>`: a public id (8 random bytes, hex) that finds the
// entry, and a secret of 32 random bytes (base64url) of which only the SHA-256 is stored; a
// 256-bit random secret needs no slow hash, and the stored hash is compared in constant time.
// The token itself exists only in the answer to create(). Only the daemon writes the file
// (it holds the state directory's lock), so the copy in memory is the truth: revoke() is
// effective for the next call.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { openStateDocument } from './state-document.js';
import { USER_NAME_PATTERN } from './users.js';

/** File name inside the state directory. */
export const API_TOKENS_FILE = 'api-tokens.json';
/** Current file format version. */
export const API_TOKENS_FILE_VERSION = 1;
/** Most tokens a daemon keeps. */
export const MAX_API_TOKENS = 1000;

/** Error codes of the token store (stable). */
export const ApiTokenErrorCodes = {
  /** A token name outside [A-Za-z0-9_.@-], not starting with a letter, digit or '_', or over 64 characters. */
  BAD_TOKEN_NAME: 'JETRECV_ERR_BAD_TOKEN_NAME',
  /** `create` with a name in use. */
  TOKEN_EXISTS: 'JETRECV_ERR_TOKEN_EXISTS',
  /** `create` beyond MAX_API_TOKENS. */
  TOO_MANY_TOKENS: 'JETRECV_ERR_TOO_MANY_TOKENS',
} as const;

const TOKEN_RE = /^jrt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const ID_RE = /^[0-9a-f]{16}$/;
const HASH_RE = /^[0-9a-f]{64}$/;

/** A token as listed (never its secret or hash). */
export interface ApiTokenInfo {
  /** Unique, chosen by its creator. */
  name: string;
  /** The public part of the token (`jrt_<id>_...`), for matching a token to its entry. */
  id: string;
  /** Whether calls with it act as an elevated superuser. */
  superuser: boolean;
  /** Unix µs. */
  createdTime: number;
  /** Who created it (a user name, `token:<name>` or `local:<user>`). */
  createdBy: string;
}

interface StoredToken extends ApiTokenInfo {
  /** SHA-256 of the secret part, hex. */
  secretSha256: string;
}

interface ApiTokensFileV1 {
  version: 1;
  tokens: StoredToken[];
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function publicInfo(t: StoredToken): ApiTokenInfo {
  return { name: t.name, id: t.id, superuser: t.superuser, createdTime: t.createdTime, createdBy: t.createdBy };
}

/** Throws BAD_TOKEN_NAME unless `name` is a valid token name. */
export function checkTokenName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !USER_NAME_PATTERN.test(name)) {
    throw new JetrecvError(
      ApiTokenErrorCodes.BAD_TOKEN_NAME,
      `name: invalid token name ${JSON.stringify(name)}: use 1-64 characters from A-Z a-z 0-9 _ . @ -, starting with a letter, digit or _`,
    );
  }
}

/** The API tokens. Create with {@link ApiTokenStore.open}. */
export class ApiTokenStore {
  /** By id. */
  private tokens = new Map<string, StoredToken>();
  /** Serialises mutations so each one is saved on top of the previous one. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    /** Absolute path of api-tokens.json, or undefined for memory only. */
    readonly filePath: string | undefined,
  ) {}

  /**
   * Loads `<stateDir>/api-tokens.json` (absent: no tokens), or starts empty in memory when
   * `stateDir` is undefined. Throws JETRECV_ERR_STATE if the file cannot be read or does not
   * validate.
   */
  static async open(stateDir: string | undefined): Promise<ApiTokenStore> {
    const store = new ApiTokenStore(stateDir === undefined ? undefined : path.resolve(stateDir, API_TOKENS_FILE));
    if (store.filePath === undefined) return store;
    let text: string;
    try {
      text = await fsp.readFile(store.filePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new JetrecvError(ErrorCodes.STATE, `cannot read ${store.filePath}: ${(err as Error).message}`, { path: store.filePath });
    }
    store.tokens = parseTokensFile(text, store.filePath);
    return store;
  }

  /** Whether tokens are saved in a state directory. */
  get persistent(): boolean {
    return this.filePath !== undefined;
  }

  /** All tokens, sorted by name. */
  list(): ApiTokenInfo[] {
    return [...this.tokens.values()].map(publicInfo).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Creates a token; answers it (the only time it exists outside the caller) with its entry.
   * Throws BAD_TOKEN_NAME, TOKEN_EXISTS, TOO_MANY_TOKENS, or STATE if it cannot save.
   */
  async create(name: string, superuser: boolean, createdBy: string): Promise<{ token: string; info: ApiTokenInfo }> {
    checkTokenName(name);
    return this.mutate((tokens) => {
      const all = [...tokens.values()];
      if (all.some((t) => t.name === name)) {
        throw new JetrecvError(
          ApiTokenErrorCodes.TOKEN_EXISTS,
          `name: a token named '${name}' exists; revoke it first or pick another name`,
        );
      }
      if (all.length >= MAX_API_TOKENS) {
        throw new JetrecvError(ApiTokenErrorCodes.TOO_MANY_TOKENS, `there are already ${MAX_API_TOKENS} API tokens; revoke unused ones`);
      }
      let id: string;
      do id = randomBytes(8).toString('hex');
      while (tokens.has(id));
      const secret = randomBytes(32).toString('base64url');
      const stored: StoredToken = {
        name,
        id,
        superuser,
        createdTime: Date.now() * 1000,
        createdBy,
        secretSha256: sha256(secret).toString('hex'),
      };
      tokens.set(id, stored);
      return { token: `jrt_${id}_${secret}`, info: publicInfo(stored) };
    });
  }

  /** Revokes the token named `name`; answers its entry, or undefined if there is none. */
  async revoke(name: string): Promise<ApiTokenInfo | undefined> {
    checkTokenName(name);
    return this.mutate((tokens) => {
      const found = [...tokens.values()].find((t) => t.name === name);
      if (found !== undefined) tokens.delete(found.id);
      return found === undefined ? undefined : publicInfo(found);
    });
  }

  /**
   * The entry of a presented token, or undefined when it is not a token of this store (wrong
   * form, unknown id, wrong secret, revoked). The secret's hash is compared in constant time.
   */
  verify(token: string): ApiTokenInfo | undefined {
    const m = TOKEN_RE.exec(token);
    if (m === null) return undefined;
    const stored = this.tokens.get(m[1] as string);
    if (stored === undefined) return undefined;
    const same = timingSafeEqual(sha256(m[2] as string), Buffer.from(stored.secretSha256, 'hex'));
    return same ? publicInfo(stored) : undefined;
  }

  /** Applies `change` to a copy of the tokens, saves it, then adopts it. */
  private mutate<R>(change: (tokens: Map<string, StoredToken>) => R): Promise<R> {
    const run = async (): Promise<R> => {
      const tokens = new Map(this.tokens);
      const result = change(tokens);
      if (this.filePath !== undefined) {
        const file: ApiTokensFileV1 = { version: API_TOKENS_FILE_VERSION, tokens: [...tokens.values()] };
        try {
          await fsp.mkdir(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
          await writeFileAtomic(this.filePath, `${JSON.stringify(file, null, 2)}\n`, 0o600);
        } catch (err) {
          throw new JetrecvError(ErrorCodes.STATE, `cannot save API tokens to ${this.filePath}: ${(err as Error).message}`, {
            path: this.filePath,
          });
        }
      }
      this.tokens = tokens;
      return result;
    };
    const done = this.tail.then(run, run);
    this.tail = done.catch(() => {});
    return done;
  }
}

/** Validates api-tokens.json; throws JETRECV_ERR_STATE naming the file and the problem. */
function parseTokensFile(text: string, filePath: string): Map<string, StoredToken> {
  const { obj, corrupt } = openStateDocument(
    text,
    filePath,
    API_TOKENS_FILE_VERSION,
    "Fix the file, or delete it (every API token is then revoked) and create new tokens with 'jetrecv api server.createAPIToken'",
  );
  if (!Array.isArray(obj.tokens)) throw corrupt("'tokens' must be an array");
  const tokens = new Map<string, StoredToken>();
  const names = new Set<string>();
  obj.tokens.forEach((entry: unknown, i: number) => {
    const where = `tokens[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw corrupt(`${where} must be an object`);
    const t = entry as Record<string, unknown>;
    if (typeof t.name !== 'string' || !USER_NAME_PATTERN.test(t.name)) throw corrupt(`${where}.name is not a valid token name`);
    if (names.has(t.name)) throw corrupt(`token '${t.name}' is listed twice`);
    if (typeof t.id !== 'string' || !ID_RE.test(t.id) || tokens.has(t.id)) throw corrupt(`${where}.id must be 16 hex digits, unique`);
    if (typeof t.superuser !== 'boolean') throw corrupt(`${where}.superuser must be true or false`);
    if (!Number.isSafeInteger(t.createdTime) || (t.createdTime as number) < 0)
      throw corrupt(`${where}.createdTime must be a non-negative integer (Unix microseconds)`);
    if (typeof t.createdBy !== 'string') throw corrupt(`${where}.createdBy must be a string`);
    if (typeof t.secretSha256 !== 'string' || !HASH_RE.test(t.secretSha256)) throw corrupt(`${where}.secretSha256 must be 64 hex digits`);
    names.add(t.name);
    tokens.set(t.id, {
      name: t.name,
      id: t.id,
      superuser: t.superuser,
      createdTime: t.createdTime as number,
      createdBy: t.createdBy,
      secretSha256: t.secretSha256,
    });
  });
  return tokens;
}
