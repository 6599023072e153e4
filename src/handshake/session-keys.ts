// session-keys.ts — what a completed handshake hands to the data path.

/**
 * The two 32-byte base keys of a session, from this side's point of view: `sendKey`
 * encrypts what this side sends, `recvKey` decrypts what it receives. The initiator's
 * sendKey is the responder's recvKey (Noise Split k1) and vice versa (k2). The native data
 * path derives per-lane, per-epoch AEAD keys from them.
 */
export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
}
