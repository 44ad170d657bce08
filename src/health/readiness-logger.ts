import { Injectable, Logger, type LoggerService } from '@nestjs/common';

/**
 * Terminus' own line about a failing check ("Health Check has failed! {...}", naming the checks), at warn like the
 * failing probe's request line (docs/operations.md, Logs). Terminus writes it at error: while MongoDB is down, every
 * readiness probe of every pod, one a pod every 2 s, would add an error line.
 */
@Injectable()
export class ReadinessLogger implements LoggerService {
  private readonly logger = new Logger('Readiness');

  log(message: string): void {
    this.logger.log(message);
  }

  error(message: string): void {
    this.logger.warn(message);
  }

  warn(message: string): void {
    this.logger.warn(message);
  }
}
