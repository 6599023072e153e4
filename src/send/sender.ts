// sender.ts — the sending side (`jetrecv send`): handshake with the receiver, offer the
// manifest over the reliable control channel, then let the addon's TX engine stream the
// blocks (pacing, retransmission of NACKed ranges) until the receiver confirms that every
// file is finalized. Returns a summary of what was moved.
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Endpoint, type NativeEvent, type CipherName } from '../engine/endpoint.js';
import { HandshakeInitiator } from '../handshake/index.js';
import type { KeyPair } from '../keys/key-encoding.js';
import { ReliableChannel } from '../control/reliable-channel.js';
import { decodeControl, encodeControl, type ControlMessage } from '../proto/control.js';
import { ErrorCodes, JetrecvError } from '../errors.js';
import { buildManifest } from './manifest.js';

/** Bytes a BLOCK datagram adds around its data (header, frame header, AEAD tag). */
export const kBlockPacketOverhead = 56;
export const kDefaultDatagramSize = 1472;

export interface SendOptions {
  host: string;
  port: number;
  serverKey: Uint8Array;
  keys: KeyPair;
  destinationPath: string;
  paths: string[];
  /** Bits per second the sender never exceeds (0 = no cap). */
  rateMaxBps: number;
  rateStartBps?: number;
  lanes: number;
  /** Largest UDP payload per datagram (1472 for a 1500-byte MTU, 8972 for jumbo). */
  datagramSize: number;
  cipher: CipherName;
  handshakeTimeoutMs?: number;
  /** The transfer fails when nothing arrives from the receiver for this long. */
  peerTimeoutMs?: number;
  logger: Logger;
  onProgress?: (p: SendProgress) => void;
  onWarning?: (msg: string) => void;
  signal?: AbortSignal;
}

export interface SendProgress {
  bytesTotal: number;
  bytesAcked: number;
  bytesSent: number;
  filesTotal: number;
  filesDone: number;
  rateBps: number;
  blocksRetransmitted: number;
  elapsedMs: number;
}

export interface SendResult {
  bytes: number;
  files: number;
  seconds: number;
  gbitPerSecond: number;
  blocksSent: number;
  blocksRetransmitted: number;
  counters: Record<string, number>;
}

const kLocalIndex = 1;
const kTransferId = 1;

export async function sendFiles(opts: SendOptions): Promise<SendResult> {
  const log = opts.logger.child({ component: 'sender' });
  const blockSize = opts.datagramSize - kBlockPacketOverhead;
  if (blockSize < 256) {
    throw new JetrecvError(ErrorCodes.USAGE, `datagram size ${opts.datagramSize} is too small (minimum ${256 + kBlockPacketOverhead})`);
  }
  const manifest = await buildManifest(opts.paths);
  for (const w of manifest.warnings) opts.onWarning?.(w);
  const { address } = await lookup(opts.host, { family: 4 }).catch((err: Error) => {
    throw new JetrecvError(ErrorCodes.USAGE, `cannot resolve '${opts.host}': ${err.message}`);
  });

  return await new Promise<SendResult>((resolve, reject) => {
    const started = Date.now();
    let connectedAt = 0;
    let finished = false;
    let filesDone = 0;
    let accepted = false;
    let channel: ReliableChannel | null = null;
    const timers: NodeJS.Timeout[] = [];

    const endpoint = new Endpoint(
      {
        role: 'sender',
        bindAddress: '0.0.0.0',
        port: 0,
        sockets: opts.lanes,
        rcvbufBytes: 4 << 20,
        sndbufBytes: 4 << 20,
        maxDatagram: opts.datagramSize,
        feedbackIntervalMs: 10,
      },
      (ev) => onEvent(ev),
    );
    const initiator = new HandshakeInitiator({
      staticKeys: opts.keys,
      responderPublicKey: opts.serverKey,
      localIndex: kLocalIndex,
      cipher: opts.cipher,
      lanes: opts.lanes,
    });

    const finish = (err: Error | null, result?: SendResult) => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearInterval(t);
      opts.signal?.removeEventListener('abort', onAbort);
      const done = () => {
        channel?.close();
        endpoint.close();
        if (err) reject(err);
        else resolve(result!);
      };
      // Give the last control messages (goodbye, cancel) a moment to leave.
      setTimeout(done, channel ? 50 : 0);
    };
    const onAbort = () => {
      if (channel && accepted) {
        channel.sendMessage(encodeControl({ kind: 'cancel', transferId: kTransferId, reason: 'sender interrupted' }));
      }
      finish(new JetrecvError(ErrorCodes.CANCELLED, 'transfer cancelled'));
    };
    opts.signal?.addEventListener('abort', onAbort);

    const sendInit = () => endpoint.native.sendRaw(address, opts.port, initiator.createInitiation());
    sendInit();
    const handshakeDeadline = started + (opts.handshakeTimeoutMs ?? 10_000);
    timers.push(
      setInterval(() => {
        if (connectedAt) return;
        if (Date.now() >= handshakeDeadline) {
          finish(new JetrecvError(ErrorCodes.TIMEOUT, `no answer from ${opts.host}:${opts.port} within ${Math.round((opts.handshakeTimeoutMs ?? 10_000) / 1000)} s: the receiver is not running there, --server-key is not its public key, or this sender's key is not authorized`));
          return;
        }
        sendInit();
      }, 1000),
    );

    function onEvent(ev: NativeEvent): void {
      if (finished) return;
      if (ev.type === 'handshake') {
        if (connectedAt) return;
        const res = initiator.consumeResponse(ev.packet);
        if (!res) return;
        connectedAt = Date.now();
        endpoint.native.addSession({
          localIndex: kLocalIndex,
          remoteIndex: res.remoteIndex,
          cipher: res.cipher,
          sendKey: res.keys.sendKey,
          recvKey: res.keys.recvKey,
          peerAddress: address,
          peerPort: opts.port,
        });
        log.debug({ cipher: res.cipher, lanes: res.lanes }, 'session established');
        channel = new ReliableChannel({
          send: (payload) => endpoint.native.sendControl(kLocalIndex, payload),
          onMessage: (bytes) => onControl(bytes),
          onDead: (reason) => finish(new JetrecvError(ErrorCodes.TIMEOUT, `receiver stopped answering control messages: ${reason}`)),
        });
        channel.sendMessage(
          encodeControl({
            kind: 'transferRequest',
            transferId: kTransferId,
            destinationPath: opts.destinationPath,
            blockSize,
            files: manifest.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs })),
            emptyDirs: manifest.emptyDirs,
            checkpointFrequencySeconds: 0,
            transferUid: new Uint8Array(0),
            senderName: hostname(),
          }),
        );
      } else if (ev.type === 'control') {
        channel?.receive(ev.payload);
      } else if (ev.type === 'transferError') {
        finish(new JetrecvError(ev.code || ErrorCodes.DISK, ev.message));
      }
    }

    function onControl(bytes: Uint8Array): void {
      let msg: ControlMessage;
      try {
        msg = decodeControl(bytes);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'undecodable control message from receiver');
        return;
      }
      switch (msg.kind) {
        case 'transferAccept':
          if (accepted) return;
          accepted = true;
          try {
            endpoint.native.startSendTransfer(kLocalIndex, kTransferId, {
              blockSize,
              files: manifest.files.map((f) => ({ path: f.localPath, size: f.size })),
              rateMaxBps: opts.rateMaxBps,
              rateStartBps: opts.rateStartBps ?? Math.min(opts.rateMaxBps || 1e9, 1e9),
            });
          } catch (err) {
            channel?.sendMessage(encodeControl({ kind: 'cancel', transferId: kTransferId, reason: (err as Error).message }));
            finish(err as Error);
            return;
          }
          timers.push(setInterval(progress, 200));
          break;
        case 'transferRefuse':
          finish(new JetrecvError(msg.code || ErrorCodes.REFUSED, `receiver refused the transfer: ${msg.reason}`));
          break;
        case 'transferError':
          finish(new JetrecvError(msg.code || ErrorCodes.DISK, `receiver failed the transfer: ${msg.message}`));
          break;
        case 'filesDone':
          filesDone += msg.fileIndex.length;
          break;
        case 'transferDone':
          complete();
          break;
        case 'goodbye':
          finish(new JetrecvError(ErrorCodes.REFUSED, `receiver closed the session: ${msg.reason}`));
          break;
        default:
          break;
      }
    }

    function progress(): void {
      const st = endpoint.native.sendTransferStats(kLocalIndex, kTransferId);
      const ss = endpoint.native.sessionStats(kLocalIndex);
      if (ss && ss.lastRecvUs > 0 && Date.now() * 1000 - ss.lastRecvUs > (opts.peerTimeoutMs ?? 30_000) * 1000) {
        finish(new JetrecvError(ErrorCodes.TIMEOUT, `nothing heard from the receiver for ${Math.round((opts.peerTimeoutMs ?? 30_000) / 1000)} s`));
        return;
      }
      if (!st || !opts.onProgress) return;
      opts.onProgress({
        bytesTotal: manifest.totalBytes,
        bytesAcked: Math.min(manifest.totalBytes, st.blocksAcked * blockSize),
        bytesSent: st.bytesSent,
        filesTotal: manifest.files.length,
        filesDone,
        rateBps: st.rateBps,
        blocksRetransmitted: st.blocksRetransmitted,
        elapsedMs: Date.now() - (connectedAt || started),
      });
    }

    function complete(): void {
      const st = endpoint.native.sendTransferStats(kLocalIndex, kTransferId);
      endpoint.native.stopSendTransfer(kLocalIndex, kTransferId);
      const seconds = Math.max(1e-6, (Date.now() - (connectedAt || started)) / 1000);
      channel?.sendMessage(encodeControl({ kind: 'goodbye', reason: 'transfer complete' }));
      finish(null, {
        bytes: manifest.totalBytes,
        files: manifest.files.length,
        seconds,
        gbitPerSecond: (manifest.totalBytes * 8) / seconds / 1e9,
        blocksSent: st?.blocksSent ?? 0,
        blocksRetransmitted: st?.blocksRetransmitted ?? 0,
        counters: endpoint.counters(),
      });
    }
  });
}
