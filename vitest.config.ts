import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// Native addons must run in forked processes (vitest warns that worker threads can
// crash with native modules). Integration tests spawn real daemons, so allow time.
// Daemons the tests start make their local admin socket in $RUNTIME_DIRECTORY: one
// directory per test run keeps them out of the host's /run/jetrecv (tests that need their
// own socket pass --admin-socket or their own RUNTIME_DIRECTORY).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    env: { RUNTIME_DIRECTORY: process.env['RUNTIME_DIRECTORY'] ?? mkdtempSync(path.join(tmpdir(), 'jetrecv-test-run-')) },
  },
});
