import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { ReadinessState } from '../lifecycle/readiness-state.js';
import { SILENCE_CHECK_MS } from '../redis/redis-client.factory.js';
import { bullQueues } from './bull-queues.js';
import { checkQueueConnections } from './queue-connections-check.js';

/** Checks the connections of every Bull queue (checkQueueConnections) until shutdown begins. */
@Injectable()
export class QueueConnectionsWatch implements OnModuleInit, OnApplicationShutdown {
  private stop = () => {};

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly readiness: ReadinessState,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const options = { timeoutMs: this.config.redis.commandTimeoutMs, everyMs: SILENCE_CHECK_MS };
    this.stop = checkQueueConnections(bullQueues(this.discovery), options, new Logger('Redis'));
    // Closing queues quit their connections, which then answer no ping: the close is bounded on its own.
    this.readiness.onShuttingDown(() => this.stop());
  }

  /** Also for a close without a signal (tests, scripts), whose queues would otherwise stay referenced. */
  onApplicationShutdown(): void {
    this.stop();
  }
}
