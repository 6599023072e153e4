import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeInitiator } from '../../../src/handshake/index.js';
import { SendPolicy } from '../../../src/addon/send-policy.js';
import { encodeKey, generateKeyPair, keysEqual } from '../../../src/keys/key-encoding.js';
import { RateLimitedLog } from '../../../src/log.js';
import { HandshakeIntake } from '../../../src/recv/handshake-intake.js';
import { SessionTable } from '../../../src/recv/session-table.js';
import { FakeEndpoint, silentLog } from './fake-endpoint.js';

const server = generateKeyPair();
const client = generateKeyPair();
const stranger = generateKeyPair();

function makeIntake(maxSessionsPerKey = 4) {
  const endpoint = new FakeEndpoint();
  const limited = new RateLimitedLog(silentLog);
  const sends = new SendPolicy(silentLog);
  const hooks = { onControl: () => {}, onFault: () => {}, onOpened: () => {}, onEnding: () => {}, onEnded: () => {} };
  const table = new SessionTable(
    endpoint,
    sends,
    silentLog,
    limited,
    {
      maxSessions: 10,
      maxSessionsPerKey,
      maxSessionsPerSource: 10,
      sessionTimeoutMs: 30_000,
      noTransferTimeoutMs: 10_000,
      refusalLingerMs: 10,
    },
    hooks,
  );
  endpoint.ackTo = (i, p) => table.receive(i, p);
  const intake = new HandshakeIntake(
    {
      staticKeys: server,
      minCipher: 'chacha20-poly1305',
      isAuthorized: (k) => keysEqual(k, client.publicKey),
      rateLimit: { perSecond: 1000, burst: 1000 },
      loadThreshold: 1_000_000,
    },
    table,
    endpoint,
    sends,
    silentLog,
    limited,
  );
  cleanups.push(() => {
    for (const s of table.all()) table.end(s, 'test over');
    endpoint.dispose();
  });
  return { endpoint, table, intake };
}
const init = (keys = client, index = 7) =>
  new HandshakeInitiator({
    staticKeys: keys,
    responderPublicKey: server.publicKey,
    localIndex: index,
    cipher: 'aes-256-gcm',
    lanes: 2,
  }).createInitiation();

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.splice(0)) f();
});

describe('HandshakeIntake', () => {
  it('an authorized INIT becomes a session answered with a RESP; the outcome is counted', () => {
    const { endpoint, table, intake } = makeIntake();
    intake.consume('192.0.2.1', 4000, init());
    const [s] = table.all();
    expect(s).toMatchObject({ peerKey: encodeKey(client.publicKey), address: '192.0.2.1', port: 4000, refusing: false });
    expect(endpoint.sessions.get(s!.localIndex)).toMatchObject({ remoteIndex: 7, cipher: 'aes-256-gcm' });
    expect(endpoint.raw).toHaveLength(1);
    expect(endpoint.raw[0]!.packet.length).toBe(80);
    expect(intake.counts()).toMatchObject({ accepted: 1, unauthorized: 0 });
  });

  it('an unauthorized key and garbage open nothing and are counted by reason', () => {
    const { endpoint, table, intake } = makeIntake();
    intake.consume('192.0.2.1', 4000, init(stranger));
    intake.consume('192.0.2.1', 4000, new Uint8Array(10));
    expect(table.all()).toEqual([]);
    expect(endpoint.raw).toEqual([]);
    expect(intake.counts()).toMatchObject({ accepted: 0, unauthorized: 1, malformed: 1 });
  });

  it('over a cap the refusal is the outcome counted', () => {
    const { table, intake } = makeIntake(1);
    intake.consume('192.0.2.1', 4000, init(client, 1));
    intake.consume('192.0.2.2', 4000, init(client, 2));
    expect(intake.counts()).toMatchObject({ accepted: 1, 'max-sessions-per-key': 1 });
    expect(table.all().map((s) => s.refusing)).toEqual([false, true]);
  });
});
