// event-stream.ts — GET /api/v1/events: the receiver's transfer events as Server-Sent Events,
// plus `progress` events (the live transfers, every progressIntervalMs while any is
// receiving) and a heartbeat comment line. One event is `event: <type>` and `data: <one JSON
// line>`. There are no event ids and no replay (Last-Event-ID is ignored): a client that
// reconnects calls recv.getTransfersAsync to catch up. Each client's unsent output is
// bounded: a client that does not read is disconnected (counted), never buffered without end.
import type * as http from 'node:http';
import type { Logger } from 'pino';
import type { TransferEvent, TransferEventSource } from '../recv/transfer-events.js';
import type { MethodSpec } from './catalog.js';
import type { ReceiveTransferStructure } from '../recv/transfer-record.js';

/** The route; its access rule is that of the methods (a session token). */
export const EVENTS_PATH = '/api/v1/events';
export const EVENTS_ROUTE: MethodSpec = {
  name: 'events',
  summary: 'Live transfer events (Server-Sent Events)',
  access: 'session',
  async: false,
  allowGet: true,
  params: [],
  resultSchema: 'TransferEvent',
};

export const DEFAULT_PROGRESS_INTERVAL_MS = 1000;
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Unsent bytes a client may lag behind before it is disconnected. */
export const DEFAULT_CLIENT_BUFFER_BYTES = 1 << 20;

/** A `progress` event: every receiving transfer, as getTransfersAsync shows it. */
export interface ProgressEvent {
  type: 'progress';
  time: number;
  transfers: ReceiveTransferStructure[];
}

/** What the stream carries (the JSON of each `data:` line). */
export type StreamEvent = TransferEvent | ProgressEvent;

export interface EventStreamOptions {
  source: TransferEventSource;
  /** Every transfer the API shows (the receiving ones go into progress events). */
  transfers(): ReceiveTransferStructure[] | Promise<ReceiveTransferStructure[]>;
  /** Read at every tick: SIGHUP may change it. */
  progressIntervalMs(): number;
  heartbeatMs?: number;
  maxClientBufferBytes?: number;
}

export interface EventStreamStats {
  clients: number;
  /** Clients disconnected because they fell too far behind. */
  slowDisconnects: number;
}

interface Client {
  res: http.ServerResponse;
  /** False once the session behind it ended (logout, expiry, password change). */
  authorized(): Promise<boolean>;
}

export class EventStreams {
  private readonly clients = new Set<Client>();
  private slowDisconnects = 0;
  private unsubscribe: (() => void) | null = null;
  private progressTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly heartbeatMs: number;
  private readonly maxBuffer: number;

  constructor(
    private readonly o: EventStreamOptions,
    private readonly log: Logger,
  ) {
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.maxBuffer = o.maxClientBufferBytes ?? DEFAULT_CLIENT_BUFFER_BYTES;
  }

  stats(): EventStreamStats {
    return { clients: this.clients.size, slowDisconnects: this.slowDisconnects };
  }

  /** Starts streaming to `res` (authentication done by the caller) until either side ends. */
  serve(res: http.ServerResponse, authorized: () => Promise<boolean>): void {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Accel-Buffering', 'no');
    res.socket?.setNoDelay(true);
    const client: Client = { res, authorized };
    this.clients.add(client);
    res.on('close', () => this.drop(client));
    res.write(': jetrecv transfer events\n\n');
    this.start();
  }

  /** Ends every stream (the server is closing). */
  closeAll(): void {
    for (const c of [...this.clients]) c.res.end();
    this.stop();
  }

  private start(): void {
    if (this.unsubscribe !== null) return;
    this.unsubscribe = this.o.source.subscribe((e) => this.broadcast(e.type, e));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    this.scheduleProgress();
  }

  private stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.heartbeatTimer = this.progressTimer = null;
  }

  private drop(client: Client): void {
    this.clients.delete(client);
    if (this.clients.size === 0) this.stop();
  }

  private scheduleProgress(): void {
    this.progressTimer = setTimeout(() => {
      void this.progress().finally(() => {
        if (this.unsubscribe !== null) this.scheduleProgress();
      });
    }, this.o.progressIntervalMs());
    this.progressTimer.unref();
  }

  private async progress(): Promise<void> {
    this.checkSessions();
    if (this.clients.size === 0) return;
    let transfers: ReceiveTransferStructure[];
    try {
      transfers = (await this.o.transfers()).filter((t) => t.status === 'receiving');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'event stream: reading the live transfers failed');
      return;
    }
    if (transfers.length > 0) this.broadcast('progress', { type: 'progress', time: Date.now() * 1000, transfers } satisfies ProgressEvent);
  }

  private heartbeat(): void {
    this.checkSessions();
    for (const c of this.clients) this.write(c, `: heartbeat ${Date.now()}\n\n`);
  }

  /** A stream whose session ended is closed. */
  private checkSessions(): void {
    for (const c of [...this.clients]) {
      void c.authorized().then((ok) => {
        if (!ok) c.res.end();
      });
    }
  }

  private broadcast(type: string, data: StreamEvent): void {
    if (this.clients.size === 0) return;
    const text = `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of [...this.clients]) this.write(c, text);
  }

  private write(c: Client, text: string): void {
    if (c.res.destroyed || c.res.writableEnded) return;
    if (c.res.writableLength + Buffer.byteLength(text) > this.maxBuffer) {
      this.slowDisconnects++;
      this.log.info({ unsentBytes: c.res.writableLength, limit: this.maxBuffer }, 'event stream client too slow: disconnected');
      this.clients.delete(c);
      c.res.destroy();
      if (this.clients.size === 0) this.stop();
      return;
    }
    c.res.write(text);
  }
}
