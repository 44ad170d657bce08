import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { SILENCE_CHECK_MS } from '../redis/redis-client.factory.js';
import { bullQueues } from './bull-queues.js';
import { checkQueueConnections } from './queue-connections-check.js';

/** Checks the connections of every Bull queue (checkQueueConnections); each connection's checks end with it. */
@Injectable()
export class QueueConnectionsWatch implements OnModuleInit, OnApplicationShutdown {
  private stop = () => {};

  constructor(
    private readonly discovery: DiscoveryService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const options = { timeoutMs: this.config.redis.commandTimeoutMs, everyMs: SILENCE_CHECK_MS };
    this.stop = checkQueueConnections(bullQueues(this.discovery), options, new Logger('Redis'));
  }

  /** Stops looking for new connections; a closing queue's own are not pinged once they stop looking ready. */
  onApplicationShutdown(): void {
    this.stop();
  }
}
