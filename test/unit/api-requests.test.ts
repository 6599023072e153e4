// RequestQueue: lifecycle, concurrency, retention by age and count, ownership, waits.
import { afterEach, describe, expect, it } from 'vitest';
import { RequestQueue } from '../../src/api/requests.js';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';

const alice = { user: 'alice', superuser: false };
const bob = { user: 'bob', superuser: false };
const admin = { user: 'root', superuser: true };

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function deferred<T = unknown>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let queue: RequestQueue | undefined;
afterEach(() => queue?.close());

describe('RequestQueue', () => {
  it('numbers requests from 1 and moves them pending -> processing -> complete, FIFO within the concurrency', async () => {
    queue = new RequestQueue({ concurrency: 1 });
    const first = deferred();
    const second = deferred();
    const id1 = queue.submit('alice', 'm.one', () => first.promise);
    const id2 = queue.submit('alice', 'm.two', () => second.promise);
    expect([id1, id2]).toEqual([1, 2]);
    expect(queue.status(id1, alice)).toMatchObject({
      status: 'pending',
      processing: true,
      errorMessage: '',
      errorCode: null,
      endTime: null,
    });
    await tick();
    expect(queue.status(id1, alice).status).toBe('processing');
    expect(queue.status(id2, alice).status).toBe('pending');
    first.resolve({ ok: 1 });
    await tick();
    await tick();
    expect(queue.status(id1, alice)).toMatchObject({ status: 'complete', processing: false, method: 'm.one' });
    expect(queue.status(id2, alice).status).toBe('processing');
    second.resolve(undefined);
    await expect(queue.result(id2, alice, 1000)).resolves.toEqual({ requestId: 2, status: 'complete', result: null });
    await expect(queue.result(id1, alice, 0)).resolves.toEqual({ requestId: 1, status: 'complete', result: { ok: 1 } });
  });

  it('records a failure with its code and message; result() rethrows them with the request id', async () => {
    queue = new RequestQueue();
    const id = queue.submit('alice', 'm', async () => {
      throw new JetrecvError(ErrorCodes.STATE, 'cannot save x');
    });
    await expect(queue.result(id, alice, 1000)).rejects.toMatchObject({
      code: 'JETRECV_ERR_STATE',
      message: 'cannot save x',
      bodyExtras: { requestId: id },
    });
    expect(queue.status(id, alice)).toMatchObject({
      status: 'error',
      processing: false,
      errorMessage: 'cannot save x',
      errorCode: 'JETRECV_ERR_STATE',
    });
  });

  it('hides the message of a non-JetrecvError (a bug) and reports it to onInternalError', async () => {
    const seen: unknown[] = [];
    queue = new RequestQueue({ onInternalError: (err) => seen.push(err) });
    const id = queue.submit('alice', 'm', async () => {
      throw new TypeError('secret internals');
    });
    await expect(queue.result(id, alice, 1000)).rejects.toMatchObject({ code: 'JETRECV_ERR_INTERNAL' });
    expect(queue.status(id, alice).errorMessage).not.toContain('secret');
    expect(seen).toHaveLength(1);
  });

  it('times out a wait with REQUEST_TIMEOUT while the request runs, and 0 does not wait', async () => {
    queue = new RequestQueue();
    const gate = deferred();
    const id = queue.submit('alice', 'm.slow', () => gate.promise);
    const started = Date.now();
    await expect(queue.result(id, alice, 80)).rejects.toMatchObject({ code: 'JETRECV_ERR_REQUEST_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    await expect(queue.result(id, alice, 0)).rejects.toMatchObject({ code: 'JETRECV_ERR_REQUEST_TIMEOUT' });
    const waiting = queue.result(id, alice, 5000);
    gate.resolve('done');
    await expect(waiting).resolves.toMatchObject({ result: 'done' });
  });

  it('ends a wait early when the signal aborts (client went away)', async () => {
    queue = new RequestQueue();
    const id = queue.submit('alice', 'm', () => new Promise(() => {}));
    const abort = new AbortController();
    const waiting = queue.result(id, alice, 60_000, abort.signal);
    abort.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'JETRECV_ERR_REQUEST_TIMEOUT' });
  });

  it("refuses other users' requests unless the caller is an elevated superuser", async () => {
    queue = new RequestQueue();
    const id = queue.submit('alice', 'm', async () => 1);
    await queue.result(id, alice, 1000);
    expect(() => queue!.status(id, bob)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_REQUEST_FOREIGN' }));
    await expect(queue.result(id, bob, 0)).rejects.toMatchObject({ code: 'JETRECV_ERR_REQUEST_FOREIGN' });
    expect(queue.status(id, admin).status).toBe('complete');
  });

  it('tells unknown ids (never issued) from expired ones', async () => {
    let now = 1_000_000;
    queue = new RequestQueue({ maxAgeMs: 1000, now: () => now });
    const id = queue.submit('alice', 'm', async () => 1);
    await queue.result(id, alice, 1000);
    now += 999;
    expect(queue.status(id, alice).status).toBe('complete');
    now += 1;
    expect(() => queue!.status(id, alice)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_REQUEST_EXPIRED' }));
    expect(() => queue!.status(id + 1, alice)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_REQUEST_NOT_FOUND' }));
    expect(() => queue!.status(0, alice)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_REQUEST_NOT_FOUND' }));
    expect(queue.size).toBe(0);
  });

  it('keeps at most maxCount records, evicting the oldest finished first and never a running one', async () => {
    queue = new RequestQueue({ maxCount: 3 });
    const running = queue.submit('alice', 'm.running', () => new Promise(() => {}));
    const done: number[] = [];
    for (let i = 0; i < 4; i++) {
      const id = queue.submit('alice', 'm', async () => i);
      await queue.result(id, alice, 1000);
      done.push(id);
    }
    expect(queue.size).toBe(3);
    expect(queue.status(running, alice).status).toBe('processing');
    expect(() => queue!.status(done[0] as number, alice)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_REQUEST_EXPIRED' }));
    expect(() => queue!.status(done[1] as number, alice)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_REQUEST_EXPIRED' }));
    expect(queue.status(done[2] as number, alice).status).toBe('complete');
    expect(queue.status(done[3] as number, alice).status).toBe('complete');
  });

  it('refuses new requests beyond maxInFlight with BUSY, and everything after close()', async () => {
    queue = new RequestQueue({ maxInFlight: 2 });
    queue.submit('alice', 'm', () => new Promise(() => {}));
    queue.submit('alice', 'm', () => new Promise(() => {}));
    expect(() => queue!.submit('alice', 'm', async () => 1)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_BUSY' }));
    queue.close();
    expect(() => queue!.submit('alice', 'm', async () => 1)).toThrow(expect.objectContaining({ code: 'JETRECV_ERR_SHUTTING_DOWN' }));
  });
});
