// sessions.ts — API session tokens. A token is 32 random bytes (base64url, 43 characters)
// handed out by server.auth; the store keeps only its SHA-256, so lookups do not compare
// secrets byte by byte and a memory dump holds no usable token. A session expires after
// `idleTimeoutMs` without a call and at the latest `maxLifetimeMs` after login.
// Calls authenticated by something other than a login (an API token, the local admin socket)
// get a one-call session from credentialSession(), never kept in the store.
import { createHash, randomBytes } from 'node:crypto';

/** One logged-in (or logging-in) API client. */
export interface Session {
  /** Key in the store: SHA-256 of the token, hex. */
  readonly id: string;
  readonly user: string;
  /** 'authenticating': made by server.authAsync and waiting for the password check. */
  state: 'active' | 'authenticating';
  /** The authAsync request an authenticating session may query. */
  authRequestId?: number;
  /** Set by server.superuser() for users named by --superuser. */
  elevated: boolean;
  /** Login time, ms since the epoch. */
  readonly createdMs: number;
  lastUsedMs: number;
  /** Address the login came from (for logs). */
  readonly remoteAddress: string;
  /**
   * Set on one-call sessions of a credential other than a login: 'token' (an API token) or
   * 'local' (the local admin socket). The credential, not --superuser, says whether the
   * caller is a superuser (`superuserByCredential`).
   */
  readonly credential?: 'token' | 'local';
  readonly superuserByCredential?: boolean;
}

/**
 * Whether the caller of `session` may act as a superuser: a user named by --superuser (after
 * server.superuser()), or a credential that grants it.
 */
export function maySuperuser(session: Session, superusers: ReadonlySet<string>): boolean {
  return session.superuserByCredential === true || superusers.has(session.user);
}

/**
 * A session for one call authenticated by `credential` as `user` (e.g. 'token:ci',
 * 'local:root'); elevated at once when the credential grants superuser. Not kept in a store.
 */
export function credentialSession(credential: 'token' | 'local', user: string, superuser: boolean, remoteAddress: string): Session {
  const now = Date.now();
  return {
    id: `${credential}:${user}`,
    user,
    state: 'active',
    elevated: superuser,
    createdMs: now,
    lastUsedMs: now,
    remoteAddress,
    credential,
    superuserByCredential: superuser,
  };
}

/** Tuning of {@link SessionStore}. */
export interface SessionStoreOptions {
  /** Default 30 minutes. */
  idleTimeoutMs?: number;
  /** Default 24 hours. */
  maxLifetimeMs?: number;
  /** Most live sessions; the least recently used is dropped beyond it (default 10,000). */
  maxSessions?: number;
  now?: () => number;
}

/** Result of {@link SessionStore.lookup}. */
export type SessionLookup = { session: Session } | { problem: 'unknown' | 'expired' };

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Live sessions by token. */
export class SessionStore {
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;
  /** Map order = least recently used first (lookups re-insert). */
  private readonly sessions = new Map<string, Session>();

  constructor(options: SessionStoreOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
    this.maxLifetimeMs = options.maxLifetimeMs ?? 24 * 60 * 60_000;
    this.maxSessions = options.maxSessions ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Creates a session and returns it with its token (the only time the token is known). */
  create(user: string, state: Session['state'], remoteAddress: string): { token: string; session: Session } {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const session: Session = {
      id: hashToken(token),
      user,
      state,
      elevated: false,
      createdMs: now,
      lastUsedMs: now,
      remoteAddress,
    };
    this.sessions.set(session.id, session);
    while (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    return { token, session };
  }

  /** Finds the session of a token and marks it used; expired sessions are removed. */
  lookup(token: string): SessionLookup {
    const id = hashToken(token);
    const session = this.sessions.get(id);
    if (session === undefined) return { problem: 'unknown' };
    const now = this.now();
    if (now - session.lastUsedMs >= this.idleTimeoutMs || now - session.createdMs >= this.maxLifetimeMs) {
      this.sessions.delete(id);
      return { problem: 'expired' };
    }
    session.lastUsedMs = now;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return { session };
  }

  /** Ends one session. */
  delete(session: Session): void {
    this.sessions.delete(session.id);
  }

  /** Ends every session of `user` created before `beforeMs` (all of them if omitted). */
  deleteUser(user: string, beforeMs = Number.POSITIVE_INFINITY): number {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (s.user === user && s.createdMs < beforeMs) {
        this.sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  /** Drops sessions past their idle time or lifetime. */
  sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsedMs >= this.idleTimeoutMs || now - s.createdMs >= this.maxLifetimeMs) this.sessions.delete(id);
    }
  }

  get size(): number {
    return this.sessions.size;
  }
}
