import { describe, expect, it } from 'vitest';
import { validateManifest, kMaxBlockSize } from '../../src/recv/manifest-check.js';
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
  it('maps paths beneath the destination and sums sizes', () => {
    const m = validateManifest(req());
    expect(m.destinationPath).toBe('incoming');
    expect(m.files.map((f) => f.relPath)).toEqual(['incoming/a.txt', 'incoming/dir/b.txt']);
    expect(m.emptyDirs).toEqual(['incoming/dir/empty']);
    expect(m.totalSize).toBe(20);
  });

  it('drops set-uid, set-gid and sticky bits from modes', () => {
    const m = validateManifest(req({ files: [file('x', 1, 0o4755), file('y', 1, 0o2770), file('z', 1, 0o1777)] }));
    // ... and applies this process's umask, as open(2) would.
    expect(m.files.map((f) => f.mode)).toEqual([0o755, 0o770, 0o777].map((mode) => mode & ~processUmask()));
  });

  it('limits received modes by the umask: 0666/0777 under 0027 give 0640/0750; no mode gives 0644', () => {
    expect([0o666, 0o777, 0o4777, 0, 0o600].map((mode) => receivedFileMode(mode, 0o027))).toEqual([0o640, 0o750, 0o750, 0o640, 0o600]);
    expect(receivedFileMode(0, 0o022)).toBe(0o644);
  });

  it.each([
    ['../up', /\.\./],
    ['/abs', /absolute/],
    ['a//b', /empty/],
    ['a/./b', /'\.'/],
  ])('refuses the file path %s', (p, why) => {
    expect(() => validateManifest(req({ files: [file(p)] }))).toThrow(why);
  });

  it('refuses a destination with ..', () => {
    expect(() => validateManifest(req({ destinationPath: 'x/../../y' }))).toThrow(/\.\./);
  });

  it('refuses duplicates and file/directory clashes, naming the entry', () => {
    expect(() => validateManifest(req({ files: [file('a'), file('a')] }))).toThrow(/"a" appears twice/);
    expect(() => validateManifest(req({ files: [file('a'), file('a/b')] }))).toThrow(/"incoming\/a" is a file/);
    expect(() => validateManifest(req({ files: [file('a')], emptyDirs: ['a'] }))).toThrow(/both as a file and as a directory/);
  });

  it('refuses bad sizes and block sizes', () => {
    expect(() => validateManifest(req({ files: [file('a', -1)] }))).toThrow(/size -1/);
    expect(() => validateManifest(req({ files: [file('a', 2 ** 53)] }))).toThrow(/size/);
    expect(() => validateManifest(req({ blockSize: 100 }))).toThrow(/block size 100/);
    expect(() => validateManifest(req({ blockSize: kMaxBlockSize + 1 }))).toThrow(/block size/);
  });
});
