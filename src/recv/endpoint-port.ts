// endpoint-port.ts — what the receiver needs of the addon, and nothing else. The receiver's
// parts take these ports instead of the addon, so each is unit-tested against a fake. They
// are picked from the addon's own types: the same names and signatures, written once.
import type { NativeEndpoint } from '../addon/binding.js';
import type { removeStalePartial, sweepPartials } from '../addon/endpoint.js';

/** The native endpoint methods the receiver uses (see NativeEndpoint for each contract). */
export type ReceiverEndpoint = Pick<
  NativeEndpoint,
  | 'localPort'
  | 'sendRaw'
  | 'addSession'
  | 'removeSession'
  | 'sendControl'
  | 'sessionStats'
  | 'openReceiveTransfer'
  | 'receiveTransferStats'
  | 'closeReceiveTransfer'
  | 'discardEarlyBlocks'
  | 'setReceiveRateCap'
  | 'checkpointReceiveTransfer'
>;

/** The addon's partial-file functions resume retention uses (src/addon/endpoint.ts). */
export interface PartialFiles {
  removeStalePartial: typeof removeStalePartial;
  sweepPartials: typeof sweepPartials;
}
