// handshake-flood.ts — test helpers for handshake floods: a child process that sends INITs
// from one or more source addresses (127.0.0.x) with the addon's sendRaw as fast as it can,
// and a raw handshake client (the project's HandshakeInitiator over a dgram socket) that
// follows cookie replies and retries like `jetrecv send` does.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { generateKeyPair, type KeyPair } from '../../src/keys/key-encoding.js';
import { HandshakeInitiator } from '../../src/handshake/index.js';
import { HANDSHAKE_COOKIE_TYPE, HANDSHAKE_RESP_TYPE } from '../../src/handshake/packets.js';
import { repoRoot } from './harness.js';

/** What the flood sends: random INIT-shaped bytes (bad mac1), or real INITs with a valid mac1. */
export type FloodKind = 'garbage' | 'valid-mac1';

export interface Flood {
  /** Stops the flood; resolves with the datagrams sent and the seconds it ran. */
  stop(): Promise<{ sent: number; seconds: number }>;
}

const FLOODER = `
const [bindingPath, packetsPath, initiatorPath, keysPath, port, kind, serverKeyB64, ...sources] = process.argv.slice(1);
const { addon } = await import(bindingPath);
const eps = sources.map((src) => new addon.Endpoint({ role: 'sender', bindAddress: src, port: 0, sockets: 1, rcvbufBytes: 1 << 20,
  sndbufBytes: 4 << 20, maxDatagram: 1472, feedbackIntervalMs: 10, directIo: 'off', directIoThreads: 1, txThreads: 1, eventQueueCapacity: 1024,
  onEvents() { for (const ep of eps) ep.drainEvents(1024); } }));
const pool = [];
if (kind === 'garbage') {
  for (let i = 0; i < 256; i++) {
    const p = Buffer.alloc(152);
    for (let j = 4; j < 152; j++) p[j] = Math.floor(Math.random() * 256);
    p[0] = 1;
    pool.push(p);
  }
} else {
  const packets = await import(packetsPath);
  const { HandshakeInitiator } = await import(initiatorPath);
  const { generateKeyPair, parsePublicKey } = await import(keysPath);
  const serverKey = parsePublicKey(serverKeyB64);
  const template = new HandshakeInitiator({ staticKeys: generateKeyPair(), responderPublicKey: serverKey, localIndex: 1, cipher: 'aes-256-gcm', lanes: 1 }).createInitiation();
  const k = packets.mac1Key(serverKey);
  for (let i = 0; i < 256; i++) {
    const p = Buffer.from(template);
    packets.writeU32(p, 4, 1000 + i);
    p.set(packets.computeMac1(k, p.subarray(0, packets.INIT_MAC1_OFFSET)), packets.INIT_MAC1_OFFSET);
    pool.push(p);
  }
}
let sent = 0;
let stop = false;
process.stdin.on('data', () => { stop = true; });
process.stdin.on('end', () => { stop = true; });
const started = process.hrtime.bigint();
console.log('ready');
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function burst() {
  for (let i = 0; i < 2000; i++) {
    const ep = eps[i % eps.length];
    try { ep.sendRaw('127.0.0.1', Number(port), pool[sent & 255]); sent++; }
    catch (e) { if (e.code !== 'JETRECV_ERR_WOULD_BLOCK') throw e; Atomics.wait(sleeper, 0, 0, 1); }
  }
  if (stop) {
    for (const ep of eps) ep.close();
    console.log(JSON.stringify({ sent, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
    process.exit(0);
  }
  setImmediate(burst);
}
burst();
`;

/** Starts a flood of `kind` INITs at 127.0.0.1:`port` from each of `sources` (local addresses). */
export async function startFlood(port: number, kind: FloodKind, serverKey: string, sources: string[]): Promise<Flood> {
  const dist = path.join(repoRoot, 'dist');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      FLOODER,
      path.join(dist, 'addon', 'binding.js'),
      path.join(dist, 'handshake', 'packets.js'),
      path.join(dist, 'handshake', 'initiator.js'),
      path.join(dist, 'keys', 'key-encoding.js'),
      String(port),
      kind,
      serverKey,
      ...sources,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ sent: number; seconds: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`flooder exited with ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as { sent: number; seconds: number });
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    exited.catch(reject);
  });
  return {
    stop() {
      child.stdin!.end('stop\n');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      return exited.finally(() => clearTimeout(killer));
    },
  };
}

export interface HandshakeAttempt {
  ok: boolean;
  /** INITs sent (retries and cookie resends included). */
  inits: number;
  cookies: number;
}

/**
 * One handshake from a fresh key (or `staticKeys`) over a dgram socket bound to `sourceAddress`: an INIT,
 * resent every `retryMs` up to `maxInits` INITs; a COOKIE REPLY is consumed and answered at
 * once with an INIT carrying mac2 (as `jetrecv send` does).
 */
export async function rawHandshake(
  port: number,
  serverKey: Uint8Array,
  opts: { sourceAddress?: string; maxInits?: number; retryMs?: number; localIndex?: number; staticKeys?: KeyPair } = {},
): Promise<HandshakeAttempt> {
  const maxInits = opts.maxInits ?? 6;
  const retryMs = opts.retryMs ?? 300;
  const initiator = new HandshakeInitiator({
    staticKeys: opts.staticKeys ?? generateKeyPair(),
    responderPublicKey: serverKey,
    localIndex: opts.localIndex ?? 7,
    cipher: 'aes-256-gcm',
    lanes: 1,
  });
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, opts.sourceAddress ?? '127.0.0.1', resolve));
  const result: HandshakeAttempt = { ok: false, inits: 0, cookies: 0 };
  try {
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const sendInit = () => {
        if (result.inits >= maxInits) return resolve();
        result.inits++;
        sock.send(initiator.createInitiation(), port, '127.0.0.1');
        clearTimeout(timer);
        timer = setTimeout(sendInit, retryMs);
      };
      sock.on('message', (msg) => {
        const bytes = new Uint8Array(msg);
        if (bytes[0] === HANDSHAKE_COOKIE_TYPE && initiator.consumeCookieReply(bytes)) {
          result.cookies++;
          sendInit();
        } else if (bytes[0] === HANDSHAKE_RESP_TYPE && initiator.consumeResponse(bytes) !== null) {
          result.ok = true;
          clearTimeout(timer);
          resolve();
        }
      });
      sendInit();
    });
  } finally {
    sock.close();
  }
  return result;
}
