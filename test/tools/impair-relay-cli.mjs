#!/usr/bin/env node
// impair-relay-cli.mjs — runs the impairment relay (impair-relay.ts) as its own process, for
// the bench and for manual experiments. Protocol with a parent process:
//   stdout: one JSON line per event: {"event":"ready","port":N,...} once listening,
//           {"event":"stats",...} on request and {"event":"final",...} at exit.
//   stdin (with --stdin-commands): lines "stats" (print stats) or
//           "set {json ImpairmentUpdate}" (change settings); end of stdin exits.
//   SIGTERM/SIGINT: print final stats, close, exit 0.
// `--selftest` instead measures how fast the relay forwards (it starts itself as a child).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadTestTools } from './load-tools.mjs';

const usage = `usage: node test/tools/impair-relay-cli.mjs --target HOST:PORT [options]
       node test/tools/impair-relay-cli.mjs --selftest [--size BYTES] [--megabytes N]
options (probabilities 0..1, times in ms):
  --listen-port N     client-facing port (default 0 = any; printed in the ready line)
  --seed N            PRNG seed (default 1)
  --stdin-commands    read 'stats' / 'set {json}' lines from stdin; exit when it closes
  --dir D             which direction the impairment options apply to:
                      both (default), toServer or toClient
  --drop P  --duplicate P  --corrupt P  --reorder P  --reorder-delay-ms T
  --delay-ms T  --jitter-ms T`;

const numberFlags = {
  '--drop': 'drop',
  '--duplicate': 'duplicate',
  '--corrupt': 'corrupt',
  '--reorder': 'reorder',
  '--reorder-delay-ms': 'reorderDelayMs',
  '--delay-ms': 'delayMs',
  '--jitter-ms': 'jitterMs',
};

function fail(message) {
  console.error(`impair-relay: ${message}\n${usage}`);
  process.exit(2);
}

function parse(argv) {
  const out = {
    impairment: {},
    dir: 'both',
    seed: 1,
    listenPort: 0,
    target: undefined,
    selftest: false,
    stdinCommands: false,
    size: 1472,
    megabytes: 200,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    const num = (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) fail(`${flag}: expected a number, got '${v}'`);
      return n;
    };
    if (flag === '--help' || flag === '-h') {
      console.log(usage);
      process.exit(0);
    } else if (flag === '--target') {
      const m = /^(.+):(\d+)$/.exec(value());
      if (!m) fail(`--target: expected HOST:PORT, got '${argv[i]}'`);
      out.target = { host: m[1], port: Number(m[2]) };
    } else if (flag === '--listen-port') out.listenPort = num(value());
    else if (flag === '--seed') out.seed = num(value());
    else if (flag === '--dir') {
      out.dir = value();
      if (!['both', 'toServer', 'toClient'].includes(out.dir)) fail(`--dir: expected both, toServer or toClient, got '${out.dir}'`);
    } else if (flag in numberFlags) out.impairment[numberFlags[flag]] = num(value());
    else if (flag === '--selftest') out.selftest = true;
    else if (flag === '--stdin-commands') out.stdinCommands = true;
    else if (flag === '--size') out.size = num(value());
    else if (flag === '--megabytes') out.megabytes = num(value());
    else fail(`unknown option '${flag}'`);
  }
  return out;
}

function scoped(dir, impairment) {
  return dir === 'both' ? { ...impairment } : { [dir]: { ...impairment } };
}

async function runRelay(opts) {
  if (!opts.target) fail('--target HOST:PORT is required');
  const { relay: tools } = await loadTestTools();
  const relay = await tools.startImpairRelay({
    target: opts.target,
    listenPort: opts.listenPort,
    seed: opts.seed,
    ...scoped(opts.dir, opts.impairment),
  });
  const print = (event, extra = {}) => process.stdout.write(`${JSON.stringify({ event, ...extra })}\n`);
  print('ready', { port: relay.port, host: relay.host, target: opts.target, impairment: relay.impairment(), pid: process.pid });
  let done = false;
  const finish = async () => {
    if (done) return;
    done = true;
    print('final', relay.stats());
    await relay.close();
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  if (!opts.stdinCommands) return;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const text = line.trim();
    try {
      if (text === 'stats') print('stats', relay.stats());
      else if (text.startsWith('set ')) {
        relay.setImpairment(JSON.parse(text.slice(4)));
        print('set', { impairment: relay.impairment() });
      } else if (text !== '') print('error', { message: `unknown command '${text}' (expected 'stats' or 'set {json}')` });
    } catch (err) {
      print('error', { message: err.message });
    }
  });
  // Parent gone (stdin closed): do not linger as an orphan.
  rl.on('close', finish);
}

/** Forwarding rate of a relay process: a source and a sink here, the relay as a child. */
async function selftest(opts) {
  const sink = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  await new Promise((resolve) => sink.bind(0, '127.0.0.1', resolve));
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--stdin-commands', '--target', `127.0.0.1:${sink.address().port}`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const ready = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (l) => resolve(JSON.parse(l)));
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });
  const source = dgram.createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
  await new Promise((resolve) => source.bind(0, '127.0.0.1', resolve));
  await new Promise((resolve) => source.connect(ready.port, '127.0.0.1', resolve));
  const total = Math.ceil((opts.megabytes * 1e6) / opts.size);
  const payload = Buffer.alloc(opts.size, 0x5a);
  const window = 512; // datagrams in flight through the relay
  let sent = 0;
  let received = 0;
  const start = performance.now();
  const result = await new Promise((resolve) => {
    let idle;
    const refill = () => {
      while (sent < total && sent - received < window) {
        source.send(payload);
        sent++;
      }
    };
    const end = () => resolve({ elapsed: (performance.now() - start) / 1000 });
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        // lost datagrams stall the window: count them as gone and go on
        if (sent >= total) end();
        else {
          received = sent;
          refill();
          arm();
        }
      }, 200);
    };
    sink.on('message', () => {
      received++;
      if (received >= total) {
        clearTimeout(idle);
        end();
        return;
      }
      refill();
      arm();
    });
    refill();
    arm();
  });
  sink.removeAllListeners('message');
  child.stdin.end();
  const final = await new Promise((resolve) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (l) => {
      const ev = JSON.parse(l);
      if (ev.event === 'final') resolve(ev);
    });
  });
  const receivedAtSink = final.toServer.forwarded;
  const mbit = (final.toServer.bytesForwarded * 8) / result.elapsed / 1e6;
  console.log(
    JSON.stringify({
      datagramSize: opts.size,
      datagrams: total,
      forwarded: receivedAtSink,
      seconds: Number(result.elapsed.toFixed(3)),
      mbitPerSecond: Number(mbit.toFixed(0)),
      relaySocketDrops: final.socketDrops,
    }),
  );
  source.close();
  sink.close();
}

const opts = parse(process.argv.slice(2));
(opts.selftest ? selftest(opts) : runRelay(opts)).catch((err) => {
  console.error(`impair-relay: ${err.message}`);
  process.exit(1);
});
