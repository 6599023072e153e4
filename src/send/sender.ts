// sender.ts — the sending side (`jetrecv send`): handshake with the receiver, offer the
// manifest over the reliable control channel, then let the addon's TX engine stream the
// blocks (pacing, retransmission of NACKed ranges) until the receiver confirms that every
// file is finalized. Returns a summary of what was moved.
//
// Resume: every transfer carries a random 16-byte transfer uid (kept in a resume file, see
// resume-state.ts, so a new run of the same send reuses it) and asks the receiver to
// checkpoint every `checkpointSeconds`. When the receiver goes silent or says goodbye
// (restart, SIGTERM), the sender re-handshakes every second for up to `reconnectTimeoutMs`
// and offers the same transfer again; the receiver answers with the blocks it holds
// (TransferAccept.have) and the TX engine sends only the rest.
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import {
  DEFAULT_EVENT_QUEUE_CAPACITY,
  Endpoint,
  routeMtu,
  type SenderEvent,
  type SendTransferSpec,
  type CipherName,
  type RatePolicy,
} from '../addon/endpoint.js';
import { kBlockPacketOverhead, kDatagramSizeRange, kMinBlockSize } from '../addon/limits.js';
import { HandshakeInitiator } from '../handshake/index.js';
import type { KeyPair } from '../keys/key-encoding.js';
import { ReliableChannel } from '../control/reliable-channel.js';
import { decodeControl, encodeControl, TRANSFER_PROTOCOL, type ControlMessage } from '../proto/control.js';
import { ErrorCodes, JetrecvError, UsageError } from '../errors.js';
import { SendPolicy } from '../addon/send-policy.js';
import { buildManifest } from './manifest.js';
import { ResumeState } from './resume-state.js';

/** The datagram size for a 1500-byte MTU (IPv4 and UDP headers take 28 bytes). */
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
  /** Rate floor in bits/s (0/undefined = the addon's 1 Mbit/s). */
  rateMinBps?: number;
  /** 'fair' (default): measures the path and shares it; 'fixed': holds rateMaxBps. */
  ratePolicy?: RatePolicy;
  lanes: number;
  /** TX threads, 1..lanes (thread i sends on lanes i, i+n, ...; one rate for all). Default 1. */
  txThreads?: number;
  /** Largest UDP payload per datagram (1472 for a 1500-byte MTU, 8972 for jumbo): within kDatagramSizeRange. */
  datagramSize: number;
  cipher: CipherName;
  handshakeTimeoutMs?: number;
  /** The transfer fails when nothing arrives from the receiver for this long (no reconnect). */
  peerTimeoutMs?: number;
  /** Checkpoint period asked of the receiver, in seconds (0 = no checkpoints, no resume). Default 2. */
  checkpointSeconds?: number;
  /** Directory of resume files (null = resume only within this run). Default: none (this run only). */
  resumeDir?: string | null;
  /** After losing the receiver, keep trying to reconnect and resume this long (0 = fail at once). Default 60 s. */
  reconnectTimeoutMs?: number;
  /** Silence from the receiver (while connected) after which the sender reconnects. Default 3 s. */
  silenceMs?: number;
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
  /** Over every session of this run (retransmissions included). */
  blocksSent: number;
  blocksRetransmitted: number;
  /** Of blocksRetransmitted: second copies of repairs sent after the first pass (the tail). */
  blocksTailCopies: number;
  /** Block data bytes sent over every session (retransmissions included). */
  bytesSent: number;
  /** Times the rate controller entered competing mode, over every session. */
  competingEvents: number;
  totalBlocks: number;
  /** Blocks not sent because the receiver already held them, summed over sessions. */
  blocksResumed: number;
  /** Blocks the receiver held at the first accept of this run (from an earlier run). */
  blocksResumedAtStart: number;
  /** Times the sender lost the receiver and connected again. */
  reconnects: number;
  /** The transfer uid came from an earlier, unfinished run. */
  resumedEarlierRun: boolean;
  /** File bytes the receiver already held at the first accept of this run (block granularity). */
  bytesResumedAtStart: number;
  counters: Record<string, number>;
}

const kLocalIndex = 1;
const kTransferId = 1;
const kIpv4UdpHeaders = 28; // IPv4 (20) + UDP (8)

/**
 * The datagram size to send towards `address`: the one asked for, or, when it does not fit
 * the MTU of the local route there, the largest that does (with a warning). A jumbo size on
 * a 1500-byte route would otherwise be refused by GSO and fragmented by IP. Only the local
 * hop is known; a route that cannot be read leaves the size as asked.
 */
export function fitDatagramSize(asked: number, address: string, port: number, warn: (msg: string) => void): number {
  let mtu: number;
  try {
    mtu = routeMtu(address, port);
  } catch {
    return asked; // no route yet: the handshake will say so
  }
  const fits = mtu - kIpv4UdpHeaders;
  if (asked <= fits || fits - kBlockPacketOverhead < kMinBlockSize) return asked;
  warn(`datagram size ${asked} does not fit the ${mtu}-byte MTU of the route to ${address}: sending ${fits}-byte datagrams`);
  return fits;
}

export async function sendFiles(opts: SendOptions): Promise<SendResult> {
  const log = opts.logger.child({ component: 'sender' });
  /** Every native send of this run goes through it (see send-policy.ts). */
  const sends = new SendPolicy(log);
  // The one check of the datagram size (the CLI flag and library callers alike).
  const { min, max } = kDatagramSizeRange;
  if (!Number.isInteger(opts.datagramSize) || opts.datagramSize < min || opts.datagramSize > max) {
    throw new UsageError(
      `datagramSize (--datagram-size) must be an integer ${min}-${max}, got ${opts.datagramSize}: a block of at least ${kMinBlockSize} bytes plus ${kBlockPacketOverhead} bytes of headers, at most the largest UDP payload`,
      { field: 'datagramSize' },
    );
  }
  const manifest = await buildManifest(opts.paths);
  for (const w of manifest.warnings) opts.onWarning?.(w);
  const { address } = await lookup(opts.host, { family: 4 }).catch((err: Error) => {
    throw new JetrecvError(ErrorCodes.USAGE, `cannot resolve '${opts.host}': ${err.message}`);
  });
  const datagramSize = fitDatagramSize(opts.datagramSize, address, opts.port, (w) => {
    log.warn(w);
    opts.onWarning?.(w);
  });
  const blockSize = datagramSize - kBlockPacketOverhead;
  const checkpointSeconds = opts.checkpointSeconds ?? 2;
  const resumeState = await ResumeState.open(checkpointSeconds > 0 ? (opts.resumeDir ?? null) : null, {
    senderPublicKey: opts.keys.publicKey,
    serverPublicKey: opts.serverKey,
    destinationPath: opts.destinationPath,
    blockSize,
    manifest,
  });
  if (resumeState.fromEarlierRun) log.info({ file: resumeState.file }, 'offering to resume an unfinished transfer');
  const reconnectTimeoutMs = checkpointSeconds > 0 ? (opts.reconnectTimeoutMs ?? 60_000) : 0;
  const silenceMs = opts.silenceMs ?? 3000;
  const totalBlocks = manifest.files.reduce((a, f) => a + Math.ceil(f.size / blockSize), 0);

  return await new Promise<SendResult>((resolve, reject) => {
    const started = Date.now();
    let connectedAt = 0; // of the current session; 0 while (re)connecting
    let firstConnectedAt = 0;
    let finished = false;
    let filesDone = 0;
    let accepted = false;
    let earlyStarted = false; // this session's send transfer was started before the accept (sendEarlyTrain)
    let channel: ReliableChannel | null = null;
    let lostAt = 0; // when the receiver was lost (0 = never)
    let lostReason = '';
    let reconnects = 0;
    let firstAcceptDone = false;
    let blocksResumedAtStart = 0;
    // Stats of earlier sessions of this run.
    const past = { blocksSent: 0, blocksRetransmitted: 0, blocksTailCopies: 0, bytesSent: 0, blocksResumed: 0, competingEvents: 0 };
    const timers: NodeJS.Timeout[] = [];

    const endpoint = new Endpoint(
      {
        role: 'sender',
        bindAddress: '0.0.0.0',
        port: 0,
        sockets: opts.lanes,
        rcvbufBytes: 4 << 20,
        sndbufBytes: 4 << 20,
        maxDatagram: datagramSize,
        feedbackIntervalMs: 10,
        directIo: 'off',
        directIoThreads: 1,
        txThreads: opts.txThreads ?? 1,
        eventQueueCapacity: DEFAULT_EVENT_QUEUE_CAPACITY,
      },
      (ev) => onEvent(ev),
    );
    // One initiator for the whole run: reconnects keep a live cookie and increasing timestamps.
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
      // Never accepted: the receiver holds nothing of this run worth resuming.
      if (err && !firstAcceptDone && !resumeState.fromEarlierRun) void resumeState.forget().catch(() => {});
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
    /** A failure after which resuming is pointless: forget the resume file. */
    const finishForGood = (err: Error) => {
      void resumeState.forget().catch(() => {});
      finish(err);
    };
    /**
     * Interrupted (Ctrl-C, SIGTERM). A transfer a later run can resume (checkpoints on, a
     * resume file kept) ends its session with a goodbye: the receiver checkpoints and keeps
     * the partials, and the same send run again resumes. Otherwise it is cancelled (the
     * receiver drops the partials: nobody could resume them).
     */
    const onAbort = () => {
      const resumable = checkpointSeconds > 0 && resumeState.file !== null && (firstAcceptDone || resumeState.fromEarlierRun);
      if (channel && accepted) {
        if (resumable) {
          channel.sendMessage(encodeControl({ kind: 'goodbye', reason: 'sender interrupted; it may resume' }));
        } else {
          channel.sendMessage(encodeControl({ kind: 'cancel', transferId: kTransferId, reason: 'sender interrupted' }));
          void resumeState.forget().catch(() => {});
        }
      }
      finish(
        new JetrecvError(
          ErrorCodes.CANCELLED,
          resumable ? 'interrupted: the receiver keeps what it has; run the same send again to resume' : 'transfer cancelled',
        ),
      );
    };
    opts.signal?.addEventListener('abort', onAbort);

    const sendInit = () => void sends.send('handshake-init', () => endpoint.sendRaw(address, opts.port, initiator.createInitiation()));
    sendInit();
    // Encoded while the INIT is on its way (the first encode generates the codecs, tens of ms):
    // on the RESP the request leaves at once. The same bytes serve every reconnect.
    let transferRequest: Uint8Array;
    try {
      transferRequest = encodeControl({
        kind: 'transferRequest',
        transferId: kTransferId,
        destinationPath: opts.destinationPath,
        blockSize,
        files: manifest.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs })),
        emptyDirs: manifest.emptyDirs,
        checkpointFrequencySeconds: checkpointSeconds,
        transferUid: checkpointSeconds > 0 ? resumeState.uid : new Uint8Array(0),
        senderName: hostname(),
        transferProtocol: TRANSFER_PROTOCOL,
      });
    } catch (err) {
      finish(err as Error); // a manifest the protocol cannot carry
      return;
    }
    const handshakeDeadline = started + (opts.handshakeTimeoutMs ?? 10_000);
    timers.push(
      setInterval(() => {
        if (connectedAt) return;
        const now = Date.now();
        if (lostAt === 0 && now >= handshakeDeadline) {
          finish(
            new JetrecvError(
              ErrorCodes.TIMEOUT,
              `no answer from ${opts.host}:${opts.port} within ${Math.round((opts.handshakeTimeoutMs ?? 10_000) / 1000)} s: the receiver is not running there, --server-key is not its public key, or this sender's key is not authorized`,
            ),
          );
          return;
        }
        if (lostAt !== 0 && now - lostAt >= reconnectTimeoutMs) {
          finish(
            new JetrecvError(
              ErrorCodes.TIMEOUT,
              `lost the receiver (${lostReason}) and could not reconnect within ${Math.round(reconnectTimeoutMs / 1000)} s; run the same send again to resume`,
            ),
          );
          return;
        }
        sendInit();
      }, 1000),
    );

    /** The session is gone (receiver restarted, stopped or silent): reconnect and resume, or fail. */
    function lose(reason: string): void {
      if (finished || !connectedAt) return;
      if (reconnectTimeoutMs <= 0) {
        finish(new JetrecvError(ErrorCodes.TIMEOUT, reason));
        return;
      }
      const st = endpoint.sendTransferStats(kLocalIndex, kTransferId);
      if (st) {
        past.blocksSent += st.blocksSent;
        past.blocksRetransmitted += st.blocksRetransmitted;
        past.blocksTailCopies += st.blocksTailCopies;
        past.bytesSent += st.bytesSent;
        past.blocksResumed += st.blocksResumed;
        past.competingEvents += st.competingEvents;
      }
      channel?.close();
      channel = null;
      try {
        endpoint.removeSession(kLocalIndex); // also stops the send transfer
      } catch {
        /* already gone */
      }
      connectedAt = 0;
      accepted = false;
      filesDone = 0;
      lostAt = Date.now();
      lostReason = reason;
      reconnects++;
      log.warn({ reason, reconnectTimeoutMs }, 'lost the receiver; reconnecting to resume the transfer');
      opts.onWarning?.(`lost the receiver (${reason}); reconnecting to resume`);
      sendInit();
    }

    function sendSpec(have: SendTransferSpec['have'], earlyBytes: number): SendTransferSpec {
      return {
        blockSize,
        files: manifest.files.map((f) => ({ path: f.localPath, size: f.size })),
        rateMaxBps: opts.rateMaxBps,
        rateStartBps: opts.rateStartBps ?? Math.min(opts.rateMaxBps || 1e9, 1e9),
        rateMinBps: opts.rateMinBps ?? 0,
        ratePolicy: opts.ratePolicy ?? 'fair',
        have,
        earlyBytes,
      };
    }

    /**
     * The receiver holds early blocks (its pure ack said so, docs/PROTOCOL-control.md "Early
     * blocks"): the first train goes out now, behind the TransferRequest, instead of one RTT
     * later with the accept. Not for a resume (what the receiver holds is unknown before the
     * accept): the first run of a transfer, before any reconnect.
     */
    function sendEarlyTrain(earlyBlockBytes: number): void {
      if (earlyStarted || accepted || !connectedAt || resumeState.fromEarlierRun || reconnects > 0) return;
      try {
        endpoint.startSendTransfer(kLocalIndex, kTransferId, sendSpec([], earlyBlockBytes));
        earlyStarted = true;
        log.debug({ earlyBlockBytes }, 'receiver holds early blocks: first train sent before the accept');
      } catch (err) {
        // The accept starts it as usual and reports the same error.
        log.debug({ err: (err as Error).message }, 'early train not sent');
      }
    }

    function onEvent(ev: SenderEvent): void {
      if (finished) return;
      if (ev.type === 'handshake') {
        if (connectedAt) return;
        // The receiver is under load and wants proof of our address: retry at once with mac2.
        if (initiator.consumeCookieReply(ev.packet)) {
          log.debug('handshake cookie received; resending the INIT with mac2');
          sendInit();
          return;
        }
        const res = initiator.consumeResponse(ev.packet);
        if (!res) return;
        connectedAt = Date.now();
        firstConnectedAt ||= connectedAt;
        lostAt = 0;
        endpoint.addSession({
          localIndex: kLocalIndex,
          remoteIndex: res.remoteIndex,
          cipher: res.cipher,
          sendKey: res.keys.sendKey,
          recvKey: res.keys.recvKey,
          peerAddress: address,
          peerPort: opts.port,
        });
        log.debug({ cipher: res.cipher, lanes: res.lanes, txThreads: opts.txThreads ?? 1, reconnects }, 'session established');
        const ch: ReliableChannel = new ReliableChannel({
          send: (payload) => void sends.send('control', () => endpoint.sendControl(kLocalIndex, payload)),
          onMessage: (bytes) => {
            if (channel === ch) onControl(bytes);
          },
          onDead: (reason) => {
            if (channel === ch) lose(`receiver stopped answering control messages: ${reason}`);
          },
          // A handler that throws ends this run with that error; it never escapes as an uncaught exception.
          onCallbackError: (err) => finish(err instanceof Error ? err : new Error(String(err))),
          onEarlyBlockBytes: (bytes) => {
            if (channel === ch) sendEarlyTrain(bytes);
          },
        });
        channel = ch;
        earlyStarted = false;
        channel.sendMessage(transferRequest);
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
        case 'transferAccept': {
          if (accepted) return;
          accepted = true;
          const have = msg.have.filter((r) => r.fileIndex < manifest.files.length);
          try {
            if (earlyStarted) endpoint.acceptSendTransfer(kLocalIndex, kTransferId, have);
            else endpoint.startSendTransfer(kLocalIndex, kTransferId, sendSpec(have, 0));
          } catch (err) {
            channel?.sendMessage(encodeControl({ kind: 'cancel', transferId: kTransferId, reason: (err as Error).message }));
            finishForGood(err as Error);
            return;
          }
          const resumed = endpoint.sendTransferStats(kLocalIndex, kTransferId)?.blocksResumed ?? 0;
          if (!firstAcceptDone) {
            firstAcceptDone = true;
            blocksResumedAtStart = resumed;
          }
          if (resumed > 0) log.info({ blocksResumed: resumed, totalBlocks }, 'receiver holds part of the transfer: sending only the rest');
          break;
        }
        case 'transferRefuse':
          finishForGood(new JetrecvError(msg.code || ErrorCodes.REFUSED, `receiver refused the transfer: ${msg.reason}`));
          break;
        case 'transferError':
          finishForGood(new JetrecvError(msg.code || ErrorCodes.DISK, `receiver failed the transfer: ${msg.message}`));
          break;
        case 'filesDone':
          filesDone += msg.fileIndex.length;
          break;
        case 'transferDone':
          complete();
          break;
        case 'goodbye':
          // Final: do not reconnect now. The receiver keeps a resumable transfer's partials
          // (e.g. this key was de-authorized), so the resume file stays for a later run.
          if (msg.final)
            finish(
              new JetrecvError(
                ErrorCodes.REFUSED,
                `receiver ended the session for good: ${msg.reason}${checkpointSeconds > 0 && resumeState.file !== null ? '; once that is resolved, run the same send again to resume' : ''}`,
              ),
            );
          else if (reconnectTimeoutMs > 0) lose(`receiver closed the session: ${msg.reason}`);
          else finish(new JetrecvError(ErrorCodes.REFUSED, `receiver closed the session: ${msg.reason}`));
          break;
        default:
          break;
      }
    }

    timers.push(setInterval(progress, 200));
    function progress(): void {
      if (!connectedAt) return;
      const st = endpoint.sendTransferStats(kLocalIndex, kTransferId);
      const ss = endpoint.sessionStats(kLocalIndex);
      const lastHeardUs = Math.max(ss?.lastRecvUs ?? 0, connectedAt * 1000);
      const silentMs = Date.now() - lastHeardUs / 1000;
      if (reconnectTimeoutMs > 0 && silentMs > silenceMs) {
        lose(`no packet from the receiver for ${(silentMs / 1000).toFixed(1)} s`);
        return;
      }
      if (silentMs > (opts.peerTimeoutMs ?? 30_000)) {
        finish(
          new JetrecvError(
            ErrorCodes.TIMEOUT,
            `nothing heard from the receiver for ${Math.round((opts.peerTimeoutMs ?? 30_000) / 1000)} s`,
          ),
        );
        return;
      }
      if (!st || !opts.onProgress) return;
      opts.onProgress({
        bytesTotal: manifest.totalBytes,
        bytesAcked: Math.min(manifest.totalBytes, st.blocksAcked * blockSize),
        bytesSent: past.bytesSent + st.bytesSent,
        filesTotal: manifest.files.length,
        filesDone,
        rateBps: st.rateBps,
        blocksRetransmitted: past.blocksRetransmitted + st.blocksRetransmitted,
        elapsedMs: Date.now() - (firstConnectedAt || started),
      });
    }

    function complete(): void {
      const st = endpoint.sendTransferStats(kLocalIndex, kTransferId);
      endpoint.stopSendTransfer(kLocalIndex, kTransferId);
      const seconds = Math.max(1e-6, (Date.now() - (firstConnectedAt || started)) / 1000);
      channel?.sendMessage(encodeControl({ kind: 'goodbye', reason: 'transfer complete' }));
      void resumeState.forget().catch(() => {});
      finish(null, {
        bytes: manifest.totalBytes,
        files: manifest.files.length,
        seconds,
        gbitPerSecond: (manifest.totalBytes * 8) / seconds / 1e9,
        blocksSent: past.blocksSent + (st?.blocksSent ?? 0),
        blocksRetransmitted: past.blocksRetransmitted + (st?.blocksRetransmitted ?? 0),
        blocksTailCopies: past.blocksTailCopies + (st?.blocksTailCopies ?? 0),
        competingEvents: past.competingEvents + (st?.competingEvents ?? 0),
        bytesSent: past.bytesSent + (st?.bytesSent ?? 0),
        totalBlocks,
        blocksResumed: past.blocksResumed + (st?.blocksResumed ?? 0),
        blocksResumedAtStart,
        reconnects,
        resumedEarlierRun: resumeState.fromEarlierRun,
        bytesResumedAtStart: Math.min(manifest.totalBytes, blocksResumedAtStart * blockSize),
        counters: endpoint.counters(),
      });
    }
  });
}
