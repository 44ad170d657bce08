import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { UnexpectedBodyGuard } from './unexpected-body.guard.js';

/**
 * A module of its own so that AppModule can import it after AuthModule and ThrottlingModule (global guards run in the
 * order their modules are imported): a body is refused after authentication and rate limiting, as RequestValidationPipe
 * refuses an unknown field on routes with a body DTO.
 */
@Module({ providers: [{ provide: APP_GUARD, useClass: UnexpectedBodyGuard }] })
export class RequestBodyModule {}
