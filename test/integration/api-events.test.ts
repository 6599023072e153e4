// GET /api/v1/events on the real API server over HTTP, fed by a test event source: the SSE
// framing, progress of receiving transfers, heartbeats, the end of the stream with its
// session, and the per-client bound: a client that does not read is disconnected (counted)
// while a reading client gets every event.
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { JetrecvClient, type StreamEvent } from '../../src/client/index.js';
import type { TransferEvent, TransferEventListener, TransferEventSource } from '../../src/recv/transfer-events.js';
import { SAMPLE_TRANSFER, startFixture, type Fixture } from './api-fixture.js';

class TestSource implements TransferEventSource {
  readonly listeners = new Set<TransferEventListener>();
  subscribe(l: TransferEventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(e: TransferEvent): void {
    for (const l of this.listeners) l(e);
  }
}

const event = (type: TransferEvent['type'], pad = ''): TransferEvent => ({
  type,
  time: 1,
  transfer: { ...SAMPLE_TRANSFER, errorMessage: pad },
});

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function start(
  source: TestSource,
  extra: { maxClientBufferBytes?: number; heartbeatMs?: number } = {},
): Promise<{ fx: Fixture; token: string }> {
  fx = await startFixture({
    users: [['alice', 'alice-password-1']],
    events: {
      source,
      transfers: () => [SAMPLE_TRANSFER, { ...SAMPLE_TRANSFER, transferId: 'f'.repeat(32), status: 'complete' }],
      progressIntervalMs: () => 100,
      ...extra,
    },
  });
  return { fx, token: await fx.login('alice', 'alice-password-1') };
}

async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = check();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GET /api/v1/events', () => {
  it('streams events as SSE, progress of receiving transfers only, heartbeats; POST is refused', async () => {
    const source = new TestSource();
    const { fx, token } = await start(source, { heartbeatMs: 150 });
    const res = await fetch(`http://127.0.0.1:${fx.port}/api/v1/events`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    let text = '';
    await until(() => source.listeners.size === 1, 'subscribed');
    source.emit(event('transferStarted'));
    const decoder = new TextDecoder();
    while (!(text.includes('event: progress') && text.includes(': heartbeat') && text.includes('event: transferStarted'))) {
      text += decoder.decode((await reader.read()).value);
    }
    await reader.cancel();
    const started = /event: transferStarted\ndata: (.*)\n\n/.exec(text)!;
    expect(JSON.parse(started[1]!)).toEqual(event('transferStarted'));
    const progress = JSON.parse(/event: progress\ndata: (.*)\n\n/.exec(text)![1]!);
    expect(progress).toMatchObject({ type: 'progress', transfers: [SAMPLE_TRANSFER] });
    await until(() => source.listeners.size === 0, 'unsubscribed after the client left');
    const post = await fetch(`http://127.0.0.1:${fx.port}/api/v1/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(post.status).toBe(405);
  });

  it('a stream ends when its session does (logout)', async () => {
    const source = new TestSource();
    const { fx } = await start(source);
    const client = new JetrecvClient({ port: fx.port });
    await client.server.auth('alice', 'alice-password-1');
    const seen: StreamEvent[] = [];
    const reading = (async () => {
      for await (const e of client.events()) seen.push(e);
    })();
    await until(() => seen.length > 0, 'a progress event');
    const other = new JetrecvClient({ port: fx.port, token: client.token });
    await other.server.logout();
    await reading; // the server ended the stream at its next tick
    expect(fx.server.eventStreamStats().clients).toBe(0);
    client.close();
    other.close();
  });

  it('a client that does not read is disconnected at the bound; a reading client gets every event', async () => {
    const source = new TestSource();
    const { fx, token } = await start(source, { maxClientBufferBytes: 64 * 1024 });
    const slow = net.connect(fx.port, '127.0.0.1');
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write(`GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    slow.pause(); // never reads
    const slowClosed = new Promise<void>((r) => slow.once('close', () => r()));
    const client = new JetrecvClient({ port: fx.port, token });
    let received = 0;
    const reading = (async () => {
      for await (const e of client.events()) {
        if (e.type === 'transferComplete') break;
        if (e.type === 'fileComplete') received++;
      }
    })();
    await until(() => fx.server.eventStreamStats().clients === 2, 'two clients');
    const pad = 'x'.repeat(2000);
    const total = 20_000; // ~45 MB: far more than the kernel's socket buffers hold
    for (let i = 0; i < total; i++) {
      source.emit(event('fileComplete', pad));
      if (i % 10 === 0) await new Promise((r) => setImmediate(r)); // lets the reading client keep up
    }
    source.emit(event('transferComplete'));
    await reading;
    expect(received).toBe(total);
    await until(() => fx.server.eventStreamStats().clients === 0, 'the reading client gone');
    expect(fx.server.eventStreamStats()).toEqual({ clients: 0, slowDisconnects: 1 });
    slow.resume(); // the slow client finds its connection closed once it reads again
    await slowClosed;
    expect(fx.logs.some((l) => l['msg'] === 'event stream client too slow: disconnected')).toBe(true);
    slow.destroy();
    client.close();
  }, 60_000);
});
