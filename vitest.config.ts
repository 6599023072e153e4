import { defineConfig } from 'vitest/config';

// Native addons must run in forked processes (vitest warns that worker threads can
// crash with native modules). Integration tests spawn real daemons, so allow time.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
