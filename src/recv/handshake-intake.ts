// handshake-intake.ts — handshake packets that reached the receiver: the responder checks
// them (mac1, cookies under load, key exchange, authorization); an accepted one becomes a
// session (session-table.ts, which may still refuse it over a cap). Every outcome is counted
// for /metrics; refusals and drops are logged rate-limited.
import type { Logger } from 'pino';
import { HandshakeResponder, type HandshakeResponderOptions, type ResponderFailureReason } from '../handshake/index.js';
import { encodeKey } from '../keys/key-encoding.js';
import type { RateLimitedLog } from '../log.js';
import type { SendPolicy } from '../addon/send-policy.js';
import type { SessionRefusal } from './session-admission.js';
import type { SessionTable } from './session-table.js';
import type { ReceiverEndpoint } from './endpoint-port.js';

/** Outcome of one handshake packet that reached the responder: a responder reason, or one of these. */
export type HandshakeOutcome = ResponderFailureReason | 'accepted' | SessionRefusal;
const kHandshakeOutcomes: readonly HandshakeOutcome[] = [
  'accepted',
  'malformed',
  'mac1',
  'cookie-sent',
  'bad-mac2',
  'rate-limited',
  'decrypt',
  'bad-key',
  'unauthorized',
  'replay',
  'cipher',
  'max-sessions',
  'max-sessions-per-key',
  'max-sessions-per-source',
];

export class HandshakeIntake {
  private readonly responder: HandshakeResponder;
  private readonly outcomes = new Map<HandshakeOutcome, number>(kHandshakeOutcomes.map((o) => [o, 0]));

  /** `responder`: the responder's options but allocateIndex, which is the session table's. */
  constructor(
    responder: Omit<HandshakeResponderOptions, 'allocateIndex'>,
    private readonly sessions: SessionTable,
    private readonly endpoint: ReceiverEndpoint,
    private readonly sends: SendPolicy,
    private readonly log: Logger,
    private readonly limited: RateLimitedLog,
  ) {
    this.responder = new HandshakeResponder({ ...responder, allocateIndex: () => sessions.allocateIndex() });
  }

  /** Handshake packets handled since start, by outcome (every outcome listed, 0 included). */
  counts(): Record<HandshakeOutcome, number> {
    return Object.fromEntries(this.outcomes) as Record<HandshakeOutcome, number>;
  }

  consume(address: string, port: number, packet: Uint8Array): void {
    const result = this.responder.consumeInitiation(packet, { address, port });
    if (!result.ok) {
      this.count(result.reason);
      if (result.cookieReply) {
        // Under load: cheap answer, no DH. Counted; logged once per 10 s whatever the source.
        const reply = result.cookieReply;
        this.sends.send('cookie-reply', () => this.endpoint.sendRaw(address, port, reply), { sourceIP: address, sourcePort: port });
        this.limited.warn(
          'hs:under-load',
          { sourceIP: address, sourcePort: port, reason: result.reason },
          'handshake load: answering INITs without a valid mac2 with a cookie',
        );
        return;
      }
      const who = result.peerPublicKey ? encodeKey(result.peerPublicKey) : undefined;
      if (result.reason === 'unauthorized') {
        this.limited.warn(
          `unauth:${who}`,
          { sourceIP: address, sourcePort: port, clientPublicKey: who },
          'handshake refused: sender key is not authorized',
        );
      } else {
        this.limited.warn(
          `hs:${result.reason}:${address}`,
          { sourceIP: address, sourcePort: port, reason: result.reason, clientPublicKey: who },
          'handshake dropped',
        );
      }
      return;
    }
    const peerKey = encodeKey(result.peerPublicKey);
    const { session, refusal } = this.sessions.admit(result, peerKey, address, port);
    this.count(refusal ?? 'accepted');
    if (!refusal)
      this.log.info(
        {
          session: session.localIndex,
          sourceIP: address,
          sourcePort: port,
          clientPublicKey: peerKey,
          cipher: result.cipher,
          lanes: result.lanes,
        },
        'sender connected',
      );
  }

  private count(outcome: HandshakeOutcome): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }
}
