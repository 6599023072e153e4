// endpoint-port.ts — the native endpoint methods the receiver uses, and nothing else. The
// receiver's parts take this port instead of the addon, so each is unit-tested against a
// fake; the names and signatures are those of the addon's endpoint (NativeEndpoint).
import type { ReceiveCheckpoint, ReceiveTransferSpec, ReceiveTransferStats, SessionSpec, SessionStats } from '../native/binding.js';

export interface ReceiverEndpoint {
  /** The bound data port. */
  localPort(): number;
  /** One raw datagram (handshake response, cookie reply). */
  sendRaw(address: string, port: number, packet: Uint8Array): void;
  addSession(s: SessionSpec): void;
  /** Also closes the session's receive transfers (partials kept). */
  removeSession(localIndex: number): void;
  sendControl(localIndex: number, payload: Uint8Array): void;
  sessionStats(localIndex: number): SessionStats | null;
  /** Runs on a worker thread; file-done events of the open may arrive before it settles. */
  openReceiveTransfer(localIndex: number, transferId: number, spec: ReceiveTransferSpec): Promise<void>;
  receiveTransferStats(localIndex: number, transferId: number): ReceiveTransferStats | null;
  closeReceiveTransfer(localIndex: number, transferId: number, removePartials: boolean): void;
  /** Throws at once if the transfer is not open; rejects when a sync fails. */
  checkpointReceiveTransfer(localIndex: number, transferId: number): Promise<ReceiveCheckpoint>;
}

/** The addon's partial-file functions the receiver uses (src/engine/endpoint.ts, same signatures). */
export interface PartialFiles {
  /** Removes one abandoned partial of `tag` beneath root: 'replaced' when the name no longer holds our partial. */
  removeStalePartial(root: string, path: string, size: number, tag?: string): 'removed' | 'missing' | 'replaced';
  /** Removes every tagged partial beneath root whose tag is not kept. */
  sweepPartials(root: string, keepTags: string[]): { removed: number; bytesRemoved: number; kept: number; leftAlone: number };
}
