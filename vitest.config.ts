import { defineConfig } from 'vitest/config';

/** Unit tests: `*.spec.ts` beside the code; no network, no database. */
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
