import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { LifecycleModule } from '../lifecycle/lifecycle.module.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { DatabaseAnswers } from './database-answers.js';
import { UniqueIndexes } from './unique-indexes.js';

/**
 * The MongoDB connection. Pool and timeouts follow the Vesta report; commands are never buffered
 * while disconnected, so an outage fails requests fast instead of queueing them.
 */
@Module({
  imports: [
    MongooseModule.forRootAsync({
      imports: [LifecycleModule],
      inject: [APP_CONFIG, ShutdownSteps],
      useFactory: ({ mongo }: AppConfig, steps: ShutdownSteps) => ({
        uri: mongo.uri,
        appName: 'vesta-api',
        maxPoolSize: mongo.maxPoolSize,
        serverSelectionTimeoutMS: mongo.serverSelectionTimeoutMs,
        socketTimeoutMS: mongo.socketTimeoutMs,
        readPreference: mongo.readPreference,
        bufferCommands: false,
        // Command events feed the latency histogram (MongoMetrics).
        monitorCommands: true,
        // Start-up waits for the database a bounded time, then fails so the orchestrator restarts us.
        retryAttempts: 5,
        retryDelay: 2_000,
        connectionFactory: (connection: Connection) => closedWithinAStep(connection, steps),
      }),
    }),
  ],
  providers: [UniqueIndexes, DatabaseAnswers],
  exports: [DatabaseAnswers],
})
export class DatabaseModule {}

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
