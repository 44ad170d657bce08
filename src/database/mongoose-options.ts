import type { MongooseModuleFactoryOptions } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import type { AppConfig } from '../config/app-config.js';
import type { ShutdownSteps } from '../lifecycle/shutdown-steps.js';

/**
 * The connection's options. Pool and timeouts follow the Vesta report; commands are never buffered while
 * disconnected, so an outage fails requests fast instead of queueing them.
 *
 * Every read goes to the primary, whatever MONGODB_READ_PREFERENCE says (and over a `readPreference` in the URI:
 * the driver prefers these options): reads that fill a cache after an eviction, read back a write or precede one must
 * see the latest writes. Only the list queries that tolerate lag ask for the configured preference themselves
 * (ProfilesRepository; docs/decisions/0028-reads-from-the-primary-except-lists.md).
 */
export function mongooseOptions({ mongo }: AppConfig, steps: ShutdownSteps): MongooseModuleFactoryOptions {
  return {
    uri: mongo.uri,
    appName: 'vesta-api',
    maxPoolSize: mongo.maxPoolSize,
    serverSelectionTimeoutMS: mongo.serverSelectionTimeoutMs,
    socketTimeoutMS: mongo.socketTimeoutMs,
    // Without it an operation waits for a connection as long as it takes: past its request's deadline (which answers
    // 503 and leaves the work running), so after a burst the pool worked through requests long answered, and new ones
    // waited behind them (seen in a load test: sign-ups still refused five minutes after the load had stopped).
    waitQueueTimeoutMS: mongo.waitQueueTimeoutMs,
    readPreference: 'primary',
    bufferCommands: false,
    // Command events feed the latency histogram (MongoMetrics).
    monitorCommands: true,
    // Start-up waits for the database a bounded time, then fails so the orchestrator restarts us.
    retryAttempts: 5,
    retryDelay: 2_000,
    connectionFactory: (connection: Connection) => closedWithinAStep(connection, steps),
  };
}

/**
 * @nestjs/mongoose closes the connection in its own shutdown hook, the last of all (its module is global); the
 * close is made a bounded step here, so a MongoDB that stopped answering cannot hold the exit either.
 */
function closedWithinAStep(connection: Connection, steps: ShutdownSteps): Connection {
  const close = connection.close.bind(connection);
  connection.close = async (force?: boolean) => {
    await steps.close('MongoDB', () => close(force));
  };
  return connection;
}
