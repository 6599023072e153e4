// requests.ts — the asynchronous request model behind every `*Async` method.
// submit() records a request and returns its id at once; ids are integers counting from 1
// per server. A request goes pending -> processing -> complete | error; at most
// `concurrency` run at the same time, the rest wait in FIFO order. A finished record is
// kept `maxAgeMs` after it finished and at most `maxCount` records are kept; beyond that
// the oldest finished ones are evicted first (running ones never are). An id that was
// issued but is no longer kept is reported as expired, one never issued as unknown.
// Records belong to the user who made them; elevated superusers may read any.
import { ApiCallError, ApiErrorCodes, errorBodyFor } from './api-errors.js';
import type { RequestState, RequestStatus } from '../proto/api-structures.js';

/** Tuning of {@link RequestQueue}. */
export interface RequestQueueOptions {
  /** How long a finished record is kept, ms (default 10 minutes). */
  maxAgeMs?: number;
  /** Most records kept (default 10,000). */
  maxCount?: number;
  /** Requests processing at the same time (default 8). */
  concurrency?: number;
  /** Most requests pending or processing; more are refused with JETRECV_ERR_BUSY (default 1,000). */
  maxInFlight?: number;
  now?: () => number;
  /** Called with every error a request failed with that is not a JetrecvError (a bug). */
  onInternalError?: (err: unknown, method: string, requestId: number) => void;
}

/** Who is asking about a request. */
export interface RequestCaller {
  user: string;
  /** Elevated superuser: may read every user's requests. */
  superuser: boolean;
}

interface RequestRecord {
  id: number;
  owner: string;
  method: string;
  state: RequestState;
  run: (() => Promise<unknown>) | undefined;
  result: unknown;
  error: { code: string; message: string } | undefined;
  requestTimeMs: number;
  endTimeMs: number | null;
  waiters: Set<() => void>;
}

/** The result of a request that completed. */
export interface CompletedRequest {
  requestId: number;
  status: 'complete';
  result: unknown;
}

/** Queue and records of asynchronous requests. */
export class RequestQueue {
  private readonly maxAgeMs: number;
  private readonly maxCount: number;
  private readonly concurrency: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  private readonly onInternalError: RequestQueueOptions['onInternalError'];
  private readonly records = new Map<number, RequestRecord>();
  /** Ids of pending requests, FIFO. */
  private readonly pending: number[] = [];
  /** Ids of finished requests in the order they finished (eviction order). */
  private finished: number[] = [];
  private finishedHead = 0;
  private nextId = 1;
  private processing = 0;
  private inFlight = 0;
  private closed = false;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(options: RequestQueueOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.maxCount = options.maxCount ?? 10_000;
    this.concurrency = options.concurrency ?? 8;
    this.maxInFlight = options.maxInFlight ?? 1000;
    this.now = options.now ?? Date.now;
    this.onInternalError = options.onInternalError;
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(1000, Math.min(this.maxAgeMs, 60_000)));
    this.sweepTimer.unref();
  }

  /**
   * Records a request of `owner` for `method` and schedules `run`; returns its id at once.
   * Throws ApiCallError BUSY when too many requests are in flight.
   */
  submit(owner: string, method: string, run: () => Promise<unknown>): number {
    if (this.closed) throw new ApiCallError(ApiErrorCodes.SHUTTING_DOWN, 'the server is shutting down');
    if (this.inFlight >= this.maxInFlight) {
      throw new ApiCallError(ApiErrorCodes.BUSY, `too many requests in progress (${this.maxInFlight}); retry when some have completed`, {
        retryAfterSeconds: 1,
      });
    }
    const id = this.nextId++;
    this.records.set(id, {
      id,
      owner,
      method,
      state: 'pending',
      run,
      result: undefined,
      error: undefined,
      requestTimeMs: this.now(),
      endTimeMs: null,
      waiters: new Set(),
    });
    this.inFlight++;
    this.pending.push(id);
    this.sweep();
    // Start on a later turn so the caller always sees the id before the work begins.
    setImmediate(() => this.pump());
    return id;
  }

  /** Status of a request, at once. Throws ApiCallError for unknown, expired or foreign ids. */
  status(requestId: number, caller: RequestCaller): RequestStatus {
    const record = this.find(requestId, caller);
    return {
      requestId: record.id,
      processing: record.state === 'pending' || record.state === 'processing',
      status: record.state,
      errorMessage: record.error?.message ?? '',
      errorCode: record.error?.code ?? null,
      method: record.method,
      requestTime: record.requestTimeMs * 1000,
      endTime: record.endTimeMs === null ? null : record.endTimeMs * 1000,
    };
  }

  /**
   * Waits up to `timeoutMs` for a request to finish. Resolves with its result if it
   * completed; rejects with the request's own error code and message if it failed, with
   * REQUEST_TIMEOUT if it is still running, and as {@link status} for bad ids. `signal`
   * ends the wait early (client went away) with the same timeout error.
   */
  async result(requestId: number, caller: RequestCaller, timeoutMs: number, signal?: AbortSignal): Promise<CompletedRequest> {
    let record = this.find(requestId, caller);
    if (record.state === 'pending' || record.state === 'processing') {
      await this.waitFor(record, timeoutMs, signal);
      // The record may have been evicted meanwhile only if it finished; keep our reference.
    }
    record = this.records.get(requestId) ?? record;
    if (record.state === 'complete') return { requestId, status: 'complete', result: record.result };
    if (record.state === 'error') {
      const err = record.error ?? { code: ApiErrorCodes.INTERNAL, message: 'request failed' };
      throw new ApiCallError(err.code, err.message, { requestId });
    }
    if (this.closed) {
      throw new ApiCallError(ApiErrorCodes.SHUTTING_DOWN, `the server is shutting down; request ${requestId} did not finish`, {
        requestId,
      });
    }
    throw new ApiCallError(
      ApiErrorCodes.REQUEST_TIMEOUT,
      `request ${requestId} (${record.method}) is still ${record.state} after ${timeoutMs} ms; call getRequestResult again or poll getRequestStatus`,
      { requestId },
    );
  }

  /** Number of records kept (tests, diagnostics). */
  get size(): number {
    return this.records.size;
  }

  /** Stops the sweep timer, refuses new requests and wakes every waiter. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const record of this.records.values()) for (const wake of record.waiters) wake();
  }

  /** Drops finished records past their age, then the oldest finished ones beyond maxCount. */
  sweep(): void {
    const cutoff = this.now() - this.maxAgeMs;
    while (this.finishedHead < this.finished.length) {
      const id = this.finished[this.finishedHead] as number;
      const record = this.records.get(id);
      const tooMany = this.records.size > this.maxCount;
      if (record !== undefined && !tooMany && (record.endTimeMs ?? 0) > cutoff) break;
      this.records.delete(id);
      this.finishedHead++;
    }
    if (this.finishedHead > 1024 && this.finishedHead * 2 > this.finished.length) {
      this.finished = this.finished.slice(this.finishedHead);
      this.finishedHead = 0;
    }
  }

  private find(requestId: number, caller: RequestCaller): RequestRecord {
    this.sweep();
    const record = this.records.get(requestId);
    if (record === undefined) {
      if (Number.isSafeInteger(requestId) && requestId >= 1 && requestId < this.nextId) {
        throw new ApiCallError(
          ApiErrorCodes.REQUEST_EXPIRED,
          `request ${requestId} has expired: finished requests are kept ${Math.round(this.maxAgeMs / 1000)} s and at most ${this.maxCount} of them`,
          { requestId },
        );
      }
      throw new ApiCallError(ApiErrorCodes.REQUEST_NOT_FOUND, `no request ${requestId} was ever made on this server`, {
        requestId,
      });
    }
    if (record.owner !== caller.user && !caller.superuser) {
      throw new ApiCallError(ApiErrorCodes.REQUEST_FOREIGN, `request ${requestId} belongs to another user`, { requestId });
    }
    return record;
  }

  private waitFor(record: RequestRecord, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (timeoutMs <= 0 || this.closed || signal?.aborted === true) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        record.waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      record.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  private pump(): void {
    while (this.processing < this.concurrency && this.pending.length > 0) {
      const id = this.pending.shift() as number;
      const record = this.records.get(id);
      if (record === undefined || record.state !== 'pending') continue;
      void this.execute(record);
    }
  }

  private async execute(record: RequestRecord): Promise<void> {
    this.processing++;
    record.state = 'processing';
    const run = record.run as () => Promise<unknown>;
    record.run = undefined;
    try {
      const result = await run();
      record.result = result === undefined ? null : result;
      record.state = 'complete';
    } catch (err) {
      const body = errorBodyFor(err);
      if (body.code === ApiErrorCodes.INTERNAL) this.onInternalError?.(err, record.method, record.id);
      record.error = { code: body.code, message: body.message };
      record.state = 'error';
    } finally {
      this.processing--;
      this.inFlight--;
    }
    record.endTimeMs = this.now();
    this.finished.push(record.id);
    for (const wake of [...record.waiters]) wake();
    this.sweep();
    this.pump();
  }
}
