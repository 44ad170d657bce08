import { Module } from '@nestjs/common';
import { BatchController } from './batch.controller.js';

@Module({ controllers: [BatchController] })
export class BatchModule {}
