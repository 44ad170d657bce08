import { defineConfig } from 'vitest/config';

/**
 * Integration (test/integration/*.int-spec.ts) and e2e (test/e2e/*.e2e-spec.ts) tests against the
 * real FerretDB and Redis that scripts/with-services.sh provides. Each worker uses its own database.
 */
export default defineConfig({
  test: {
    // `nest generate` writes specs that use describe/it/expect as globals.
    globals: true,
    include: ['test/**/*.int-spec.ts', 'test/**/*.e2e-spec.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: two workers keep FerretDB responsive while files run in parallel.
    maxWorkers: 2,
  },
});
