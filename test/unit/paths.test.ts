import { describe, expect, it } from 'vitest';
import { ErrorCodes, JetrecvError } from '../../src/errors.js';
import { joinDestination, normalizeDestinationPath, validateRelativePath } from '../../src/proto/paths.js';

function pathError(fn: () => unknown): JetrecvError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(JetrecvError);
    expect((err as JetrecvError).code).toBe(ErrorCodes.PATH_INVALID);
    return err as JetrecvError;
  }
  throw new Error('expected a PATH_INVALID error');
}

describe('validateRelativePath', () => {
  it.each(['a', 'a/b/c.txt', 'dir with spaces/ü €.bin', 'a\\b', '..a/b..', '.hidden/.x', '...', 'x'.repeat(255)])(
    'accepts %j unchanged',
    (p) => {
      expect(validateRelativePath(p, 'file path')).toBe(p);
    },
  );

  it.each([
    ['', 'empty'],
    ['/etc/passwd', 'absolute'],
    ['a//b', 'empty component'],
    ['a/b/', 'empty component'],
    ['..', "'..' component"],
    ['a/../../b', "'..' component"],
    ['a/..', "'..' component"],
    ['./a', "'.' component"],
    ['a/./b', "'.' component"],
    ['a\0b', 'control character U+0000'],
    ['a\nb', 'control character U+000a'],
    ['a\u007fb', 'control character U+007f'],
    ['a\u009bb', 'control character U+009b'],
    ['x'.repeat(256), 'component longer than 255 bytes'],
    ['é'.repeat(128), 'component longer than 255 bytes'], // 256 bytes in UTF-8
    [Array.from({ length: 17 }, () => 'y'.repeat(250)).join('/'), 'longer than 4096 bytes'],
  ])('refuses %j (%s)', (p, reason) => {
    const err = pathError(() => validateRelativePath(p, 'file 3 path'));
    expect(err.message).toContain('file 3 path');
    expect(err.message).toContain(reason);
    expect(err.details).toMatchObject({ path: p });
  });

  it('accepts a path of exactly 4096 bytes', () => {
    const p = [...Array.from({ length: 16 }, () => 'z'.repeat(254)), 'z'.repeat(4096 - 16 * 255)].join('/');
    expect(Buffer.byteLength(p)).toBe(4096);
    expect(validateRelativePath(p, 'p')).toBe(p);
  });
});

describe('normalizeDestinationPath', () => {
  it.each([
    ['', ''],
    ['/', ''],
    ['/repository1', 'repository1'],
    ['repository1', 'repository1'],
    ['/a/b/', 'a/b'],
    ['a/b', 'a/b'],
  ])('%j -> %j', (d, rel) => {
    expect(normalizeDestinationPath(d)).toBe(rel);
  });

  it.each(['/..', '/a/../b', '..', '//', '//x', '/a//b', '/./a', '/a\0'])('refuses %j naming it as written', (d) => {
    const err = pathError(() => normalizeDestinationPath(d));
    expect(err.message).toContain(`destination path ${JSON.stringify(d)}`);
  });
});

describe('joinDestination', () => {
  it('joins beneath the sandbox root', () => {
    expect(joinDestination('/repository1', 'mnt/data/file.txt')).toBe('repository1/mnt/data/file.txt');
    expect(joinDestination('', 'file.txt')).toBe('file.txt');
    expect(joinDestination('/', 'd/f')).toBe('d/f');
  });

  it('refuses escapes in either part and over-long results', () => {
    expect(pathError(() => joinDestination('/x', '../etc/passwd')).message).toContain("'..'");
    expect(pathError(() => joinDestination('/../x', 'f')).message).toContain("'..'");
    expect(pathError(() => joinDestination('/x', '/etc/passwd')).message).toContain('absolute');
    const dest = 'd'.repeat(200);
    const file = Array.from({ length: 16 }, () => 'f'.repeat(250)).join('/');
    expect(pathError(() => joinDestination(dest, file)).message).toContain('longer than 4096 bytes');
  });
});
