#!/usr/bin/env node
// check-addon-symbols.mjs <addon.node> — run by CMake after linking the addon.
// A shared object links with undefined symbols, so the linker alone would let a
// missing definition through to dlopen time. The addon may leave undefined only
// what the node binary exports (Node-API and Node's bundled libcrypto) and what
// its DT_NEEDED libraries define (versioned: memcpy@GLIBC_2.14) or weak symbols.
// Anything else fails the build, naming the symbols, and removes the addon file
// so the next build links it again.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const addon = process.argv[2];
if (!addon) {
  console.error('usage: check-addon-symbols.mjs <addon.node>');
  process.exit(2);
}

// nm -D lines: "<value> <type> <name>" (defined) or "<spaces> <type> <name>" (undefined).
function dynamicSymbols(file, flag) {
  return execFileSync('nm', ['-D', flag, file], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 2)
    .map((fields) => ({ type: fields[fields.length - 2], name: fields[fields.length - 1] }));
}

// The shared libraries the addon is linked against (DT_NEEDED, resolved by the loader):
// their symbols need not be versioned (libIPSec_MB's are not).
function neededLibraries(file) {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  return [...out.matchAll(/=>\s+(\/\S+)/g)].map((m) => m[1]);
}

const provided = new Set(dynamicSymbols(process.execPath, '--defined-only').map((s) => s.name));
for (const lib of neededLibraries(addon)) {
  for (const s of dynamicSymbols(lib, '--defined-only')) provided.add(s.name);
}
const missing = dynamicSymbols(addon, '--undefined-only')
  .filter((s) => s.type === 'U' && !s.name.includes('@') && !provided.has(s.name))
  .map((s) => s.name);
if (missing.length > 0) {
  rmSync(addon, { force: true });
  console.error(
    `jetrecv build: ${addon} references ${missing.length} symbol(s) that neither node (${process.execPath}) ` +
      `nor a linked library defines: ${missing.join(', ')}`,
  );
  process.exit(1);
}
