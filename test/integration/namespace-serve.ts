// namespace-serve.ts — a real `jetrecv serve` in side b of a two-namespace path (a veth pair
// from test/tools/netns.ts or the WAN emulator's path from test/tools/wan.ts), with its own
// temporary root: the sandbox is <root>/sandbox, and anything else the test writes goes
// beside it. close() stops the daemon and removes the root (not the path: its owner closes it).
import path from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import type { PairSide } from '../tools/netns.js';
import { tempDir } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

/** What both kinds of two-namespace path offer: b's address and a command wrapper per side. */
export interface NamespacePath {
  readonly addressB: string;
  wrap(side: PairSide, argv: string[]): string[];
}

export interface NamespaceServe {
  root: string;
  sandbox: string;
  serve: ServeProcess;
  serverKey: string;
  close(): Promise<void>;
}

/** Starts `jetrecv serve --no-api` on addressB:port inside side b and waits until it is ready. */
export async function startServeInNamespace(where: NamespacePath, port: number, rootPrefix: string): Promise<NamespaceServe> {
  const root = await tempDir(rootPrefix);
  const sandbox = path.join(root, 'sandbox');
  await mkdir(sandbox);
  const serve = spawnJetrecv(['serve', '--sandbox-dir', sandbox, '--recv-host', where.addressB, '--recv-port', String(port), '--no-api'], {
    wrapper: where.wrap('b', []),
  });
  const serverKey = (await serve.ready()).publicKey;
  return {
    root,
    sandbox,
    serve,
    serverKey,
    async close() {
      await serve.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
