// binding.ts — the one door to the native addon. Only this file loads the `.node`;
// everything else imports the typed facade in src/engine/. The types below mirror
// native/src/binding exactly (see docs/CONTRACTS-dev.md "Native addon JS API").
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './paths.js';

export type CipherName = 'aes-256-gcm' | 'chacha20-poly1305';

export interface EndpointOptions {
  role: 'receiver' | 'sender';
  bindAddress: string;
  port: number;
  sockets: number;
  rcvbufBytes: number;
  sndbufBytes: number;
  maxDatagram: number;
  feedbackIntervalMs: number;
  onEvents: () => void;
}

export interface SessionSpec {
  localIndex: number;
  remoteIndex: number;
  cipher: CipherName;
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  peerAddress: string;
  peerPort: number;
}

export interface SessionStats {
  packetsRecv: number;
  bytesRecv: number;
  packetsSent: number;
  bytesSent: number;
  lastRecvUs: number;
  lastSendUs: number;
}

export interface ReceiveTransferSpec {
  root: string;
  blockSize: number;
  files: { path: string; size: number; mode: number; mtimeMs: number }[];
  emptyDirs: string[];
}

export interface ReceiveTransferStats {
  bytesReceived: number;
  blocksReceived: number;
  totalBlocks: number;
  filesDone: number;
  recvRateBps: number;
  lastRecvUs: number;
  failed: boolean;
}

export interface SendTransferSpec {
  blockSize: number;
  files: { path: string; size: number }[];
  rateMaxBps: number;
  rateStartBps: number;
}

export interface SendTransferStats {
  bytesSent: number;
  blocksSent: number;
  blocksRetransmitted: number;
  blocksAcked: number;
  totalBlocks: number;
  rateBps: number;
  firstPassDone: boolean;
  receiverComplete: boolean;
}

export type NativeEvent =
  | { type: 'handshake'; address: string; port: number; packet: Uint8Array }
  | { type: 'control'; session: number; payload: Uint8Array }
  | { type: 'fileDone'; session: number; transfer: number; file: number }
  | { type: 'transferError'; session: number; transfer: number; file: number; code: string; errno: number; message: string }
  | { type: 'receiverComplete'; session: number; transfer: number }
  | { type: 'overflow'; dropped: number };

export interface NativeEndpoint {
  localPort(): number;
  kernelBuffers(): { rcvbuf: number; sndbuf: number };
  close(): void;
  readCounters(out: Float64Array): void;
  drainEvents(max?: number): NativeEvent[];
  sendRaw(address: string, port: number, packet: Uint8Array): void;
  addSession(s: SessionSpec): void;
  removeSession(localIndex: number): void;
  sendControl(localIndex: number, payload: Uint8Array): void;
  sessionStats(localIndex: number): SessionStats | null;
  openReceiveTransfer(localIndex: number, transferId: number, spec: ReceiveTransferSpec): void;
  receiveTransferStats(localIndex: number, transferId: number): ReceiveTransferStats | null;
  closeReceiveTransfer(localIndex: number, transferId: number, removePartials: boolean): void;
  startSendTransfer(localIndex: number, transferId: number, spec: SendTransferSpec): void;
  sendTransferStats(localIndex: number, transferId: number): SendTransferStats | null;
  stopSendTransfer(localIndex: number, transferId: number): void;
}

export interface NativeAddon {
  counterNames: string[];
  sdNotify(message: string): boolean;
  Endpoint: new (opts: EndpointOptions) => NativeEndpoint;
}

function loadAddon(): NativeAddon {
  const candidates = [
    path.join(packageRoot, 'build', 'Release', 'jetrecv_native.node'),
    path.join(packageRoot, 'build', 'Debug', 'jetrecv_native.node'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`jetrecv native addon not built (looked for ${candidates.join(', ')}); run 'npm install' or 'npm run build:native'`);
  }
  const require = createRequire(import.meta.url);
  return require(found) as NativeAddon;
}

/** The loaded addon (loaded on first import). */
export const addon: NativeAddon = loadAddon();
