import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { APP_CONFIG } from '../config/config.module.js';
import { LifecycleModule } from '../lifecycle/lifecycle.module.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { DatabaseAnswers } from './database-answers.js';
import { mongooseOptions } from './mongoose-options.js';
import { UniqueIndexes } from './unique-indexes.js';

/** The MongoDB connection (options and why: mongoose-options.ts). */
@Module({
  imports: [
    MongooseModule.forRootAsync({
      imports: [LifecycleModule],
      inject: [APP_CONFIG, ShutdownSteps],
      useFactory: mongooseOptions,
    }),
  ],
  providers: [UniqueIndexes, DatabaseAnswers],
  exports: [DatabaseAnswers],
})
export class DatabaseModule {}
