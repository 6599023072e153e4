import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { kMaxBlockSize } from '../../src/addon/limits.js';
import { validateManifest } from '../../src/recv/manifest-check.js';
import { manifestHash } from '../../src/recv/transfer-opener.js';
import { processUmask, receivedFileMode } from '../../src/recv/file-mode.js';

const file = (path: string, size = 10, mode = 0o644) => ({ path, size, mode, mtimeMs: 1_600_000_000_000 });
const req = (over: Partial<Parameters<typeof validateManifest>[0]> = {}) => ({
  destinationPath: '/incoming',
  blockSize: 1416,
  files: [file('a.txt'), file('dir/b.txt')],
  emptyDirs: ['dir/empty'],
  ...over,
});

describe('validateManifest', () => {
  it('maps paths beneath the destination and sums sizes', async () => {
    const m = await validateManifest(req());
    expect(m.destinationPath).toBe('incoming');
    expect(m.files.map((f) => f.relPath)).toEqual(['incoming/a.txt', 'incoming/dir/b.txt']);
    expect(m.emptyDirs).toEqual(['incoming/dir/empty']);
    expect(m.totalSize).toBe(20);
  });

  it('drops set-uid, set-gid and sticky bits from modes', async () => {
    const m = await validateManifest(req({ files: [file('x', 1, 0o4755), file('y', 1, 0o2770), file('z', 1, 0o1777)] }));
    // ... and applies this process's umask, as open(2) would.
    expect(m.files.map((f) => f.mode)).toEqual([0o755, 0o770, 0o777].map((mode) => mode & ~processUmask()));
  });

  it('limits received modes by the umask: 0666/0777 under 0027 give 0640/0750; no mode gives 0644', async () => {
    expect([0o666, 0o777, 0o4777, 0, 0o600].map((mode) => receivedFileMode(mode, 0o027))).toEqual([0o640, 0o750, 0o750, 0o640, 0o600]);
    expect(receivedFileMode(0, 0o022)).toBe(0o644);
  });

  it.each([
    ['../up', /\.\./],
    ['/abs', /absolute/],
    ['a//b', /empty/],
    ['a/./b', /'\.'/],
  ])('refuses the file path %s', async (p, why) => {
    await expect(validateManifest(req({ files: [file(p)] }))).rejects.toThrow(why);
  });

  it('refuses a destination with ..', async () => {
    await expect(validateManifest(req({ destinationPath: 'x/../../y' }))).rejects.toThrow(/\.\./);
  });

  it('refuses duplicates and file/directory clashes, naming the entry', async () => {
    await expect(validateManifest(req({ files: [file('a'), file('a')] }))).rejects.toThrow(/"a" appears twice/);
    await expect(validateManifest(req({ files: [file('a'), file('a/b')] }))).rejects.toThrow(/"incoming\/a" is a file/);
    await expect(validateManifest(req({ files: [file('a')], emptyDirs: ['a'] }))).rejects.toThrow(/both as a file and as a directory/);
  });

  it('refuses bad sizes and block sizes', async () => {
    await expect(validateManifest(req({ files: [file('a', -1)] }))).rejects.toThrow(/size -1/);
    await expect(validateManifest(req({ files: [file('a', 2 ** 53)] }))).rejects.toThrow(/size/);
    await expect(validateManifest(req({ blockSize: 100 }))).rejects.toThrow(/block size 100/);
    await expect(validateManifest(req({ blockSize: kMaxBlockSize + 1 }))).rejects.toThrow(/block size/);
  });
});

describe('a large manifest is checked and hashed in slices', () => {
  const big = req({ files: Array.from({ length: 25_000 }, (_, i) => file(`d${i % 7}/f${i}`, i)), emptyDirs: ['e'] });

  it('the event loop turns while validateManifest and manifestHash run', async () => {
    let turns = 0;
    const tick = setInterval(() => turns++, 0);
    const m = await validateManifest(big);
    const afterCheck = turns;
    await manifestHash(m, 1416);
    clearInterval(tick);
    expect(afterCheck).toBeGreaterThan(0);
    expect(turns).toBeGreaterThan(afterCheck);
    expect(m.files.length).toBe(25_000);
    expect(m.totalSize).toBe((25_000 * 24_999) / 2);
  });

  it('manifestHash is the sha256 of the JSON text stored records were hashed from', async () => {
    const m = await validateManifest(big);
    const text = JSON.stringify({
      d: m.destinationPath,
      b: 1416,
      f: m.files.map((f) => [f.relPath, f.size, f.mode, f.mtimeMs]),
      e: m.emptyDirs,
    });
    expect(await manifestHash(m, 1416)).toBe(createHash('sha256').update(text).digest('hex'));
    const none = await validateManifest(req({ files: [], emptyDirs: [] }));
    expect(await manifestHash(none, 256)).toBe(
      createHash('sha256')
        .update(JSON.stringify({ d: none.destinationPath, b: 256, f: [], e: [] }))
        .digest('hex'),
    );
  });

  it('a duplicate in a late slice is still found', async () => {
    const files = [...big.files, file('d3/f3')];
    await expect(validateManifest(req({ files }))).rejects.toThrow(/appears twice/);
  });
});
