// validateParams and the method catalogue's name resolution.
import { describe, expect, it } from 'vitest';
import { findMethod, METHODS, resolveMethodName } from '../../src/api/catalog.js';
import { validateParams } from '../../src/api/params.js';

const add = findMethod('recv.addAuthorizedClientAsync')!;
const result = findMethod('server.getRequestResult')!;
const sources = findMethod('recv.getSourcesAsync')!;

describe('validateParams', () => {
  it('accepts plain and dict forms', () => {
    expect(validateParams(add, { clientPublicKey: 'k' })).toEqual({ clientPublicKey: 'k' });
    expect(validateParams(add, { clientPublicKey: { clientPublicKey: 'k' } })).toEqual({ clientPublicKey: 'k' });
    expect(validateParams(result, { requestId: { requestId: 7, token: 'x' } })).toEqual({ requestId: 7 });
    expect(validateParams(result, { requestId: 7, timeoutMs: 0 })).toEqual({ requestId: 7, timeoutMs: 0 });
  });

  it('treats an empty body as no parameters and null optionals as absent', () => {
    expect(validateParams(sources, undefined)).toEqual({});
    expect(validateParams(result, { requestId: 3, timeoutMs: null })).toEqual({ requestId: 3 });
  });

  it('names the parameter and the expected type in every refusal', () => {
    const cases: [unknown, RegExp, string][] = [
      [{}, /missing parameter 'clientPublicKey' \(a string\)/, 'clientPublicKey'],
      [{ clientPublicKey: null }, /missing parameter 'clientPublicKey'/, 'clientPublicKey'],
      [{ clientPublicKey: ['k'] }, /'clientPublicKey' must be a string, got an array/, 'clientPublicKey'],
      [{ clientPublicKey: { other: 'k' } }, /must be a string, got an object/, 'clientPublicKey'],
      [{ clientPublicKey: 'k', extra: 1 }, /unknown parameter 'extra' \(expected clientPublicKey\)/, 'extra'],
    ];
    for (const [body, message, parameter] of cases) {
      expect(() => validateParams(add, body)).toThrow(
        expect.objectContaining({ code: 'JETRECV_ERR_BAD_PARAMETER', bodyExtras: { parameter } }),
      );
      expect(() => validateParams(add, body)).toThrow(message);
    }
    expect(() => validateParams(result, { requestId: 0 })).toThrow("'requestId' must be an integer >= 1, got number 0");
    expect(() => validateParams(result, { requestId: '5' })).toThrow('got string "5"');
    expect(() => validateParams(result, { requestId: 5, timeoutMs: 300_001 })).toThrow('an integer 0-300000');
    expect(() => validateParams(sources, { x: 1 })).toThrow('it takes no parameters');
  });

  it('refuses a body that is not an object with BAD_REQUEST', () => {
    for (const body of [[], 'text', 3, null, true]) {
      expect(() => validateParams(sources, body)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_BAD_REQUEST' }));
    }
  });
});

describe('method catalogue', () => {
  it('holds the five RecvInterface methods and the server methods they need', () => {
    const names = METHODS.map((m) => m.name);
    for (const name of [
      'recv.addAuthorizedClientAsync',
      'recv.removeAuthorizedClientAsync',
      'recv.allowOnlyAuthorizedClientsAsync',
      'recv.getSourcesAsync',
      'recv.getTransfersAsync',
      'server.auth',
      'server.authAsync',
      'server.superuser',
      'server.getServerInfo',
      'server.getRequestStatus',
      'server.getRequestResult',
    ]) {
      expect(names).toContain(name);
    }
    for (const m of METHODS) expect(m.async).toBe(m.name.endsWith('Async'));
    expect(METHODS.filter((m) => m.access === 'superuser').map((m) => m.name)).toEqual([
      'server.createAPIToken',
      'server.getAPITokens',
      'server.deleteAPIToken',
      'server.updateBandwidthLimits',
      'recv.addAuthorizedClientAsync',
      'recv.removeAuthorizedClientAsync',
      'recv.allowOnlyAuthorizedClientsAsync',
      'recv.getAuthorizedClientsAsync',
    ]);
  });

  it('resolves command names with or without the namespace', () => {
    expect(resolveMethodName('getServerInfo')?.name).toBe('server.getServerInfo');
    expect(resolveMethodName('recv.getSourcesAsync')?.name).toBe('recv.getSourcesAsync');
    expect(resolveMethodName('getSourcesAsync')?.name).toBe('recv.getSourcesAsync');
    expect(resolveMethodName('send.getSourcesAsync')).toBeUndefined();
    expect(resolveMethodName('nope')).toBeUndefined();
  });
});
