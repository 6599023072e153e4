// handshake-load.test.ts — cookies under load, end to end: a real receiver whose load
// threshold is set low (DaemonConfig.handshakeLoadThreshold, see docs/TESTING.md) is flooded
// with valid-mac1 INITs from one UDP socket, and a real `jetrecv send` must still complete:
// it gets a COOKIE REPLY, resends its INIT with mac2 and transfers an intact file. The flood
// socket gets COOKIE REPLYs too, and the receiver counts them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { generateKeyPair, parsePublicKey } from '../../src/keys/key-encoding.js';
import { HandshakeInitiator } from '../../src/handshake/index.js';
import {
  HANDSHAKE_COOKIE_LENGTH,
  HANDSHAKE_COOKIE_TYPE,
  INIT_MAC1_OFFSET,
  computeMac1,
  mac1Key,
  writeU32,
} from '../../src/handshake/packets.js';
import { sendTo, sha256File, startTestReceiver, tempDir, writeRandomFile, type TestReceiver } from './harness.js';

let rx: TestReceiver;
let src: string;

beforeAll(async () => {
  rx = await startTestReceiver({ handshakeLoadThreshold: 2 });
  src = await tempDir('cookie-src');
});
afterAll(async () => {
  await rx?.close();
  await rm(src, { recursive: true, force: true });
});

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('handshake under load', () => {
  it('a flood of valid-mac1 INITs gets cookies, and a real sender still completes through the cookie', async () => {
    const serverKey = parsePublicKey(rx.daemon.publicKey);
    // The attacker knows the server key, so its INITs pass mac1. One real INIT, made
    // distinct (sender_index) and re-MACed per packet: cheap for the attacker.
    const template = new HandshakeInitiator({
      staticKeys: generateKeyPair(),
      responderPublicKey: serverKey,
      localIndex: 1,
      cipher: 'aes-256-gcm',
      lanes: 1,
    }).createInitiation();
    const floodKey = mac1Key(serverKey);
    let index = 1;
    const nextInit = (): Buffer => {
      const p = Buffer.from(template);
      writeU32(p, 4, ++index);
      p.set(computeMac1(floodKey, p.subarray(0, INIT_MAC1_OFFSET)), INIT_MAC1_OFFSET);
      return p;
    };

    const sock = dgram.createSocket('udp4');
    let cookiesToFlood = 0;
    sock.on('message', (msg) => {
      if (msg.length === HANDSHAKE_COOKIE_LENGTH && msg[0] === HANDSHAKE_COOKIE_TYPE) cookiesToFlood++;
    });
    // From another source than the real sender (127.0.0.1): per-source limits must not mix them.
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.2', resolve));
    let sent = 0;
    const flood = setInterval(() => {
      for (let i = 0; i < 10; i++) {
        sock.send(nextInit(), rx.daemon.recvPort, '127.0.0.1');
        sent++;
      }
    }, 20); // ~500 INITs/s, far above 4 × the threshold of 2
    try {
      await waitFor(() => rx.daemon.receiver.handshakeCounts()['cookie-sent'] > 0, 15_000, 'the receiver to go under load');
      const before = rx.daemon.receiver.handshakeCounts();

      const file = path.join(src, 'under-load.bin');
      await writeRandomFile(file, 2 << 20);
      const res = await sendTo(rx, [file], ['--dest', 'loaded', '--handshake-timeout', '30s', '--log-level', 'debug']);
      expect(res.code, res.stderr).toBe(0);
      expect(await sha256File(path.join(rx.sandbox, 'loaded', 'under-load.bin'))).toBe(await sha256File(file));
      // The sender went through a cookie: the receiver was under load for its first INIT.
      expect(res.stderr).toMatch(/handshake cookie received/);

      const after = rx.daemon.receiver.handshakeCounts();
      expect(after.accepted - before.accepted).toBeGreaterThanOrEqual(1);
      expect(after['cookie-sent'] - before['cookie-sent']).toBeGreaterThan(0);
    } finally {
      clearInterval(flood);
    }
    await waitFor(() => cookiesToFlood > 0, 5000, 'a cookie reply at the flood socket');
    sock.close();

    const counts = rx.daemon.receiver.handshakeCounts();
    expect(sent).toBeGreaterThan(100);
    // Almost every flood INIT was answered cheaply; only the few before the load (and any
    // after an event-loop stall let the window empty) got the DH work.
    const dhWork = counts.accepted + counts.unauthorized + counts.replay + counts.decrypt;
    expect(counts['cookie-sent']).toBeGreaterThan(dhWork * 4);
    expect(counts['bad-mac2']).toBe(0);
  });
});
