import { execFileSync } from 'node:child_process';

/**
 * Fails fast with a clear message when the real services are missing, and builds dist/ once,
 * which the process-level tests start as the production entry point.
 */
export default function globalSetup(): void {
  for (const name of ['MONGODB_URI', 'REDIS_URL', 'FERRETDB_BIN']) {
    if (!process.env[name]) {
      throw new Error(`${name} is not set: run the suite through ./scripts/test.sh or npm run test:e2e`);
    }
  }
  execFileSync('npx', ['nest', 'build'], { stdio: 'inherit' });
}
