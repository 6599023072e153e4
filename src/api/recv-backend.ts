// recv-backend.ts — what the API server needs from the receiver. The daemon implements it
// with the real sessions and transfers; tests use fixed samples.
import type { AuthorizedClients } from '../state/authorized-clients.js';
import type { BandwidthLimitsStructure, ReceiveTransferStructure, SourceStructure } from '../proto/api-structures.js';

/** The receiver as the RecvInterface methods see it. */
export interface RecvBackend {
  /** Current sources (sending servers seen by this receiver). May be async. */
  getSources(): SourceStructure[] | Promise<SourceStructure[]>;
  /** Current receive transfer records. May be async. */
  getTransfers(): ReceiveTransferStructure[] | Promise<ReceiveTransferStructure[]>;
  /** The authorized-clients list the API methods change. */
  authorizedClients: AuthorizedClients;
  /**
   * Called after the list or the allow-only flag changed (and was persisted). The daemon ends
   * the sessions of senders that are no longer allowed. Errors thrown here are logged, they do
   * not fail the request (the change itself succeeded).
   */
  onAuthorizationChanged(): void;
  /** The receive rate limits now (kbit/s, 0 = none). */
  getBandwidthLimits(): BandwidthLimitsStructure;
  /** Changes them (values already checked against the catalogue's bounds); open transfers follow at once. */
  setBandwidthLimits(limits: BandwidthLimitsStructure): void;
}
