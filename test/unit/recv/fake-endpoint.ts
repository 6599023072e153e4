// fake-endpoint.ts — a ReceiverEndpoint in memory for the unit tests of the receiver's parts.
// It records what the parts ask of the addon; control payloads a session sends go to a peer
// ReliableChannel (as the sender's would), whose decoded messages the tests read.
import { pino } from 'pino';
import { ReliableChannel } from '../../../src/control/reliable-channel.js';
import { decodeControl, type ControlMessage } from '../../../src/proto/control.js';
import type { ReceiverEndpoint } from '../../../src/recv/endpoint-port.js';
import type {
  ReceiveCheckpoint,
  ReceiveTransferSpec,
  ReceiveTransferStats,
  SessionSpec,
  SessionStats,
} from '../../../src/addon/binding.js';
import type { AcceptedHandshake } from '../../../src/recv/session-table.js';

export const silentLog = pino({ level: 'silent' });

const tkey = (s: number, t: number) => `${s}:${t}`;

export class FakeEndpoint implements ReceiverEndpoint {
  readonly sessions = new Map<number, SessionSpec>();
  readonly removed: number[] = [];
  readonly raw: { address: string; port: number; packet: Uint8Array }[] = [];
  readonly opens: { localIndex: number; transferId: number; spec: ReceiveTransferSpec }[] = [];
  /** Open transfers, by `${session}:${transfer}`. */
  readonly open = new Set<string>();
  readonly closes: { localIndex: number; transferId: number; removePartials: boolean }[] = [];
  readonly discards: { localIndex: number; transferId: number }[] = [];
  readonly checkpoints: string[] = [];
  /** Rate caps pushed (setReceiveRateCap), by `${session}:${transfer}`. */
  readonly rateCaps = new Map<string, number>();
  /** What openReceiveTransfer does (default: resolves). */
  onOpen: (spec: ReceiveTransferSpec) => Promise<void> = () => Promise.resolve();
  /** What the next checkpoints resolve with. */
  checkpointResult: ReceiveCheckpoint = { doneFiles: [], ranges: [], blocksHeld: 0, bytesHeld: 0 };
  /** Stats of open transfers (default: zeros with blocksResumed from stats.blocksResumed). */
  readonly stats = new Map<string, Partial<ReceiveTransferStats>>();
  readonly sessionStatsOf = new Map<number, Partial<SessionStats>>();
  /** Where the peer's acks go (wire it to SessionTable.receive so channels settle). */
  ackTo: ((localIndex: number, payload: Uint8Array) => void) | null = null;
  private readonly peers = new Map<number, { channel: ReliableChannel; messages: ControlMessage[] }>();
  port = 4000;

  localPort(): number {
    return this.port;
  }
  sendRaw(address: string, port: number, packet: Uint8Array): void {
    this.raw.push({ address, port, packet });
  }
  addSession(s: SessionSpec): void {
    this.sessions.set(s.localIndex, s);
  }
  removeSession(localIndex: number): void {
    this.sessions.delete(localIndex);
    this.removed.push(localIndex);
    for (const k of [...this.open]) if (k.startsWith(`${localIndex}:`)) this.open.delete(k);
  }
  sendControl(localIndex: number, payload: Uint8Array): void {
    this.peer(localIndex).channel.receive(payload);
  }
  sessionStats(localIndex: number): SessionStats | null {
    if (!this.sessions.has(localIndex)) return null;
    return {
      packetsRecv: 0,
      bytesRecv: 0,
      packetsSent: 0,
      bytesSent: 0,
      lastRecvUs: 0,
      lastSendUs: 0,
      ...this.sessionStatsOf.get(localIndex),
    };
  }
  async openReceiveTransfer(localIndex: number, transferId: number, spec: ReceiveTransferSpec): Promise<void> {
    this.opens.push({ localIndex, transferId, spec });
    await this.onOpen(spec);
    this.open.add(tkey(localIndex, transferId));
  }
  receiveTransferStats(localIndex: number, transferId: number): ReceiveTransferStats | null {
    if (!this.open.has(tkey(localIndex, transferId))) return null;
    return {
      bytesReceived: 0,
      blocksReceived: 0,
      totalBlocks: 0,
      filesDone: 0,
      recvRateBps: 0,
      lastRecvUs: 0,
      failed: false,
      blocksResumed: 0,
      ...this.stats.get(tkey(localIndex, transferId)),
    };
  }
  closeReceiveTransfer(localIndex: number, transferId: number, removePartials: boolean): void {
    this.closes.push({ localIndex, transferId, removePartials });
    this.open.delete(tkey(localIndex, transferId));
  }
  discardEarlyBlocks(localIndex: number, transferId: number): void {
    this.discards.push({ localIndex, transferId });
  }
  setReceiveRateCap(localIndex: number, transferId: number, capBps: number): void {
    if (!this.open.has(tkey(localIndex, transferId))) throw Object.assign(new Error('not open'), { code: 'JETRECV_ERR_UNKNOWN_TRANSFER' });
    this.rateCaps.set(tkey(localIndex, transferId), capBps);
  }
  checkpointReceiveTransfer(localIndex: number, transferId: number): Promise<ReceiveCheckpoint> {
    if (!this.open.has(tkey(localIndex, transferId))) throw Object.assign(new Error('not open'), { code: 'JETRECV_ERR_UNKNOWN_TRANSFER' });
    this.checkpoints.push(tkey(localIndex, transferId));
    return Promise.resolve({ ...this.checkpointResult });
  }

  /** Sets the addon's figures of an open transfer. */
  setStats(localIndex: number, transferId: number, st: Partial<ReceiveTransferStats>): void {
    this.stats.set(tkey(localIndex, transferId), st);
  }

  /** Control messages the session sent so far, decoded, in order. */
  messages(localIndex: number): ControlMessage[] {
    return this.peer(localIndex).messages;
  }

  /** Closes the peers' channels (their timers). */
  dispose(): void {
    for (const p of this.peers.values()) p.channel.close();
  }

  private peer(localIndex: number): { channel: ReliableChannel; messages: ControlMessage[] } {
    let p = this.peers.get(localIndex);
    if (!p) {
      const messages: ControlMessage[] = [];
      const channel = new ReliableChannel({
        send: (payload) => this.ackTo?.(localIndex, payload),
        onMessage: (bytes) => messages.push(decodeControl(bytes)),
        onDead: () => {},
      });
      p = { channel, messages };
      this.peers.set(localIndex, p);
    }
    return p;
  }
}

let nextIndex = 100;
/** An accepted handshake as the responder returns it. */
export function handshake(localIndex = nextIndex++): AcceptedHandshake {
  return {
    ok: true,
    response: new Uint8Array(80),
    keys: { sendKey: new Uint8Array(32), recvKey: new Uint8Array(32) },
    peerPublicKey: new Uint8Array(32),
    localIndex,
    remoteIndex: localIndex + 1000,
    cipher: 'chacha20-poly1305',
    lanes: 1,
    handshakeHash: new Uint8Array(32),
  } as AcceptedHandshake;
}
