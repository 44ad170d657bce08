import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS_REGISTRY } from '../metrics/metrics.constants.js';
import { driverPools } from './driver-pools.js';

/** Command names become a label; anything outside this set (admin, handshake) is counted as "other". */
const COMMANDS = new Set([
  'find',
  'getMore',
  'aggregate',
  'count',
  'distinct',
  'insert',
  'update',
  'delete',
  'findAndModify',
  'createIndexes',
  'ping',
]);

interface CommandEvent {
  commandName: string;
  duration: number;
}

/**
 * MongoDB driver events as metrics: command latency by command and outcome (needs `monitorCommands`,
 * set in DatabaseModule), and, read from the driver when scraped, each server's connection pool: its size and
 * connections in use, the first thing to check when requests queue behind the database. Until 2026-12-04 the pool
 * gauge counted pool events from bootstrap on, missing the connections opened before (open read 0 beside 7 real ones)
 * and going negative as those were checked in.
 */
@Injectable()
export class MongoMetrics implements OnApplicationBootstrap {
  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  onApplicationBootstrap(): void {
    const client = this.connection.getClient();
    const latency = new Histogram({
      name: 'mongodb_command_duration_seconds',
      help: 'MongoDB command round trips, by command and outcome',
      labelNames: ['command', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    new Gauge({
      name: 'mongodb_pool_connections',
      help: 'Connections in the driver pool per server: open, and checked out by an operation',
      labelNames: ['server', 'state'],
      registers: [this.registry],
      collect() {
        // A server the driver no longer knows (or a client closed) leaves the scrape with its series.
        this.reset();
        for (const { server, open, inUse } of driverPools(client)) {
          this.set({ server, state: 'open' }, open);
          this.set({ server, state: 'in_use' }, inUse);
        }
      },
    });

    const observe = (status: string) => (event: CommandEvent) =>
      latency.observe(
        { command: COMMANDS.has(event.commandName) ? event.commandName : 'other', status },
        event.duration / 1000,
      );
    client.on('commandSucceeded', observe('ok'));
    client.on('commandFailed', observe('error'));
  }
}
