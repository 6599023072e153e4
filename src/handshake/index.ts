// index.ts — public surface of the handshake module (Noise IK over X25519, jetrecv framing).
export { HandshakeInitiator, type HandshakeInitiatorOptions, type InitiatorResult } from './initiator.js';
export { HandshakeResponder, type HandshakeResponderOptions, type ResponderFailureReason, type ResponderResult } from './responder.js';
export type { SessionKeys } from './session-keys.js';
export {
  COOKIE_LIFETIME_MS,
  COOKIE_SECRET_LIFETIME_MS,
  HANDSHAKE_COOKIE_LENGTH,
  HANDSHAKE_COOKIE_TYPE,
  HANDSHAKE_INIT_LENGTH,
  HANDSHAKE_INIT_TYPE,
  HANDSHAKE_PROLOGUE,
  HANDSHAKE_RESP_LENGTH,
  HANDSHAKE_RESP_TYPE,
  MAX_LANES,
  type CipherName,
} from './packets.js';
export { DEFAULT_HANDSHAKE_RATE_LIMIT, type RateLimit } from './source-rate-limiter.js';
export { DEFAULT_HANDSHAKE_LOAD_THRESHOLD } from './load-meter.js';
