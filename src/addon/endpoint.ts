// endpoint.ts — the typed wrapper over the native Endpoint, and the addon's free functions:
// the one door the rest of src/ uses (binding.ts loads the addon; only this folder touches
// it). The wrapper owns the doorbell: when the addon rings, queued events are drained in
// batches and handed to one handler, typed by the endpoint's role, so nothing crosses the
// JS/C++ boundary per packet. Its commands are the addon's, with the same names and
// signatures (binding.ts documents each); counters are pulled on demand.
import {
  addon,
  type EndpointOptions,
  type KernelBuffers,
  type NativeEndpoint,
  type NativeEvent,
  type PartialSweep,
  type PeerCredentials,
  type ReceiveCheckpoint,
  type ReceiveTransferSpec,
  type ReceiveTransferStats,
  type ReceiverEvent,
  type SenderEvent,
  type SendTransferSpec,
  type SendTransferStats,
  type SessionSpec,
  type SessionStats,
  type StalePartial,
} from './binding.js';

export { DEFAULT_EARLY_BLOCK_BYTES, DEFAULT_EVENT_QUEUE_CAPACITY } from './limits.js';

export type {
  CipherName,
  PeerCredentials,
  NativeEvent,
  RatePolicy,
  ReceiveCheckpoint,
  ReceiverEvent,
  ReceiveTransferSpec,
  ReceiveTransferStats,
  SenderEvent,
  SendTransferSpec,
  SendTransferStats,
  SessionSpec,
  SessionStats,
} from './binding.js';

export type EndpointRole = EndpointOptions['role'];

/** The events an endpoint of role `R` delivers. */
export type EndpointEvent<R extends EndpointRole> = R extends 'receiver' ? ReceiverEvent : SenderEvent;

/** Options of an endpoint (binding.ts EndpointOptions without the doorbell, which the wrapper owns). */
export type EndpointConfig<R extends EndpointRole = EndpointRole> = Omit<EndpointOptions, 'onEvents' | 'role'> & { role: R };

/** Largest number of events handled per drain call before yielding to the event loop. */
const kDrainBatch = 1024;

export class Endpoint<R extends EndpointRole = EndpointRole> {
  readonly role: R;
  private readonly native: NativeEndpoint;
  /** The handler; the addon queues only events of this endpoint's role (test/native/contract.test.ts). */
  private readonly onEvent: (ev: NativeEvent) => void;
  private closed = false;
  private draining = false;
  private readonly counterBuf: Float64Array;

  /** Throws if JETRECV_AEAD is set to an unknown value (see aeadBackends). */
  constructor(config: EndpointConfig<R>, onEvent: (ev: EndpointEvent<R>) => void) {
    aeadBackends();
    this.role = config.role;
    this.onEvent = onEvent as (ev: NativeEvent) => void;
    this.counterBuf = new Float64Array(addon.counterNames.length);
    this.native = new addon.Endpoint({ ...config, onEvents: () => this.drain() });
  }

  /** The doorbell: drains every queued event, in batches, dispatching each to the handler. */
  private drain(): void {
    if (this.closed || this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        const batch = this.native.drainEvents(kDrainBatch);
        for (const ev of batch) {
          try {
            this.onEvent(ev);
          } catch (err) {
            // A handler bug must not stop the drain loop; surface it loudly.
            process.emitWarning(`jetrecv: event handler failed for ${ev.type}: ${(err as Error).stack ?? err}`);
          }
        }
        if (batch.length < kDrainBatch || this.closed) break;
      }
    } finally {
      this.draining = false;
    }
  }

  /** Current counter totals, by name (summed across the addon's threads). */
  counters(): Record<string, number> {
    this.native.readCounters(this.counterBuf);
    const out: Record<string, number> = {};
    addon.counterNames.forEach((name, i) => {
      out[name] = this.counterBuf[i] ?? 0;
    });
    return out;
  }

  /** Stops the addon's threads and closes sockets and files; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }

  localPort(): number {
    return this.native.localPort();
  }

  kernelBuffers(): KernelBuffers {
    return this.native.kernelBuffers();
  }

  sendRaw(address: string, port: number, packet: Uint8Array): void {
    this.native.sendRaw(address, port, packet);
  }

  addSession(s: SessionSpec): void {
    this.native.addSession(s);
  }

  removeSession(localIndex: number): void {
    this.native.removeSession(localIndex);
  }

  sendControl(localIndex: number, payload: Uint8Array): void {
    this.native.sendControl(localIndex, payload);
  }

  sessionStats(localIndex: number): SessionStats | null {
    return this.native.sessionStats(localIndex);
  }

  openReceiveTransfer(localIndex: number, transferId: number, spec: ReceiveTransferSpec): Promise<void> {
    return this.native.openReceiveTransfer(localIndex, transferId, spec);
  }

  receiveTransferStats(localIndex: number, transferId: number): ReceiveTransferStats | null {
    return this.native.receiveTransferStats(localIndex, transferId);
  }

  closeReceiveTransfer(localIndex: number, transferId: number, removePartials: boolean): void {
    this.native.closeReceiveTransfer(localIndex, transferId, removePartials);
  }

  discardEarlyBlocks(localIndex: number, transferId: number): void {
    this.native.discardEarlyBlocks(localIndex, transferId);
  }

  setReceiveRateCap(localIndex: number, transferId: number, capBps: number): void {
    this.native.setReceiveRateCap(localIndex, transferId, capBps);
  }

  checkpointReceiveTransfer(localIndex: number, transferId: number): Promise<ReceiveCheckpoint> {
    return this.native.checkpointReceiveTransfer(localIndex, transferId);
  }

  startSendTransfer(localIndex: number, transferId: number, spec: SendTransferSpec): void {
    this.native.startSendTransfer(localIndex, transferId, spec);
  }

  sendTransferStats(localIndex: number, transferId: number): SendTransferStats | null {
    return this.native.sendTransferStats(localIndex, transferId);
  }

  stopSendTransfer(localIndex: number, transferId: number): void {
    this.native.stopSendTransfer(localIndex, transferId);
  }

  acceptSendTransfer(localIndex: number, transferId: number, have: NonNullable<SendTransferSpec['have']>): void {
    this.native.acceptSendTransfer(localIndex, transferId, have);
  }
}

/** Values of the JETRECV_AEAD environment variable: 'openssl' forces OpenSSL for AEAD. */
const AEAD_OVERRIDES = ['', 'auto', 'openssl'];

/**
 * The AEAD back end sessions use, by cipher name ('ipsec-mb' or 'openssl'). Throws if
 * JETRECV_AEAD is set to something other than 'auto' or 'openssl'.
 */
export function aeadBackends(): Readonly<Record<string, 'ipsec-mb' | 'openssl'>> {
  const forced = process.env['JETRECV_AEAD'];
  if (forced !== undefined && !AEAD_OVERRIDES.includes(forced)) {
    throw new Error(`JETRECV_AEAD must be 'auto' or 'openssl' (got '${forced}')`);
  }
  return addon.aeadBackends;
}

/** Sends a state line to systemd's $NOTIFY_SOCKET; false when not run under systemd. */
export function sdNotify(message: string): boolean {
  return addon.sdNotify(message);
}

/** See NativeAddon.routeMtu: the MTU of the local route towards a numeric address. */
export function routeMtu(address: string, port: number): number {
  return addon.routeMtu(address, port);
}

/** See NativeAddon.removeStalePartial: removes an abandoned partial file beneath the sandbox root. */
export function removeStalePartial(root: string, path: string, size: number, tag = ''): StalePartial {
  return addon.removeStalePartial(root, path, size, tag);
}

/** See NativeAddon.releaseFreeHeapMemory: freed heap memory back to the kernel after many frees. */
export function releaseFreeHeapMemory(): boolean {
  return addon.releaseFreeHeapMemory();
}

/** See NativeAddon.sweepPartials: removes tagged partials no kept tag owns, beneath the sandbox root. */
export function sweepPartials(root: string, keepTags: string[]): PartialSweep {
  return addon.sweepPartials(root, keepTags);
}

/** See NativeAddon.peerCredentials: who is at the other end of a connected Unix socket. */
export function peerCredentials(fd: number): PeerCredentials {
  return addon.peerCredentials(fd);
}
