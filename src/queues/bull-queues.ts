import type { DiscoveryService } from '@nestjs/core';
import Bull, { type Queue } from 'bull';

/** Every Bull queue the application registered (each feature module registers its own). */
export function bullQueues(discovery: DiscoveryService): Queue[] {
  return discovery
    .getProviders()
    .map((wrapper) => wrapper.instance as unknown)
    .filter((instance): instance is Queue => instance instanceof Bull);
}
