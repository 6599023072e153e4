// Where the daemon puts its local admin socket and where `jetrecv api` looks for it.
import { describe, expect, it } from 'vitest';
import { adminSocketCandidates, defaultAdminSocketPath } from '../../src/api/local-admin.js';

describe('admin socket paths', () => {
  it('uses $RUNTIME_DIRECTORY (its first entry) alone when set', () => {
    expect(adminSocketCandidates({ RUNTIME_DIRECTORY: '/run/jetrecv:/run/other', XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toEqual([
      '/run/jetrecv/admin.sock',
    ]);
  });

  it('for a user other than root: its $XDG_RUNTIME_DIR first, then the service socket', () => {
    expect(adminSocketCandidates({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toEqual([
      '/run/user/1000/jetrecv/admin.sock',
      '/run/jetrecv/admin.sock',
    ]);
    expect(defaultAdminSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe(
      process.getuid?.() === 0 ? '/run/jetrecv/admin.sock' : '/run/user/1000/jetrecv/admin.sock',
    );
  });

  it('for root, or without any runtime directory: /run/jetrecv/admin.sock', () => {
    expect(adminSocketCandidates({ XDG_RUNTIME_DIR: '/run/user/0' }, 0)).toEqual(['/run/jetrecv/admin.sock']);
    expect(adminSocketCandidates({ RUNTIME_DIRECTORY: '' }, 1000)).toEqual(['/run/jetrecv/admin.sock']);
  });
});
