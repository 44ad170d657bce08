import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import mongoose from 'mongoose';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { TimeoutError, withTimeout } from '../common/with-timeout.js';
import { DatabaseAnswers } from '../database/database-answers.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';

/**
 * Readiness' MongoDB check: a read of one `users` id, not a `ping`. FerretDB answers a ping from its in-memory
 * catalogue: with its PostgreSQL tables locked (or its storage otherwise stuck) every query hung while readiness stayed
 * 200, and the Service kept sending requests to pods that could serve none. A MongoDB whose storage stalls answers ping
 * too. The first document's `_id`, with no filter or sort, costs about what a ping does (MongoDB stops its scan at one
 * document; FerretDB passes the limit to its backend); `users` is read by sign-in and exists once the first account
 * does (an absent collection answers at once, as a ping would).
 *
 * Over a client of its own (one connection). Through the requests' pool the check waited behind them: with every
 * pooled connection held by slow queries it outlasted HEALTH_CHECK_TIMEOUT_MS although MongoDB answered, and all pods
 * under that load would leave the Service together. Here it measures the database alone.
 */
@Injectable()
export class DatabasePing implements OnApplicationShutdown {
  private readonly client: mongoose.mongo.MongoClient;
  /** The server gives up the read at the check's timeout too, rather than finishing work no probe waits for. */
  private readonly maxTimeMs: number;
  /** The ping under way, which every check meanwhile waits on: one connection, so at most one command queued. */
  private pinging?: Promise<unknown>;
  /** The client's connection, once made; dropped when the attempt fails, so the next ping tries again. */
  private connecting?: Promise<unknown>;

  constructor(
    @InjectConfig() config: AppConfig,
    private readonly indicators: HealthIndicatorService,
    private readonly steps: ShutdownSteps,
    private readonly answers: DatabaseAnswers,
  ) {
    // Connects on the first ping (see connect) and, once connected, reconnects on its own after an outage. A ping that
    // gets no answer closes its socket at the check timeout, so a connection lost without a reset cannot hold the only
    // slot for ever.
    this.maxTimeMs = config.health.checkTimeoutMs;
    this.client = new mongoose.mongo.MongoClient(config.mongo.uri, {
      appName: 'vesta-api-readiness',
      maxPoolSize: 1,
      socketTimeoutMS: config.health.checkTimeoutMs,
      serverSelectionTimeoutMS: config.mongo.serverSelectionTimeoutMs,
      // As the requests' reads and writes: the primary (mongoose-options.ts).
      readPreference: 'primary',
    });
  }

  async check(key: string, timeoutMs: number): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    try {
      await withTimeout(this.ping(), timeoutMs);
      // Tells a media read waiting on a slow chunk that the database is busy, not hung, as the ping did when it went
      // through the requests' pool.
      this.answers.answered();
      return indicator.up({ responseTime: Math.round(performance.now() - started) });
    } catch (error) {
      const message = error instanceof TimeoutError ? `timeout of ${timeoutMs}ms exceeded` : (error as Error).message;
      return indicator.down({ message, responseTime: Math.round(performance.now() - started) });
    }
  }

  /**
   * Shared by concurrent checks. `/health/ready` is reachable by anyone the ingress lets through, and takes no token
   * and no rate limit: with a ping per check, a flood of them would queue behind the one connection (a ping abandoned
   * at the check timeout stays queued) until the kubelet's own ping timed out, taking every pod out of the Service.
   */
  private ping(): Promise<unknown> {
    this.pinging ??= this.connect()
      .then(() =>
        this.client
          .db()
          .collection('users')
          .findOne({}, { projection: { _id: 1 }, maxTimeMS: this.maxTimeMs }),
      )
      .finally(() => (this.pinging = undefined));
    return this.pinging;
  }

  /**
   * Connects explicitly, and again after a failed attempt. Left to the driver's connect on first use, a first attempt
   * that failed (MongoDB down at the first probe) left the client closed for good: every later ping failed at once with
   * "Topology is closed", and the pod stayed unready after MongoDB came back, while liveness kept it running (until
   * 2026-12-05).
   */
  private connect(): Promise<unknown> {
    this.connecting ??= this.client.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.steps.close('MongoDB (readiness ping)', () => this.client.close());
  }
}
