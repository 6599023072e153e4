#!/usr/bin/env node
// Builds the native addon and the ctest binaries with cmake-js, after checking
// the system tools it needs. Prints a clear message naming what is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const need = [
  ['cmake', ['--version'], 'cmake (Debian: apt-get install cmake)'],
  ['c++', ['--version'], 'a C++20 compiler (Debian: apt-get install g++)'],
];
for (const [cmd, args, hint] of need) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    console.error(`jetrecv build: '${cmd}' is missing; install ${hint}.`);
    process.exit(1);
  }
}
const nodeInclude = path.resolve(process.execPath, '../../include/node');
if (!existsSync(path.join(nodeInclude, 'openssl', 'evp.h'))) {
  console.error(`jetrecv build: Node's OpenSSL headers are missing at ${nodeInclude}/openssl.`);
  process.exit(1);
}
const syslib = spawnSync('sh', ['-c', 'test -e /usr/include/openssl/evp.h']);
if (syslib.status !== 0) {
  console.error(
    'jetrecv build: OpenSSL development headers for the core tests are missing; install libssl-dev (Debian: apt-get install libssl-dev).',
  );
  process.exit(1);
}
const cmakeJs = path.resolve('node_modules/cmake-js/bin/cmake-js');
const args = [cmakeJs, 'build', '--out', 'build', '--parallel', '2'];
if (process.env.JETRECV_DEBUG) args.push('--debug');
if (process.env.JETRECV_SANITIZE) args.push(`--CDJETRECV_SANITIZE=${process.env.JETRECV_SANITIZE}`);
execFileSync(process.execPath, args, { stdio: 'inherit' });
// Which AEAD back end was built in and what it falls back to (written by CMakeLists.txt).
const aeadSummary = path.join('build', 'aead-backends.txt');
if (existsSync(aeadSummary)) console.log(`jetrecv build: ${readFileSync(aeadSummary, 'utf8').trim()}`);
