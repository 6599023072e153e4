// host-tools.ts — programs some tests run that README's set-up (g++, cmake, libssl-dev,
// node) does not install. A test that needs one asks `missingTools([...])` and, when it
// gets a reason back, prints it and skips: `npm test` passes on a fresh machine and says
// what it left out. Lookup is by PATH, as the tests' spawn() calls resolve programs.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** Tool → the Debian package that installs it (named in the skip reason). */
export const kToolPackages: Readonly<Record<string, string>> = Object.freeze({
  nft: 'nftables',
  ip: 'iproute2',
  openssl: 'openssl',
  'systemd-analyze': 'systemd',
  python3: 'python3',
  prlimit: 'util-linux',
  setpriv: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  bash: 'bash',
});

/** Absolute path of `tool` found on PATH (as `command -v` would), or null. */
export function findOnPath(tool: string, envPath = process.env['PATH'] ?? ''): string | null {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * null when every tool is on PATH, else a skip reason naming the missing ones and what
 * installs them, e.g. "needs 'nft' (apt-get install nftables), not found on PATH".
 */
export function missingTools(tools: readonly string[]): string | null {
  const missing = tools.filter((t) => findOnPath(t) === null);
  if (missing.length === 0) return null;
  const pkgs = [...new Set(missing.map((t) => kToolPackages[t] ?? t))];
  return `needs ${missing.map((t) => `'${t}'`).join(', ')} (apt-get install ${pkgs.join(' ')}), not found on PATH`;
}
