import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import { buildManifest } from '../../src/send/manifest.js';

let base: string;
beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), 'jetrecv-manifest-'));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

/** A fresh directory under the test's temp root. */
function scratch(name: string): string {
  const dir = path.join(base, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function rejection(p: Promise<unknown>): Promise<JetrecvError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(JetrecvError);
    return err as JetrecvError;
  }
  throw new Error('expected a JetrecvError');
}

describe('buildManifest', () => {
  it('maps a file to its basename and a directory to its basename plus its tree (like cp -r)', async () => {
    const root = scratch('tree');
    const data = path.join(root, 'data');
    mkdirSync(path.join(data, 'sub', 'deeper'), { recursive: true });
    mkdirSync(path.join(data, 'empty', 'nested-empty'), { recursive: true });
    mkdirSync(path.join(data, 'only-link'));
    writeFileSync(path.join(data, 'b.txt'), 'bb');
    writeFileSync(path.join(data, 'a.bin'), Buffer.alloc(1000));
    writeFileSync(path.join(data, 'sub', 'deeper', 'z'), '');
    writeFileSync(path.join(data, 'sub', 'back\\slash'), 'x');
    chmodSync(path.join(data, 'b.txt'), 0o640);
    utimesSync(path.join(data, 'b.txt'), 1_600_000_000, 1_600_000_000.5); // .5 s is exact in binary
    symlinkSync('../b.txt', path.join(data, 'only-link', 'link'));
    symlinkSync('/etc/passwd', path.join(data, 'abs-link'));
    writeFileSync(path.join(root, 'single.txt'), 'hello');

    const m = await buildManifest([data, path.join(root, 'single.txt')]);
    expect(m.files.map((f) => f.path)).toEqual(['data/a.bin', 'data/b.txt', 'data/sub/back\\slash', 'data/sub/deeper/z', 'single.txt']);
    expect(m.emptyDirs).toEqual(['data/empty/nested-empty', 'data/only-link']);
    expect(m.totalBytes).toBe(1000 + 2 + 1 + 0 + 5);
    const b = m.files.find((f) => f.path === 'data/b.txt')!;
    expect(b).toEqual({
      localPath: path.join(data, 'b.txt'),
      path: 'data/b.txt',
      size: 2,
      mode: 0o640,
      mtimeMs: 1_600_000_000_500,
    });
    expect(m.warnings).toHaveLength(2);
    expect(m.warnings.join('\n')).toContain(`skipped symlink ${path.join(data, 'abs-link')}`);
    expect(m.warnings.join('\n')).toContain(`skipped symlink ${path.join(data, 'only-link', 'link')}`);
  });

  it('lists an empty directory argument as an empty dir, and accepts relative paths and trailing slashes', async () => {
    const root = scratch('rel');
    mkdirSync(path.join(root, 'vacant'));
    const cwd = process.cwd();
    process.chdir(root);
    try {
      const m = await buildManifest(['vacant/']);
      expect(m).toEqual({ files: [], emptyDirs: ['vacant'], totalBytes: 0, warnings: [] });
    } finally {
      process.chdir(cwd);
    }
  });

  it('follows a symlink named on the command line, keeping the link name', async () => {
    const root = scratch('toplink');
    writeFileSync(path.join(root, 'target.txt'), 'abc');
    symlinkSync(path.join(root, 'target.txt'), path.join(root, 'alias.txt'));
    const m = await buildManifest([path.join(root, 'alias.txt')]);
    expect(m.files).toMatchObject([{ path: 'alias.txt', size: 3, localPath: path.join(root, 'alias.txt') }]);
  });

  it('skips fifos and sockets with a warning', async () => {
    const root = scratch('special');
    const dir = path.join(root, 'd');
    mkdirSync(dir);
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    writeFileSync(path.join(dir, 'real'), 'r');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'sock'), resolve));
    try {
      const m = await buildManifest([dir]);
      expect(m.files.map((f) => f.path)).toEqual(['d/real']);
      expect(m.warnings).toEqual([
        `skipped fifo ${path.join(dir, 'pipe')} (only regular files and directories are sent)`,
        `skipped socket ${path.join(dir, 'sock')} (only regular files and directories are sent)`,
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // a special file named directly is an error, not a silent skip
    const err = await rejection(buildManifest([path.join(dir, 'pipe')]));
    expect(err.code).toBe(ErrorCodes.USAGE);
    expect(err.message).toContain('is a fifo');
  });

  it('refuses a missing path, naming it', async () => {
    const missing = path.join(base, 'does-not-exist');
    const err = await rejection(buildManifest([missing]));
    expect(err.code).toBe(ErrorCodes.DISK);
    expect(err.message).toBe(`cannot send ${missing}: no such file or directory`);
    expect(err.details).toMatchObject({ path: missing, errno: 'ENOENT' });
  });

  it.skipIf(process.getuid?.() === 0)('refuses an unreadable directory, naming it', async () => {
    const root = scratch('locked');
    const locked = path.join(root, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o000);
    try {
      const err = await rejection(buildManifest([root]));
      expect(err.code).toBe(ErrorCodes.DISK);
      expect(err.message).toBe(`cannot read directory ${locked}: permission denied`);
    } finally {
      chmodSync(locked, 0o755);
    }
  });

  it('refuses two arguments with the same basename, naming both', async () => {
    const x = scratch('one/same');
    const y = scratch('two/same');
    const err = await rejection(buildManifest([x, y]));
    expect(err.code).toBe(ErrorCodes.USAGE);
    expect(err.message).toContain(`'${x}' and '${y}' would both be sent as 'same'`);
  });

  it('refuses names the protocol cannot carry', async () => {
    const root = scratch('badnames');
    const ctl = path.join(root, 'ctl');
    mkdirSync(ctl);
    writeFileSync(path.join(ctl, 'new\nline'), '');
    const err = await rejection(buildManifest([ctl]));
    expect(err.code).toBe(ErrorCodes.PATH_INVALID);
    expect(err.message).toContain('control character U+000a');

    const latin1 = path.join(root, 'latin1');
    mkdirSync(latin1);
    writeFileSync(Buffer.concat([Buffer.from(`${latin1}/caf`), Buffer.from([0xe9])]), '');
    const err2 = await rejection(buildManifest([latin1]));
    expect(err2.code).toBe(ErrorCodes.PATH_INVALID);
    expect(err2.message).toContain('not valid UTF-8');

    expect((await rejection(buildManifest([]))).code).toBe(ErrorCodes.USAGE);
    expect((await rejection(buildManifest(['/']))).message).toContain('root directory');
  });

  it('is deterministic and fast for 20,000 files', async () => {
    // tmpfs when available: creating 20,000 files on a slow disk takes longer than the test.
    const fast = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/jetrecv-manifest-') : scratch('many');
    onTestFinished(() => rmSync(fast, { recursive: true, force: true }));
    const tree = path.join(fast, 'tree');
    for (let d = 0; d < 100; d++) {
      const dir = path.join(tree, `d${String(d).padStart(3, '0')}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 200; f++) writeFileSync(path.join(dir, `f${f}`), 'x');
    }
    const started = performance.now();
    const m = await buildManifest([tree]);
    const elapsed = performance.now() - started;
    expect(m.files).toHaveLength(20_000);
    expect(m.totalBytes).toBe(20_000);
    const paths = m.files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort());
    expect(elapsed).toBeLessThan(8000); // ~1-2 s on a 2-core VM (libuv pool); catches O(n^2) regressions
    const again = await buildManifest([tree], { concurrency: 16 });
    expect(again.files.map((f) => f.path)).toEqual(paths);
  });
});
