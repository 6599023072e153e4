// handshake-flood-lockout.test.ts — a handshake flood must not lock legitimate senders out
// (issue 12, finding 5). A real receiver is flooded from other loopback addresses
// (127.0.0.2..4), as fast as a child process can send, while handshakes from 127.0.0.1
// (the project's initiator, following cookies like `jetrecv send`) must all complete:
// - garbage INITs (no key needed): dropped natively at their source's bucket and at mac1,
//   before the endpoint-wide budget;
// - INITs with a valid mac1 from a few sources: held to each source's native rate; the
//   responder goes under load and the real handshakes get through with a cookie round trip.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../src/keys/key-encoding.js';
import { startTestReceiver, type TestReceiver } from './harness.js';
import { rawHandshake, startFlood, type FloodKind } from './handshake-flood.js';

const HANDSHAKES = 12;

let rx: TestReceiver;
beforeAll(async () => {
  rx = await startTestReceiver();
});
afterAll(async () => {
  await rx?.close();
});

async function handshakesDuringFlood(kind: FloodKind, sources: string[]) {
  const serverKey = parsePublicKey(rx.daemon.publicKey);
  const before = rx.daemon.receiver.counters();
  const flood = await startFlood(rx.daemon.recvPort, kind, rx.daemon.publicKey, sources);
  const results = [];
  try {
    await new Promise((r) => setTimeout(r, 300)); // the flood is under way
    for (let i = 0; i < HANDSHAKES; i++) results.push(await rawHandshake(rx.daemon.recvPort, serverKey, { localIndex: 100 + i }));
  } finally {
    const { sent, seconds } = await flood.stop();
    const after = rx.daemon.receiver.counters();
    const d = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    console.log(
      `${kind} flood from ${sources.join(',')}: ${sent} INITs in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s);`,
      `dropped: source_rate ${d('drop_handshake_source_rate')}, mac1 ${d('drop_handshake_mac1')}, budget ${d('drop_handshake_rate')},`,
      `socket overflow ${d('rx_socket_overflow')}; to JS ${d('handshake_packets')};`,
      `handshakes: ${results.map((r) => `${r.ok ? 'ok' : 'FAIL'}/${r.inits}${r.cookies ? 'c' : ''}`).join(' ')}`,
    );
  }
  return results;
}

describe('handshake flood vs legitimate senders', () => {
  it('a garbage-INIT flood (bad mac1) from one source: every real handshake from another source completes', async () => {
    const results = await handshakesDuringFlood('garbage', ['127.0.0.2']);
    expect(results.filter((r) => r.ok)).toHaveLength(HANDSHAKES);
    const counters = rx.daemon.receiver.counters();
    expect(counters['drop_handshake_source_rate']! + counters['drop_handshake_mac1']!).toBeGreaterThan(0);
  }, 60_000);

  it('a valid-mac1 INIT flood from three sources: every real handshake completes (through a cookie once under load)', async () => {
    const results = await handshakesDuringFlood('valid-mac1', ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    expect(results.filter((r) => r.ok)).toHaveLength(HANDSHAKES);
    expect(rx.daemon.receiver.handshakeCounts()['cookie-sent']).toBeGreaterThan(0);
  }, 60_000);
});
