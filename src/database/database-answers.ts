import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { isConnectionFailure } from './mongo-errors.js';

/**
 * When MongoDB last answered a command of this process, from the driver's command events (`monitorCommands`, set in
 * DatabaseModule). It tells a database that is busy from one that hangs: a wait that is long while other commands are
 * still being answered is a queue, one during which nothing is answered is an outage. Answers from every server count:
 * with a secondary MONGODB_READ_PREFERENCE, secondaries answering list queries hide a primary that hangs
 * (docs/operations.md).
 */
@Injectable()
export class DatabaseAnswers implements OnModuleInit {
  private lastAnswerAt = Date.now();

  constructor(@InjectConnection() private readonly connection: Connection) {}

  onModuleInit(): void {
    const answered = () => this.answered();
    const client = this.connection.getClient();
    client.on('commandSucceeded', answered);
    // A failure is an answer when the server sent it; a lost or timed-out connection is not one.
    client.on('commandFailed', (event: { failure: Error }) => {
      if (!isConnectionFailure(event.failure)) answered();
    });
  }

  /** An answer on another client of this process (readiness' ping, src/health/database-ping.ts). */
  answered(): void {
    this.lastAnswerAt = Date.now();
  }

  /** Whether any command was answered in the last `ms` milliseconds. */
  answeredWithin(ms: number): boolean {
    return Date.now() - this.lastAnswerAt < ms;
  }
}
