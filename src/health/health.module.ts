import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseModule } from '../database/database.module.js';
import { DatabasePing } from './database-ping.js';
import { HealthController } from './health.controller.js';
import { ReadinessLogger } from './readiness-logger.js';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', logger: ReadinessLogger }), DatabaseModule],
  controllers: [HealthController],
  providers: [DatabasePing],
})
export class HealthModule {}
