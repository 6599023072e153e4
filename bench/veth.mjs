// veth.mjs — the `veth` bench section: jetrecv, iperf3 UDP, a plain TCP copy and a TLS TCP
// copy between two network namespaces joined by a veth pair (MTU 9000, test/tools/netns.ts),
// sender in one, receiver in the other. Loopback has a 64 KiB MTU, so TCP there moves
// 64 KiB segments while UDP moves one datagram per packet. On the pair, segmentation offloads
// (TSO, GSO) are off: with them on, TCP's 64 KiB super-packets would cross veth unsegmented
// just as on lo; off, TCP and UDP alike pay per packet of at most the link's MTU. Root only
// (ip netns, nft, ethtool); skipped with the reason elsewhere. Both ends still share this
// machine's cores. Method: bench/README.md.
import { copyFields, iperf3Once, iperfFields, kTcpModes, tcpCopyOnce, tlsCert } from './peers.mjs';
import { cleanups, jetrecvFields, jetrecvOnce, which } from './run.mjs';

const kVethMtu = 9000;
/** ethtool -K arguments: no segmentation offload on the pair (see the header). */
const kOffloadsOff = ['tso', 'off', 'gso', 'off'];

export async function sectionVeth(ctx, tools) {
  const { opts, results, plan } = ctx;
  const skip = (skipped) => results.push({ section: 'veth', name: 'veth rows', skipped });
  if (!tools) return skip(ctx.loNamespaceReason ?? 'test tools unavailable');
  const created = await tools.netns.createNetnsPair({ mtu: kVethMtu, prefix: 'jetrecv-bench-veth' });
  if (!created.value) return skip(created.skipReason);
  const pair = created.value;
  cleanups.push(() => pair.close());
  for (const side of ['a', 'b']) {
    const r = await pair.run(side, ['ethtool', '-K', 'veth0', ...kOffloadsOff]);
    if (r.code !== 0)
      return skip(
        `cannot turn veth offloads off (ethtool -K veth0 ${kOffloadsOff.join(' ')}): ${(r.stderr || 'ethtool missing: apt-get install ethtool').trim().split('\n')[0]}`,
      );
  }
  // Receiver (server) in b, sender (client) in a, as the pair's loss rules assume.
  const net = {
    serverNs: pair.nsB,
    serverHost: pair.addressB,
    clientHost: pair.addressA,
    wrapServer: (argv) => pair.wrap('b', argv),
    wrapClient: (argv) => pair.wrap('a', argv),
  };
  const dest = ctx.tmpfs;
  const link = `veth MTU ${kVethMtu}, no TSO/GSO`;
  for (const dg of opts.datagramSizes) {
    const name = `jetrecv ${dg} over ${link} → ${dest.name}`;
    plan.add(results, { section: 'veth', name, tool: 'jetrecv', datagramSize: dg, dest: dest.name, bytes: opts.size }, jetrecvFields, () =>
      jetrecvOnce({
        srcFile: ctx.src,
        srcSha: ctx.srcSha,
        destRoot: dest.dir,
        datagramSize: dg,
        disk: false,
        opts,
        label: name,
        wrap: net.wrapServer,
        wrapSend: net.wrapClient,
        host: net.serverHost,
        sendTo: (rx) => ({ address: `${net.serverHost}:${rx.recvPort}` }),
      }),
    );
  }
  if (!which('iperf3')) {
    results.push({ section: 'veth', name: 'iperf3 UDP over veth', tool: 'iperf3', skipped: 'not installed (apt-get install iperf3)' });
  } else {
    for (const dg of opts.datagramSizes) {
      plan.add(
        results,
        { section: 'veth', name: `iperf3 -u -b 0 -l ${dg} over ${link}`, tool: 'iperf3', datagramSize: dg, dest: null },
        iperfFields,
        () => iperf3Once(opts, dg, net),
      );
    }
  }
  if (!which('socat')) {
    results.push({ section: 'veth', name: 'socat over veth', tool: 'socat', skipped: 'not installed (apt-get install socat)' });
    return;
  }
  const cert = await tlsCert(ctx);
  for (const mode of kTcpModes) {
    if (mode.tls && !cert) continue; // the peers section says why
    plan.add(
      results,
      {
        section: 'veth',
        name: `socat -b 1048576 ${mode.name} over ${link} → ${dest.name}`,
        tool: 'socat',
        tls: mode.tls,
        dest: dest.name,
        bytes: opts.size,
      },
      copyFields,
      () => tcpCopyOnce(ctx, { dest, cert: mode.tls ? cert : null, net }),
    );
  }
}
