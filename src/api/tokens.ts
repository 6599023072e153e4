// tokens.ts — the API side of API tokens: the three superuser methods that manage them
// (server.createAPIToken, server.getAPITokens, server.deleteAPIToken) and the check that
// turns a presented token into a one-call session. The tokens and their hashes live in
// state/api-tokens.ts. A token never reaches a log: log lines name the token and its id.
import type { Logger } from 'pino';
import type { ApiTokenStore } from '../state/api-tokens.js';
import type { CallContext } from './methods.js';
import { credentialSession, type Session } from './sessions.js';
import type { ApiTokenStructure, CreateApiTokenResult, DeleteApiTokenResult } from '../proto/api-structures.js';

/** The session user of calls made with the token named `name`. */
export function tokenUser(name: string): string {
  return `token:${name}`;
}

/** The one-call session of a presented API token, or undefined if it is none of ours. */
export function tokenSession(tokens: ApiTokenStore, token: string, remoteAddress: string): Session | undefined {
  const info = tokens.verify(token);
  return info === undefined ? undefined : credentialSession('token', tokenUser(info.name), info.superuser, remoteAddress);
}

/** Handlers of the token methods (the server has already checked that the caller is an elevated superuser). */
export function createTokenHandlers(
  tokens: ApiTokenStore,
  logger: Logger,
): Record<string, (params: Record<string, unknown>, call: CallContext) => unknown> {
  return {
    'server.createAPIToken': async (p, call): Promise<CreateApiTokenResult> => {
      const createdBy = (call.session as Session).user;
      const { token, info } = await tokens.create(p.name as string, p.superuser === true, createdBy);
      logger.info(
        { token: info.name, id: info.id, superuser: info.superuser, user: createdBy, remoteAddress: call.remoteAddress },
        'API token created',
      );
      return { token, ...info };
    },

    'server.getAPITokens': (): ApiTokenStructure[] => tokens.list(),

    'server.deleteAPIToken': async (p, call): Promise<DeleteApiTokenResult> => {
      const revoked = await tokens.revoke(p.name as string);
      if (revoked !== undefined) {
        logger.info(
          { token: revoked.name, id: revoked.id, user: call.session?.user, remoteAddress: call.remoteAddress },
          'API token revoked',
        );
      }
      return { name: p.name as string, deleted: revoked !== undefined };
    },
  };
}
