// methods.ts — what each API method does, once the HTTP layer has parsed the body, found
// the caller's session and checked the method's access rule (see catalog.ts). Handlers get
// validated parameters and answer a JSON-serialisable value or throw ApiCallError /
// JetrecvError. `*Async` handlers queue their work in the RequestQueue and answer
// `{ requestId }`; synchronous checks (key syntax, permissions) fail the call itself.
import type { Logger } from 'pino';
import { parsePublicKey } from '../keys/key-encoding.js';
import type { UserStore } from '../state/users.js';
import { ApiCallError, ApiErrorCodes } from './api-errors.js';
import { DEFAULT_RESULT_TIMEOUT_MS } from './catalog.js';
import type { LoginLimiter } from './login-limiter.js';
import type { RecvBackend } from './recv-backend.js';
import type { RequestCaller, RequestQueue } from './requests.js';
import { maySuperuser, type Session, type SessionStore } from './sessions.js';
import type {
  BandwidthLimitsStructure,
  AddAuthorizedClientResult,
  AllowOnlyResult,
  AuthAsyncStructure,
  AuthorizedClientsResult,
  AuthResult,
  RemoveAuthorizedClientResult,
  RequestStructure,
  ServerInfo,
  SuperuserResult,
} from '../proto/api-structures.js';

/** Everything the handlers work with; built once by the server. */
export interface ApiContext {
  backend: RecvBackend;
  users: UserStore;
  sessions: SessionStore;
  limiter: LoginLimiter;
  requests: RequestQueue;
  superusers: ReadonlySet<string>;
  logger: Logger;
  /** Full server info before per-caller filtering (configuration and key list included). */
  serverInfo: () => ServerInfo;
}

/** One HTTP call. */
export interface CallContext {
  /** The caller's session (authenticated, or authenticating for the request methods). */
  session: Session | undefined;
  remoteAddress: string;
  /** Aborted when the client disconnects. */
  signal: AbortSignal;
}

type Handler = (params: Record<string, unknown>, call: CallContext) => unknown;

/** Message for NO_USERS: how to create the first user and superuser. */
export const NO_USERS_MESSAGE =
  'no API users exist yet, so nobody can log in. Create one with ' +
  "'jetrecv user add NAME --persistent-state-dir DIR' (the daemon's state directory) and name it with " +
  "'--superuser NAME' when starting the daemon to let it manage authorized clients, or, on the daemon's host, " +
  "run 'jetrecv api ...' as root or as the daemon's user: it then uses the local admin socket, which needs no user";

/** The method handlers, keyed by full method name. */
export function createHandlers(ctx: ApiContext): Record<string, Handler> {
  const log = ctx.logger;

  /** True for an elevated session of a user named by --superuser, or of a superuser credential. */
  const isElevated = (session: Session | undefined): boolean =>
    session !== undefined && session.state === 'active' && session.elevated && maySuperuser(session, ctx.superusers);

  const caller = (call: CallContext): RequestCaller => {
    const session = call.session as Session;
    return { user: session.user, superuser: isElevated(session) };
  };

  /** An authenticating (authAsync) session may only ask about its own auth request. */
  const checkRequestAccess = (call: CallContext, requestId: number): void => {
    const session = call.session as Session;
    if (session.state === 'authenticating' && session.authRequestId !== requestId) {
      throw new ApiCallError(
        ApiErrorCodes.UNAUTHENTICATED,
        `this token is still authenticating (server.authAsync request ${session.authRequestId}); only that request can be queried until it completes`,
      );
    }
  };

  /**
   * Refuses at once (429) while this user from this address, or this address, must wait after
   * failed logins (login-limiter.ts); never because of failures from other addresses.
   */
  const checkLoginRate = (user: string, remoteAddress: string): void => {
    const waitMs = ctx.limiter.refusalMs(user, remoteAddress);
    if (waitMs > 0) {
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      log.warn({ user, remoteAddress, retryAfterSeconds }, 'login refused: too many failed attempts');
      throw new ApiCallError(
        ApiErrorCodes.RATE_LIMITED,
        `too many failed logins for this user from this address, or from this address; try again in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
  };

  /**
   * Checks the password, after waiting this attempt's turn when the user has many recent
   * failures (a pace, never a refusal). The attempt counts as a failure before the (slow)
   * check, so parallel guesses see each other; a success clears the count.
   */
  const checkPassword = async (user: string, password: string, remoteAddress: string): Promise<boolean> => {
    if ((await ctx.users.count()) === 0) throw new ApiCallError(ApiErrorCodes.NO_USERS, NO_USERS_MESSAGE);
    const paceMs = ctx.limiter.reservePace(user);
    if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    ctx.limiter.recordFailure(user, remoteAddress);
    const info = await ctx.users.verify(user, password);
    if (info === undefined) {
      log.warn({ user, remoteAddress, failures: ctx.limiter.failures(user), paceMs }, 'login failed');
      return false;
    }
    ctx.limiter.recordSuccess(user, remoteAddress);
    return true;
  };

  const loginFailed = (): ApiCallError => new ApiCallError(ApiErrorCodes.LOGIN_FAILED, 'invalid user name or password');

  const authInfo = (user: string): Omit<AuthResult, 'token'> => ({
    user,
    superuser: ctx.superusers.has(user),
    idleTimeoutSeconds: Math.round(ctx.sessions.idleTimeoutMs / 1000),
  });

  /** Queues `run` as a request of the caller and answers its Request Structure. */
  const submit = (call: CallContext, method: string, run: () => Promise<unknown>): RequestStructure => ({
    requestId: ctx.requests.submit((call.session as Session).user, method, run),
  });

  const authorizationChanged = (what: Record<string, unknown>, call: CallContext): void => {
    log.info({ ...what, user: call.session?.user, remoteAddress: call.remoteAddress }, 'authorized clients changed');
    try {
      ctx.backend.onAuthorizationChanged();
    } catch (err) {
      log.error({ err }, 'onAuthorizationChanged failed');
    }
  };

  return {
    'server.auth': async (p, call): Promise<AuthResult> => {
      const user = p.user as string;
      checkLoginRate(user, call.remoteAddress);
      if (!(await checkPassword(user, p.password as string, call.remoteAddress))) throw loginFailed();
      const { token } = ctx.sessions.create(user, 'active', call.remoteAddress);
      log.info({ user, remoteAddress: call.remoteAddress }, 'login');
      return { token, ...authInfo(user) };
    },

    'server.authAsync': (p, call): AuthAsyncStructure => {
      const user = p.user as string;
      checkLoginRate(user, call.remoteAddress);
      const { token, session } = ctx.sessions.create(user, 'authenticating', call.remoteAddress);
      let requestId: number;
      try {
        requestId = ctx.requests.submit(user, 'server.authAsync', async () => {
          let ok = false;
          try {
            ok = await checkPassword(user, p.password as string, call.remoteAddress);
          } finally {
            if (!ok) ctx.sessions.delete(session);
          }
          if (!ok) throw loginFailed();
          session.state = 'active';
          log.info({ user, remoteAddress: call.remoteAddress }, 'login (authAsync)');
          return authInfo(user);
        });
      } catch (err) {
        ctx.sessions.delete(session);
        throw err;
      }
      session.authRequestId = requestId;
      return { requestId, token };
    },

    'server.superuser': (_p, call): SuperuserResult => {
      const session = call.session as Session;
      if (!maySuperuser(session, ctx.superusers)) {
        log.warn({ user: session.user, remoteAddress: call.remoteAddress }, 'superuser elevation refused');
        throw new ApiCallError(
          ApiErrorCodes.NOT_SUPERUSER,
          `user '${session.user}' is not a superuser (the daemon names superusers with --superuser NAME)`,
        );
      }
      session.elevated = true;
      log.info({ user: session.user, remoteAddress: call.remoteAddress }, 'session elevated to superuser');
      return { user: session.user, superuser: true };
    },

    'server.logout': (_p, call): { loggedOut: true } => {
      ctx.sessions.delete(call.session as Session);
      return { loggedOut: true };
    },

    'server.getServerInfo': (_p, call): ServerInfo => {
      const full = ctx.serverInfo();
      const { configuration, receiver, ...rest } = full;
      const session = call.session?.state === 'active' ? call.session : undefined;
      const elevated = isElevated(session);
      const { authorizedClients, onlyAuthorizedClientsAllowed, authorizedClientCount, ...publicReceiver } = receiver;
      const info: ServerInfo = {
        ...rest,
        receiver: publicReceiver,
        sessionUser: session?.user ?? null,
        sessionSuperuser: elevated,
      };
      // Open to the network, an anonymous caller does not learn where files land on disk.
      if (session === undefined && full.allowRemoteControl) delete info.receiver.sandboxDir;
      if (session !== undefined) {
        info.receiver.onlyAuthorizedClientsAllowed = onlyAuthorizedClientsAllowed;
        info.receiver.authorizedClientCount = authorizedClientCount;
      }
      if (elevated) {
        info.receiver.authorizedClients = authorizedClients;
        if (configuration !== undefined) info.configuration = configuration;
      }
      return info;
    },

    'server.getRequestStatus': (p, call) => {
      checkRequestAccess(call, p.requestId as number);
      return ctx.requests.status(p.requestId as number, caller(call));
    },

    'server.getRequestResult': (p, call) => {
      checkRequestAccess(call, p.requestId as number);
      const timeoutMs = (p.timeoutMs as number | undefined) ?? DEFAULT_RESULT_TIMEOUT_MS;
      return ctx.requests.result(p.requestId as number, caller(call), timeoutMs, call.signal);
    },

    'server.updateBandwidthLimits': (p, call): BandwidthLimitsStructure => {
      const next: BandwidthLimitsStructure = { ...ctx.backend.getBandwidthLimits() };
      if (p.incomingRateLimit !== undefined) next.incomingRateLimit = p.incomingRateLimit as number;
      if (p.incomingRateLimitPerSource !== undefined) next.incomingRateLimitPerSource = p.incomingRateLimitPerSource as number;
      ctx.backend.setBandwidthLimits(next);
      log.info({ ...next, user: call.session?.user, remoteAddress: call.remoteAddress }, 'bandwidth limits changed');
      return ctx.backend.getBandwidthLimits();
    },

    'recv.addAuthorizedClientAsync': (p, call) => {
      const key = p.clientPublicKey as string;
      parsePublicKey(key, 'clientPublicKey'); // syntax errors fail the call itself (400)
      return submit(call, 'recv.addAuthorizedClientAsync', async (): Promise<AddAuthorizedClientResult> => {
        const result = await ctx.backend.authorizedClients.add(key);
        if (result.added) authorizationChanged({ added: result.clientPublicKey }, call);
        return result;
      });
    },

    'recv.removeAuthorizedClientAsync': (p, call) => {
      const key = p.clientPublicKey as string;
      parsePublicKey(key, 'clientPublicKey');
      return submit(call, 'recv.removeAuthorizedClientAsync', async (): Promise<RemoveAuthorizedClientResult> => {
        const result = await ctx.backend.authorizedClients.remove(key);
        if (result.removed) authorizationChanged({ removed: result.clientPublicKey }, call);
        return result;
      });
    },

    'recv.allowOnlyAuthorizedClientsAsync': (p, call) => {
      const flag = p.onlyAuthorizedClientsAllowed as boolean;
      return submit(call, 'recv.allowOnlyAuthorizedClientsAsync', async (): Promise<AllowOnlyResult> => {
        const result = await ctx.backend.authorizedClients.setAllowOnly(flag);
        if (result.changed) authorizationChanged({ onlyAuthorizedClientsAllowed: flag }, call);
        return result;
      });
    },

    'recv.getAuthorizedClientsAsync': (_p, call) =>
      submit(call, 'recv.getAuthorizedClientsAsync', async (): Promise<AuthorizedClientsResult> => ({
        onlyAuthorizedClientsAllowed: ctx.backend.authorizedClients.allowOnly,
        clientPublicKeys: ctx.backend.authorizedClients.list(),
      })),

    'recv.getSourcesAsync': (_p, call) => submit(call, 'recv.getSourcesAsync', async () => await ctx.backend.getSources()),

    'recv.getTransfersAsync': (_p, call) => submit(call, 'recv.getTransfersAsync', async () => await ctx.backend.getTransfers()),
  };
}
