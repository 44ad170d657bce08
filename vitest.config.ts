import { defineConfig } from 'vitest/config';

/** Unit tests: `*.spec.ts` beside the code; no network, no database. */
export default defineConfig({
  test: {
    // `nest generate` writes specs that use describe/it/expect as globals.
    globals: true,
    include: ['src/**/*.spec.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
