import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DatabaseAnswers } from './database-answers.js';
import { UniqueIndexes } from './unique-indexes.js';

/**
 * The MongoDB connection. Pool and timeouts follow the Vesta report; commands are never buffered
 * while disconnected, so an outage fails requests fast instead of queueing them.
 */
@Module({
  imports: [
    MongooseModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: ({ mongo }: AppConfig) => ({
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
      }),
    }),
  ],
  providers: [UniqueIndexes, DatabaseAnswers],
  exports: [DatabaseAnswers],
})
export class DatabaseModule {}
