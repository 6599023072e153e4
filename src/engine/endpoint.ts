// endpoint.ts — typed facade over the native Endpoint. It owns the doorbell: when the
// addon rings, queued events are drained in batches and dispatched to one handler, so
// nothing crosses the JS/C++ boundary per packet. Counters are pulled on demand.
import { addon, type EndpointOptions, type NativeEndpoint, type NativeEvent } from '../native/binding.js';

export { DEFAULT_EVENT_QUEUE_CAPACITY } from '../native/binding.js';

export type { NativeEvent, SessionSpec, ReceiveTransferSpec, SendTransferSpec, CipherName } from '../native/binding.js';

/** Options of an endpoint; defaults are filled in by {@link openEndpoint}. */
export type EndpointConfig = Omit<EndpointOptions, 'onEvents'>;

/** Largest number of events handled per drain call before yielding to the event loop. */
const kDrainBatch = 1024;

export class Endpoint {
  readonly native: NativeEndpoint;
  private closed = false;
  private draining = false;
  private readonly counterBuf: Float64Array;

  /** Throws if JETRECV_AEAD is set to an unknown value (see aeadBackends). */
  constructor(config: EndpointConfig, private readonly onEvent: (ev: NativeEvent) => void) {
    aeadBackends();
    this.counterBuf = new Float64Array(addon.counterNames.length);
    this.native = new addon.Endpoint({ ...config, onEvents: () => this.drain() });
  }

  /** Drains every queued event, in batches, dispatching each to the handler. */
  drain(): void {
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

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops the addon's threads and closes sockets and files; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}

/** Names of the addon's counters, in the order readCounters() fills them. */
export function counterNames(): readonly string[] {
  return addon.counterNames;
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
export function removeStalePartial(root: string, path: string, size: number, tag = ''): 'removed' | 'missing' | 'replaced' {
  return addon.removeStalePartial(root, path, size, tag);
}

/** See NativeAddon.releaseFreeHeapMemory: freed heap memory back to the kernel after many frees. */
export function releaseFreeHeapMemory(): boolean {
  return addon.releaseFreeHeapMemory();
}

/** See NativeAddon.sweepPartials: removes tagged partials no kept tag owns, beneath the sandbox root. */
export function sweepPartials(root: string, keepTags: string[]): { removed: number; bytesRemoved: number; kept: number; leftAlone: number } {
  return addon.sweepPartials(root, keepTags);
}
