// raw-sender.ts — a sender built from the real modules (addon endpoint, handshake,
// reliable channel, protobuf) that lets a test send a hand-made TransferRequest, such
// as one whose paths try to leave the sandbox. `jetrecv send` cannot produce those.
import { Endpoint, type SendTransferStats } from '../../src/addon/endpoint.js';
import { kBlockPacketOverhead } from '../../src/addon/limits.js';
import { HandshakeInitiator } from '../../src/handshake/index.js';
import { generateKeyPair, type KeyPair } from '../../src/keys/key-encoding.js';
import { ReliableChannel } from '../../src/control/reliable-channel.js';
import { TRANSFER_PROTOCOL, decodeControl, encodeControl, type ControlMessage, type ControlMessageInput } from '../../src/proto/control.js';

export interface RawSender {
  /**
   * Sends a control message and resolves with the first reply about `transferId`. A
   * TransferRequest without `transferProtocol` is sent as the current protocol.
   */
  request(msg: ControlMessageInput, transferId: number, timeoutMs?: number): Promise<ControlMessage>;
  /** Sends a control message without waiting for a reply (cancel, goodbye). */
  send(msg: ControlMessageInput): void;
  /** Sends a pure ack (ReliableChannel.keepAlive): a packet of the session without a message. */
  ping(): void;
  /** Early blocks the receiver said it holds for this session (Envelope.early_block_bytes; 0 = none said yet). */
  readonly earlyBlockBytes: number;
  /**
   * Sends the first train of a transfer nobody asked the receiver for yet (no TransferRequest): at
   * most earlyBytes datagram bytes, 4 ms at rateStartBps (SendTransferSpec.earlyBytes). Resolves
   * once it is out.
   */
  sendEarlyTrain(
    transferId: number,
    files: { path: string; size: number }[],
    earlyBytes: number,
    rateStartBps?: number,
  ): Promise<SendTransferStats>;
  close(): void;
}

export async function connectRawSender(
  port: number,
  serverKey: Uint8Array,
  keys: KeyPair = generateKeyPair(),
  timeoutMs = 5000,
): Promise<RawSender> {
  const inbox: ControlMessage[] = [];
  const waiters: (() => void)[] = [];
  let channel: ReliableChannel | null = null;
  let connected: (() => void) | null = null;
  let earlyBlockBytes = 0;
  const initiator = new HandshakeInitiator({
    staticKeys: keys,
    responderPublicKey: serverKey,
    localIndex: 7,
    cipher: 'aes-256-gcm',
    lanes: 1,
  });
  const endpoint = new Endpoint(
    {
      role: 'sender',
      bindAddress: '127.0.0.1',
      port: 0,
      sockets: 1,
      rcvbufBytes: 1 << 20,
      sndbufBytes: 1 << 20,
      maxDatagram: 1472,
      feedbackIntervalMs: 10,
      directIo: 'off',
      directIoThreads: 1,
      txThreads: 1,
      eventQueueCapacity: 65536,
    },
    (ev) => {
      if (ev.type === 'handshake' && !channel) {
        if (initiator.consumeCookieReply(ev.packet)) {
          endpoint.sendRaw('127.0.0.1', port, initiator.createInitiation()); // receiver under load: retry with mac2
          return;
        }
        const res = initiator.consumeResponse(ev.packet);
        if (!res) return;
        endpoint.addSession({
          localIndex: 7,
          remoteIndex: res.remoteIndex,
          cipher: res.cipher,
          sendKey: res.keys.sendKey,
          recvKey: res.keys.recvKey,
          peerAddress: '127.0.0.1',
          peerPort: port,
        });
        channel = new ReliableChannel({
          send: (p) => endpoint.sendControl(7, p),
          onMessage: (b) => {
            inbox.push(decodeControl(b));
            waiters.splice(0).forEach((w) => w());
          },
          onDead: () => undefined,
          onEarlyBlockBytes: (bytes) => (earlyBlockBytes = bytes),
        });
        connected?.();
      } else if (ev.type === 'control') {
        channel?.receive(ev.payload);
      }
    },
  );
  await new Promise<void>((resolve, reject) => {
    connected = resolve;
    endpoint.sendRaw('127.0.0.1', port, initiator.createInitiation());
    setTimeout(() => reject(new Error('raw sender: no handshake response')), timeoutMs);
  });
  return {
    async request(msg, transferId, waitMs = 5000) {
      const full =
        msg.kind === 'transferRequest' && msg.transferProtocol === undefined ? { ...msg, transferProtocol: TRANSFER_PROTOCOL } : msg;
      channel!.sendMessage(encodeControl(full));
      const deadline = Date.now() + waitMs;
      for (;;) {
        const idx = inbox.findIndex((m) => 'transferId' in m && m.transferId === transferId);
        if (idx >= 0) return inbox.splice(idx, 1)[0]!;
        if (Date.now() > deadline) throw new Error(`raw sender: no reply about transfer ${transferId}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    send(msg) {
      channel!.sendMessage(encodeControl(msg));
    },
    ping() {
      channel!.keepAlive();
    },
    get earlyBlockBytes() {
      return earlyBlockBytes;
    },
    async sendEarlyTrain(transferId, files, earlyBytes, rateStartBps = 1e9) {
      endpoint.startSendTransfer(7, transferId, { blockSize: 1472 - kBlockPacketOverhead, files, rateMaxBps: 0, rateStartBps, earlyBytes });
      // The train is paced over 4 ms; it is out when the sent count stops moving.
      let last = -1;
      for (;;) {
        await new Promise((r) => setTimeout(r, 20));
        const st = endpoint.sendTransferStats(7, transferId)!;
        if (st.blocksSent === last) return st;
        last = st.blocksSent;
      }
    },
    close() {
      channel?.close();
      endpoint.close();
    },
  };
}
