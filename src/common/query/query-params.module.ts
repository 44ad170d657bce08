import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { UnknownQueryParamsGuard } from './unknown-query-params.guard.js';

/**
 * A module of its own so that AppModule can import it after AuthModule and ThrottlingModule: global guards run in
 * the order their modules are imported, and unknown query parameters are refused after authentication and rate
 * limiting, as RequestValidationPipe refuses them on routes with a query DTO.
 */
@Module({ providers: [{ provide: APP_GUARD, useClass: UnknownQueryParamsGuard }] })
export class QueryParamsModule {}
