import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileExclusive, writeFileAtomic, writeFileAtomicSync } from '../../src/state/atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetrecv-atomic-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const variants = [
  ['writeFileAtomic', writeFileAtomic],
  ['writeFileAtomicSync', async (p: string, d: string | Uint8Array, m?: number) => writeFileAtomicSync(p, d, m)],
] as const;

describe.each(variants)('%s', (_name, write) => {
  it('writes string content with mode 0600 by default and leaves no temp file', async () => {
    const target = path.join(dir, 'state.json');
    await write(target, '{"a":1}\n');
    expect(fs.readFileSync(target, 'utf8')).toBe('{"a":1}\n');
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('writes binary content and applies the requested mode regardless of umask', async () => {
    const target = path.join(dir, 'blob.bin');
    const bytes = Uint8Array.from([0, 1, 2, 255, 254]);
    const oldUmask = process.umask(0o077);
    try {
      await write(target, bytes, 0o644);
    } finally {
      process.umask(oldUmask);
    }
    expect(new Uint8Array(fs.readFileSync(target))).toEqual(bytes);
    expect(fs.statSync(target).mode & 0o777).toBe(0o644);
  });

  it('overwrites an existing file completely (shorter new content, new mode)', async () => {
    const target = path.join(dir, 'over.txt');
    fs.writeFileSync(target, 'a much longer old content that must vanish', { mode: 0o644 });
    await write(target, 'new');
    expect(fs.readFileSync(target, 'utf8')).toBe('new');
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['over.txt']);
  });

  it('fails when the directory does not exist, creating nothing', async () => {
    const target = path.join(dir, 'missing', 'x.json');
    await expect(write(target, 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('removes its temp file when the rename fails and keeps the old target', async () => {
    const target = path.join(dir, 'is-a-dir');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'k');
    await expect(write(target, 'x')).rejects.toThrow();
    expect(fs.readdirSync(dir)).toEqual(['is-a-dir']);
    expect(fs.readFileSync(path.join(target, 'keep'), 'utf8')).toBe('k');
  });
});

describe('createFileExclusive', () => {
  it('creates a new file with the content and mode, leaving no temp file', async () => {
    const target = path.join(dir, 'new.json');
    await createFileExclusive(target, 'first', 0o600);
    expect(fs.readFileSync(target, 'utf8')).toBe('first');
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['new.json']);
  });

  it('refuses with EEXIST to replace an existing file, which stays unchanged', async () => {
    const target = path.join(dir, 'taken.json');
    fs.writeFileSync(target, 'original');
    await expect(createFileExclusive(target, 'intruder')).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(target, 'utf8')).toBe('original');
    expect(fs.readdirSync(dir)).toEqual(['taken.json']);
  });

  it('lets exactly one of two concurrent creators win', async () => {
    const target = path.join(dir, 'race.json');
    const results = await Promise.allSettled([createFileExclusive(target, 'A'), createFileExclusive(target, 'B')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(['A', 'B']).toContain(fs.readFileSync(target, 'utf8'));
    expect(fs.readdirSync(dir)).toEqual(['race.json']);
  });
});
