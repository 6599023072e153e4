#!/usr/bin/env node
// clang-format over native/ (.cc, .h), configured by .clang-format at the top.
//   --check: report files that differ (clang-format --dry-run -Werror), exit 1 if any
//   --write: reformat them in place
// Without clang-format on PATH it prints why it skipped and exits 0 (Debian: apt-get install clang-format).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const mode = process.argv[2];
if (mode !== '--check' && mode !== '--write') {
  console.error('usage: node scripts/clang-format.mjs --check|--write');
  process.exit(2);
}
const probe = spawnSync('clang-format', ['--version'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  console.log('clang-format: skipped, clang-format is not installed (Debian: apt-get install clang-format)');
  process.exit(0);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files = readdirSync(path.join(root, 'native'), { recursive: true, encoding: 'utf8' })
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => path.join('native', f))
  .sort();
const args = mode === '--check' ? ['--dry-run', '-Werror', ...files] : ['-i', ...files];
const r = spawnSync('clang-format', ['--style=file', ...args], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
