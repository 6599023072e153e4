// index.ts — the package's public entry: the daemon and sender as libraries, key helpers,
// and the API client (also available as 'jetrecv/client').
export { startDaemon, type Daemon, type DaemonConfig } from './daemon.js';
export { sendFiles, type SendOptions, type SendResult, type SendProgress } from './send/sender.js';
export { generateKeyPair, encodeKey, parsePublicKey, type KeyPair } from './keys/key-encoding.js';
export { readKeyFile, writeKeyFile } from './state/key-file.js';
export { ErrorCodes, JetrecvError } from './errors.js';
export * from './client/index.js';
