// netns.ts — kernel-level impairment for tests and benches: network namespaces joined by a
// veth pair, with nftables dropping a random N % of the UDP datagrams that arrive
// (`numgen random mod 100 < N drop`), and a lone-loopback namespace for peers that must not
// reach any real interface. Needs root, iproute2 (`ip netns`) and nft; this module installs
// nothing: when something is missing, `checkKernelImpairment()` says what, as a skip reason.
// Traffic stays inside the namespaces: the veth pair connects only them.
import { spawn, spawnSync } from 'node:child_process';

export interface KernelImpairmentCheck {
  ok: boolean;
  /** Why kernel-level impairment cannot run here (null when ok); print it when skipping. */
  skipReason: string | null;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Which namespace of a pair: 'a' (the client side) or 'b' (the server side). */
export type PairSide = 'a' | 'b';

export interface NetnsPairOptions {
  /** Percent (integer 0..100) of UDP datagrams dropped on arrival in namespace b. Default 0. */
  lossPercent?: number;
  /** Also drop that percent of the UDP datagrams arriving in namespace a (replies). Default false. */
  lossBothWays?: boolean;
  /** MTU of the veth link (default 9000, so jumbo datagrams of 8972 bytes fit). */
  mtu?: number;
  /** Prefix of the namespace names (default 'jetrecv'). */
  prefix?: string;
}

export interface NetnsPair {
  readonly nsA: string;
  readonly nsB: string;
  /** Address of namespace a on the veth link (the client side). */
  readonly addressA: string;
  /** Address of namespace b on the veth link (the server side). */
  readonly addressB: string;
  /** argv that runs `argv` inside a namespace: ['ip', 'netns', 'exec', ns, ...argv]. */
  wrap(side: PairSide, argv: string[]): string[];
  /** Runs a command inside a namespace to completion. */
  run(side: PairSide, argv: string[], timeoutMs?: number): Promise<CommandResult>;
  /** Replaces the loss rules: `percent` of UDP arriving in b (and in a when bothWays). */
  setLossPercent(percent: number, bothWays?: boolean): Promise<void>;
  /** Datagrams the nft rules dropped so far, per arriving side. */
  droppedDatagrams(): Promise<{ intoA: number; intoB: number }>;
  /** UDP datagrams the sockets of a namespace dropped for a full receive buffer, so far. */
  udpReceiveBufferErrors(side: PairSide): Promise<number>;
  /** Deletes both namespaces (and the veth pair with them). Idempotent. */
  close(): Promise<void>;
}

export interface LoopbackNamespace {
  readonly name: string;
  wrap(argv: string[]): string[];
  run(argv: string[], timeoutMs?: number): Promise<CommandResult>;
  /**
   * Kernel-level loss on this namespace's loopback: drops `percent` % of the UDP datagrams
   * that arrive for `port` (every UDP port when omitted). Needs nft; 0 removes the rule.
   */
  setUdpLossPercent(percent: number, port?: number): Promise<void>;
  /** Datagrams the loss rule dropped so far. */
  droppedDatagrams(): Promise<number>;
  /** Deletes the namespace. Idempotent. */
  close(): Promise<void>;
}

export type Created<T> = { value: T; skipReason: null } | { value: null; skipReason: string };

const kAddressA = '10.201.0.1';
const kAddressB = '10.201.0.2';
const kTable = 'jetrecv_impair';
let nameCounter = 0;
let cachedCheck: KernelImpairmentCheck | undefined;

function runSync(argv: string[]): CommandResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { code: null, stdout: '', stderr: r.error.message };
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs argv to completion; never rejects (a missing binary gives code null). */
export function runCommand(argv: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function must(argv: string[], what: string): Promise<string> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${what} failed (${argv.join(' ')}): ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return r.stdout;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

/**
 * Whether namespaces + veth + nftables loss can be set up here. Probes for real (creates
 * and deletes a throwaway namespace with an nft table), once per process.
 */
export function checkKernelImpairment(): KernelImpairmentCheck {
  if (cachedCheck) return cachedCheck;
  cachedCheck = probe();
  return cachedCheck;
}

function probe(): KernelImpairmentCheck {
  const no = (skipReason: string): KernelImpairmentCheck => ({ ok: false, skipReason });
  if (process.platform !== 'linux') return no(`kernel-level impairment needs Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0)
    return no('kernel-level impairment needs root (network namespaces and nftables); run the tests as root to include it');
  if (runSync(['ip', '-V']).code !== 0) return no("kernel-level impairment needs iproute2's 'ip' (apt-get install iproute2)");
  if (runSync(['nft', '--version']).code !== 0) return no("kernel-level impairment needs 'nft' (apt-get install nftables)");
  const ns = `jetrecv-probe-${process.pid}`;
  const add = runSync(['ip', 'netns', 'add', ns]);
  if (add.code !== 0) return no(`cannot create a network namespace: ${firstLine(add.stderr)}`);
  try {
    const table = runSync(['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'inet', kTable]);
    if (table.code !== 0) return no(`nftables does not work in a namespace: ${firstLine(table.stderr)}`);
    const chain = runSync([
      'ip',
      'netns',
      'exec',
      ns,
      'nft',
      'add',
      'chain',
      'inet',
      kTable,
      'input',
      '{ type filter hook input priority 0; policy accept; }',
    ]);
    if (chain.code !== 0) return no(`nftables cannot add an input chain: ${firstLine(chain.stderr)}`);
    const rule = runSync([
      'ip',
      'netns',
      'exec',
      ns,
      'nft',
      'add',
      'rule',
      'inet',
      kTable,
      'input',
      'meta',
      'l4proto',
      'udp',
      'numgen',
      'random',
      'mod',
      '100',
      '<',
      '1',
      'counter',
      'drop',
    ]);
    if (rule.code !== 0) return no(`nftables has no 'numgen random' here: ${firstLine(rule.stderr)}`);
    return { ok: true, skipReason: null };
  } finally {
    runSync(['ip', 'netns', 'del', ns]);
  }
}

function uniqueName(prefix: string, suffix: string): string {
  nameCounter++;
  return `${prefix}-${process.pid}-${nameCounter}${suffix}`;
}

function validatePercent(percent: number, what: string): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw new Error(`${what}: loss percent must be an integer 0..100, got ${String(percent)}`);
  }
}

async function setLossRule(ns: string, percent: number, port?: number): Promise<void> {
  await must(['ip', 'netns', 'exec', ns, 'nft', 'flush', 'chain', 'inet', kTable, 'input'], 'nft flush');
  if (percent === 0) return;
  const match = port === undefined ? ['meta', 'l4proto', 'udp'] : ['udp', 'dport', String(port)];
  await must(
    [
      'ip',
      'netns',
      'exec',
      ns,
      'nft',
      'add',
      'rule',
      'inet',
      kTable,
      'input',
      ...match,
      'numgen',
      'random',
      'mod',
      '100',
      '<',
      String(percent),
      'counter',
      'drop',
    ],
    'nft add rule',
  );
}

async function addLossTable(ns: string): Promise<void> {
  await must(['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'inet', kTable], 'nft add table');
  await must(
    ['ip', 'netns', 'exec', ns, 'nft', 'add', 'chain', 'inet', kTable, 'input', '{ type filter hook input priority 0; policy accept; }'],
    'nft add chain',
  );
}

/** Sum of the packet counters of the drop rules in a namespace's impairment table. */
async function readDropCounter(ns: string): Promise<number> {
  const text = await must(['ip', 'netns', 'exec', ns, 'nft', 'list', 'chain', 'inet', kTable, 'input'], 'nft list');
  let total = 0;
  for (const m of text.matchAll(/counter packets (\d+) bytes \d+ drop/g)) total += Number(m[1]);
  return total;
}

/** UDP datagrams the sockets of a namespace dropped for a full receive buffer (/proc/net/snmp RcvbufErrors). */
export async function udpReceiveBufferErrors(ns: string): Promise<number> {
  const lines = (await must(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp'], 'read /proc/net/snmp'))
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.trim().split(/\s+/));
  return Number(values?.[names?.indexOf('RcvbufErrors') ?? -1] ?? NaN);
}

/**
 * Creates namespaces a and b joined by a veth pair (a = 10.201.0.1, b = 10.201.0.2, /30),
 * `lo` up in both, and nft rules dropping `lossPercent` % of the UDP arriving in b (and in a
 * with lossBothWays). Returns a skip reason instead when the host cannot do it.
 */
export async function createNetnsPair(options: NetnsPairOptions = {}): Promise<Created<NetnsPair>> {
  const lossPercent = options.lossPercent ?? 0;
  validatePercent(lossPercent, 'createNetnsPair');
  const mtu = options.mtu ?? 9000;
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) throw new Error(`createNetnsPair: mtu must be 1280..65535, got ${String(mtu)}`);
  const check = checkKernelImpairment();
  if (!check.ok) return { value: null, skipReason: check.skipReason! };
  const prefix = options.prefix ?? 'jetrecv';
  const nsA = uniqueName(prefix, 'a');
  const nsB = uniqueName(prefix, 'b');
  const created: string[] = [];
  const cleanup = async () => {
    for (const ns of created.splice(0)) await runCommand(['ip', 'netns', 'del', ns]);
  };
  try {
    for (const ns of [nsA, nsB]) {
      await must(['ip', 'netns', 'add', ns], 'ip netns add');
      created.push(ns);
      await must(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'], 'lo up');
    }
    // Both ends are created directly inside their namespaces: nothing touches the host's.
    await must(
      [
        'ip',
        'link',
        'add',
        'name',
        'veth0',
        'netns',
        nsA,
        'mtu',
        String(mtu),
        'type',
        'veth',
        'peer',
        'name',
        'veth0',
        'netns',
        nsB,
        'mtu',
        String(mtu),
      ],
      'ip link add veth',
    );
    for (const [ns, addr] of [
      [nsA, kAddressA],
      [nsB, kAddressB],
    ] as const) {
      await must(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${addr}/30`, 'dev', 'veth0'], 'ip addr add');
      await must(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'veth0', 'up'], 'veth up');
      await addLossTable(ns);
    }
    await setLossRule(nsB, lossPercent);
    if (options.lossBothWays) await setLossRule(nsA, lossPercent);
  } catch (err) {
    await cleanup();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const nsOf = (side: PairSide) => (side === 'a' ? nsA : nsB);
  const pair: NetnsPair = {
    nsA,
    nsB,
    addressA: kAddressA,
    addressB: kAddressB,
    wrap: (side, argv) => ['ip', 'netns', 'exec', nsOf(side), ...argv],
    run: (side, argv, timeoutMs) => runCommand(['ip', 'netns', 'exec', nsOf(side), ...argv], timeoutMs),
    async setLossPercent(percent, bothWays = false) {
      validatePercent(percent, 'setLossPercent');
      await setLossRule(nsB, percent);
      await setLossRule(nsA, bothWays ? percent : 0);
    },
    async droppedDatagrams() {
      return { intoA: await readDropCounter(nsA), intoB: await readDropCounter(nsB) };
    },
    udpReceiveBufferErrors(side) {
      return udpReceiveBufferErrors(side === 'a' ? nsA : nsB);
    },
    close() {
      closing ??= cleanup();
      return closing;
    },
  };
  return { value: pair, skipReason: null };
}

/**
 * Creates a namespace whose only interface is `lo` (up): a peer run inside it can reach
 * 127.0.0.1 and nothing else (no multicast on a real interface by mistake). With
 * `lossRules`, also checks that nft works there (else a skip reason), for callers of
 * setUdpLossPercent.
 */
export async function createLoopbackNamespace(
  prefix = 'jetrecv-lo',
  options: { lossRules?: boolean } = {},
): Promise<Created<LoopbackNamespace>> {
  if (process.getuid?.() !== 0) return { value: null, skipReason: 'a network namespace needs root' };
  if (runSync(['ip', '-V']).code !== 0)
    return { value: null, skipReason: "a network namespace needs iproute2's 'ip' (apt-get install iproute2)" };
  if (options.lossRules === true) {
    // The caller will call setUdpLossPercent: say now (a skip reason) when nft cannot run.
    const check = checkKernelImpairment();
    if (!check.ok) return { value: null, skipReason: check.skipReason! };
  }
  const name = uniqueName(prefix, '');
  const add = await runCommand(['ip', 'netns', 'add', name]);
  if (add.code !== 0) return { value: null, skipReason: `cannot create a network namespace: ${firstLine(add.stderr)}` };
  const up = await runCommand(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  if (up.code !== 0) {
    await runCommand(['ip', 'netns', 'del', name]);
    return { value: null, skipReason: `cannot bring lo up in a namespace: ${firstLine(up.stderr)}` };
  }
  let closing: Promise<void> | undefined;
  let tableAdded = false;
  return {
    skipReason: null,
    value: {
      name,
      wrap: (argv) => ['ip', 'netns', 'exec', name, ...argv],
      run: (argv, timeoutMs) => runCommand(['ip', 'netns', 'exec', name, ...argv], timeoutMs),
      async setUdpLossPercent(percent, port) {
        validatePercent(percent, 'setUdpLossPercent');
        if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
          throw new Error(`setUdpLossPercent: port must be 1-65535, got ${String(port)}`);
        }
        if (!tableAdded) {
          const check = checkKernelImpairment();
          if (!check.ok) throw new Error(`setUdpLossPercent: ${check.skipReason}`);
          await addLossTable(name);
          tableAdded = true;
        }
        await setLossRule(name, percent, port);
      },
      async droppedDatagrams() {
        return tableAdded ? readDropCounter(name) : 0;
      },
      close() {
        closing ??= runCommand(['ip', 'netns', 'del', name]).then(() => undefined);
        return closing;
      },
    },
  };
}
