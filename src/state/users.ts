// users.ts — API users and their scrypt password hashes, in `<stateDir>/users.json`.
// Each user has its own random salt; the scrypt cost (N, r, p) is stored with the hash, so
// stronger defaults apply to new passwords without breaking old ones. The file is written
// atomically with mode 0600. Every call first checks the file's identity (inode, size,
// mtime) and re-reads it when it changed, so `jetrecv user add` takes effect in a running
// daemon. A file that does not validate stops open() with JETRECV_ERR_STATE; if it goes bad
// later, the last good copy stays in use and the problem is logged.
// Without a state directory the store lives in memory (and starts empty).
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { openStateDocument } from './state-document.js';
import { writeFileAtomic } from './atomic-file.js';

/** File name inside the state directory. */
export const USERS_FILE = 'users.json';
/** Current file format version. */
export const USERS_FILE_VERSION = 1;

/** Error codes of the user store (stable). */
export const UserErrorCodes = {
  /** A user name outside [A-Za-z0-9_.@-], not starting with a letter, digit or '_', or over 64 characters. */
  BAD_USER_NAME: 'JETRECV_ERR_BAD_USER_NAME',
  /** A password shorter than 8 or longer than 1024 characters. */
  BAD_PASSWORD: 'JETRECV_ERR_BAD_PASSWORD',
  /** `add` of a name that exists. */
  USER_EXISTS: 'JETRECV_ERR_USER_EXISTS',
  /** `setPassword` or `remove` of a name that does not exist. */
  NO_SUCH_USER: 'JETRECV_ERR_NO_SUCH_USER',
} as const;

/** scrypt cost parameters. Memory use is about 128 * N * r bytes. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLength: number;
}

/** Cost for new passwords: N=2^15, r=8, p=1 (32 MiB, tens of ms), 32-byte hash. */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 1, keyLength: 32 });

/** A user (or API token) name: 1-64 of [A-Za-z0-9_.@-], starting with a letter, digit or '_'. */
export const USER_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

/** A user as the store shows it (never the hash). */
export interface UserInfo {
  name: string;
  /** Unix µs. */
  createdTime: number;
  /** Unix µs; sessions older than this are no longer valid. */
  passwordChangedTime: number;
}

interface StoredUser extends UserInfo {
  scrypt: ScryptParams & { salt: string; hash: string };
}

interface UsersFileV1 {
  version: 1;
  users: StoredUser[];
}

/** Options of {@link UserStore.open}. */
export interface UserStoreOptions {
  /** Cost for new password hashes (tests lower it); default {@link DEFAULT_SCRYPT_PARAMS}. */
  scrypt?: Partial<ScryptParams>;
  /** Where a state file that went bad while running is reported. */
  logger?: Logger;
}

function scryptAsync(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(
      password.normalize('NFC'),
      salt,
      params.keyLength,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Throws BAD_USER_NAME unless `name` is a valid user name. */
export function checkUserName(name: string): void {
  if (typeof name !== 'string' || !USER_NAME_PATTERN.test(name)) {
    throw new JetrecvError(
      UserErrorCodes.BAD_USER_NAME,
      `invalid user name ${JSON.stringify(name)}: use 1-64 characters from A-Z a-z 0-9 _ . @ -, starting with a letter, digit or _`,
    );
  }
}

/** Throws BAD_PASSWORD unless `password` has 8 to 1024 characters. */
export function checkPassword(password: string): void {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
    throw new JetrecvError(UserErrorCodes.BAD_PASSWORD, `invalid password: it must have ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`);
  }
}

/** Users and password hashes. Create with {@link UserStore.open}. */
export class UserStore {
  private users = new Map<string, StoredUser>();
  /** Identity of the file content we hold: `${ino}:${size}:${mtimeMs}`, or 'absent'. */
  private fileIdentity = 'absent';
  private readonly scryptParams: ScryptParams;
  private readonly logger: Logger | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private dummyHash: Promise<StoredUser['scrypt']> | undefined;

  private constructor(
    /** Absolute path of users.json, or undefined for memory only. */
    readonly filePath: string | undefined,
    options: UserStoreOptions,
  ) {
    this.scryptParams = { ...DEFAULT_SCRYPT_PARAMS, ...options.scrypt };
    this.logger = options.logger;
  }

  /**
   * Opens `<stateDir>/users.json` (absent file: no users yet), or an empty in-memory store
   * when `stateDir` is undefined. Throws JETRECV_ERR_STATE if the file cannot be read or
   * does not validate.
   */
  static async open(stateDir: string | undefined, options: UserStoreOptions = {}): Promise<UserStore> {
    const store = new UserStore(stateDir === undefined ? undefined : path.resolve(stateDir, USERS_FILE), options);
    if (store.filePath !== undefined) {
      try {
        await fsp.mkdir(path.dirname(store.filePath), { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new JetrecvError(ErrorCodes.STATE, `cannot create state directory ${stateDir}: ${(err as Error).message}`, {
          path: stateDir,
        });
      }
      await store.reload(true);
    }
    return store;
  }

  /** Whether users are saved in a state directory. */
  get persistent(): boolean {
    return this.filePath !== undefined;
  }

  /** All users, sorted by name. */
  async list(): Promise<UserInfo[]> {
    await this.refresh();
    return [...this.users.values()].map(publicInfo).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Number of users. */
  async count(): Promise<number> {
    await this.refresh();
    return this.users.size;
  }

  /** The user named `name`, or undefined. */
  async get(name: string): Promise<UserInfo | undefined> {
    await this.refresh();
    const user = this.users.get(name);
    return user === undefined ? undefined : publicInfo(user);
  }

  /** Adds a user. Throws BAD_USER_NAME, BAD_PASSWORD, USER_EXISTS, or STATE if it cannot save. */
  async add(name: string, password: string): Promise<UserInfo> {
    checkUserName(name);
    checkPassword(password);
    const scrypt = await this.hashPassword(password);
    return this.mutate((users) => {
      if (users.has(name)) throw new JetrecvError(UserErrorCodes.USER_EXISTS, `user '${name}' already exists`);
      const now = Date.now() * 1000;
      const user: StoredUser = { name, createdTime: now, passwordChangedTime: now, scrypt };
      users.set(name, user);
      return publicInfo(user);
    });
  }

  /** Removes a user. Throws NO_SUCH_USER if absent, STATE if it cannot save. */
  async remove(name: string): Promise<void> {
    await this.mutate((users) => {
      if (!users.delete(name)) throw new JetrecvError(UserErrorCodes.NO_SUCH_USER, `no user '${name}'`);
    });
  }

  /** Sets a new password (which ends the user's existing API sessions). */
  async setPassword(name: string, password: string): Promise<UserInfo> {
    checkPassword(password);
    const scrypt = await this.hashPassword(password);
    return this.mutate((users) => {
      const user = users.get(name);
      if (user === undefined) throw new JetrecvError(UserErrorCodes.NO_SUCH_USER, `no user '${name}'`);
      const updated: StoredUser = { ...user, passwordChangedTime: Math.max(Date.now() * 1000, user.passwordChangedTime + 1), scrypt };
      users.set(name, updated);
      return publicInfo(updated);
    });
  }

  /**
   * Checks a password. Returns the user on success, undefined for a wrong password or an
   * unknown user; both cost one scrypt run so timing does not reveal which names exist.
   */
  async verify(name: string, password: string): Promise<UserInfo | undefined> {
    await this.refresh();
    const user = typeof name === 'string' ? this.users.get(name) : undefined;
    const stored = user?.scrypt ?? (await this.getDummyHash());
    const expected = Buffer.from(stored.hash, 'base64');
    const actual = await scryptAsync(String(password), Buffer.from(stored.salt, 'base64'), stored);
    const same = actual.length === expected.length && timingSafeEqual(actual, expected);
    return same && user !== undefined ? publicInfo(user) : undefined;
  }

  private async hashPassword(password: string): Promise<StoredUser['scrypt']> {
    const salt = randomBytes(16);
    const hash = await scryptAsync(password, salt, this.scryptParams);
    return { ...this.scryptParams, salt: salt.toString('base64'), hash: hash.toString('base64') };
  }

  private getDummyHash(): Promise<StoredUser['scrypt']> {
    this.dummyHash ??= this.hashPassword(randomBytes(16).toString('hex'));
    return this.dummyHash;
  }

  /** Applies `change` to a fresh copy of the users read from disk, saves, then adopts it. */
  private mutate<R>(change: (users: Map<string, StoredUser>) => R): Promise<R> {
    const run = async (): Promise<R> => {
      if (this.filePath !== undefined) await this.reload(true);
      const users = new Map(this.users);
      const result = change(users);
      if (this.filePath !== undefined) {
        const file: UsersFileV1 = { version: USERS_FILE_VERSION, users: [...users.values()] };
        try {
          await writeFileAtomic(this.filePath, `${JSON.stringify(file, null, 2)}\n`, 0o600);
        } catch (err) {
          throw new JetrecvError(ErrorCodes.STATE, `cannot save users to ${this.filePath}: ${(err as Error).message}`, {
            path: this.filePath,
          });
        }
        this.fileIdentity = await this.statIdentity();
      }
      this.users = users;
      return result;
    };
    const done = this.tail.then(run, run);
    this.tail = done.catch(() => {});
    return done;
  }

  /** Re-reads the file if it changed since we read it; a bad file keeps the last good copy. */
  private async refresh(): Promise<void> {
    if (this.filePath === undefined) return;
    try {
      await this.reload(false);
    } catch (err) {
      this.logger?.error(
        { path: this.filePath, err: (err as Error).message },
        'users file changed and cannot be used; keeping the previous users',
      );
    }
  }

  private async statIdentity(): Promise<string> {
    try {
      const st = await fsp.stat(this.filePath as string);
      return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
      throw new JetrecvError(ErrorCodes.STATE, `cannot read ${this.filePath}: ${(err as Error).message}`, { path: this.filePath });
    }
  }

  /** Loads the file when its identity changed (always when `force`). Throws STATE. */
  private async reload(force: boolean): Promise<void> {
    const filePath = this.filePath as string;
    const identity = await this.statIdentity();
    if (!force && identity === this.fileIdentity) return;
    if (identity === 'absent') {
      this.users = new Map();
      this.fileIdentity = identity;
      return;
    }
    let text: string;
    try {
      text = await fsp.readFile(filePath, 'utf8');
    } catch (err) {
      throw new JetrecvError(ErrorCodes.STATE, `cannot read ${filePath}: ${(err as Error).message}`, { path: filePath });
    }
    this.users = parseUsersFile(text, filePath);
    this.fileIdentity = identity;
  }
}

function publicInfo(user: StoredUser): UserInfo {
  return { name: user.name, createdTime: user.createdTime, passwordChangedTime: user.passwordChangedTime };
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

/** Validates users.json; throws JETRECV_ERR_STATE naming the file and the problem. */
function parseUsersFile(text: string, filePath: string): Map<string, StoredUser> {
  const { obj, corrupt } = openStateDocument(
    text,
    filePath,
    USERS_FILE_VERSION,
    "Fix the file or recreate the users with 'jetrecv user add'",
  );
  if (!Array.isArray(obj.users)) throw corrupt("'users' must be an array");
  const users = new Map<string, StoredUser>();
  obj.users.forEach((entry: unknown, i: number) => {
    const where = `users[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw corrupt(`${where} must be an object`);
    const u = entry as Record<string, unknown>;
    if (typeof u.name !== 'string' || !USER_NAME_PATTERN.test(u.name)) throw corrupt(`${where}.name is not a valid user name`);
    if (users.has(u.name)) throw corrupt(`user '${u.name}' is listed twice`);
    for (const field of ['createdTime', 'passwordChangedTime'] as const) {
      if (typeof u[field] !== 'number' || !Number.isSafeInteger(u[field]) || (u[field] as number) < 0) {
        throw corrupt(`${where}.${field} must be a non-negative integer (Unix microseconds)`);
      }
    }
    const s = u.scrypt as Record<string, unknown> | undefined;
    if (typeof s !== 'object' || s === null) throw corrupt(`${where}.scrypt must be an object`);
    const { N, r, p, keyLength, salt, hash } = s;
    if (!isPowerOfTwo(N as number) || (N as number) < 2 ** 10 || (N as number) > 2 ** 22)
      throw corrupt(`${where}.scrypt.N must be a power of two from 2^10 to 2^22`);
    if (!Number.isSafeInteger(r) || (r as number) < 1 || (r as number) > 32) throw corrupt(`${where}.scrypt.r must be an integer 1-32`);
    if (!Number.isSafeInteger(p) || (p as number) < 1 || (p as number) > 16) throw corrupt(`${where}.scrypt.p must be an integer 1-16`);
    if (!Number.isSafeInteger(keyLength) || (keyLength as number) < 16 || (keyLength as number) > 64) {
      throw corrupt(`${where}.scrypt.keyLength must be an integer 16-64`);
    }
    if (typeof salt !== 'string' || Buffer.from(salt, 'base64').length < 16)
      throw corrupt(`${where}.scrypt.salt must be base64 of at least 16 bytes`);
    if (typeof hash !== 'string' || Buffer.from(hash, 'base64').length !== keyLength) {
      throw corrupt(`${where}.scrypt.hash must be base64 of keyLength bytes`);
    }
    users.set(u.name, {
      name: u.name,
      createdTime: u.createdTime as number,
      passwordChangedTime: u.passwordChangedTime as number,
      scrypt: { N: N as number, r: r as number, p: p as number, keyLength: keyLength as number, salt, hash },
    });
  });
  return users;
}
