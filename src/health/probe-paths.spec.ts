import { describe, expect, it } from 'vitest';
import { isProbe } from './probe-paths.js';

describe('isProbe', () => {
  it('knows the two probes, with or without a query', () => {
    for (const url of ['/health/live', '/health/ready', '/health/ready?verbose=1', '/health/live?']) {
      expect(isProbe(url), url).toBe(true);
    }
  });

  it('does not take other paths for probes', () => {
    for (const url of ['/health/livex', '/health/live/x', '/v1/health/live', '/health', '/?/health/live']) {
      expect(isProbe(url), url).toBe(false);
    }
  });
});
