// load-tools.mjs — lets plain Node scripts (the bench, the relay CLI) use the TypeScript test
// tools without a build step: compiles test/tools/*.ts with the project's own tsc into a
// cache keyed by the sources' hash, then imports the result. Vitest imports the .ts directly.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const toolsDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(toolsDir, '..', '..');
const sources = ['impair-relay.ts', 'netns.ts', 'wan.ts', 'tls-cert.ts'];

/** Compiles the tools if the cache is stale; returns the directory of the .js files. */
export function compileTestTools() {
  const hash = createHash('sha256');
  for (const f of sources) hash.update(f).update(readFileSync(path.join(toolsDir, f)));
  const key = hash.digest('hex').slice(0, 16);
  const cacheRoot = path.join(repoRoot, 'node_modules', '.cache', 'jetrecv-test-tools');
  const outDir = path.join(cacheRoot, key);
  if (existsSync(path.join(outDir, 'impair-relay.js'))) return outDir;
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) throw new Error(`cannot compile test/tools: ${tsc} is missing (run npm install)`);
  const tmpDir = `${outDir}.tmp-${process.pid}`;
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--ignoreConfig',
      '--outDir',
      tmpDir,
      '--rootDir',
      toolsDir,
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--types',
      'node',
      '--skipLibCheck',
      '--strict',
      ...sources.map((f) => path.join(toolsDir, f)),
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (r.status !== 0) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw new Error(`tsc failed on test/tools:\n${r.stdout}${r.stderr}`);
  }
  // Old cache entries go; the new one appears atomically (concurrent runs may race here).
  if (existsSync(cacheRoot)) {
    for (const e of readdirSync(cacheRoot))
      if (e !== key && !e.includes('.tmp-')) rmSync(path.join(cacheRoot, e), { recursive: true, force: true });
  }
  try {
    renameSync(tmpDir, outDir);
  } catch {
    rmSync(tmpDir, { recursive: true, force: true }); // another process got there first
  }
  return outDir;
}

/** The compiled modules: { relay: impair-relay.ts, netns: netns.ts, wan: wan.ts, tlsCert: tls-cert.ts }. */
export async function loadTestTools() {
  const dir = compileTestTools();
  const relay = await import(pathToFileURL(path.join(dir, 'impair-relay.js')).href);
  const netns = await import(pathToFileURL(path.join(dir, 'netns.js')).href);
  const wan = await import(pathToFileURL(path.join(dir, 'wan.js')).href);
  const tlsCert = await import(pathToFileURL(path.join(dir, 'tls-cert.js')).href);
  return { relay, netns, wan, tlsCert };
}
