import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';

/**
 * Routes Nest's Logger to the root pino logger. Request lines come from Fastify's hooks
 * (see http-hooks.ts), because Nest middleware skips unversioned routes once URI versioning is on.
 */
@Module({})
export class LoggingModule {
  static forRoot(rootLogger: Logger): DynamicModule {
    return {
      module: LoggingModule,
      imports: [LoggerModule.forRoot({ pinoHttp: { logger: rootLogger }, useExisting: true })],
    };
  }
}
