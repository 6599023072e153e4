// file-mode.ts — the permission bits a received file gets: the sender's permission bits
// (never set-uid, set-gid or sticky), 0644 when the sender sent none, and never more than
// the receiving process's umask allows — as if the receiver had created the file with
// open(2) and that mode. The service's UMask= (0027) thus keeps group-write and all
// "other" bits off received files, whatever mode the sender asks for.
import { readFileSync } from 'node:fs';

let cachedUmask: number | undefined;

/** The umask of this process (read once; a daemon does not change it while running). */
export function processUmask(): number {
  if (cachedUmask !== undefined) return cachedUmask;
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) cachedUmask = parseInt(m[1] as string, 8);
  } catch {
    // no /proc: ask Node (documented as deprecated without an argument, but exact)
  }
  cachedUmask ??= process.umask();
  return cachedUmask;
}

/** Mode of a received file for a manifest entry's `senderMode`. */
export function receivedFileMode(senderMode: number, umask: number = processUmask()): number {
  return (senderMode & 0o777 || 0o644) & ~umask & 0o777;
}
