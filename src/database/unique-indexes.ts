import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { CreateIndexesOptions, IndexSpecification } from 'mongodb';
import type { Connection } from 'mongoose';
import { isDuplicateKeyError } from './mongo-errors.js';

/**
 * Makes start-up wait until every unique index declared in a schema exists, and fail when one cannot be built.
 *
 * Mongoose builds schema indexes in the background and only emits an event when one fails. For a unique index
 * that means two things we cannot accept: on a new database, requests served in the first moments are not held
 * to it (two registrations of one email could both land), and when existing documents already break it the
 * build fails and uniqueness is silently not enforced at all. Non-unique indexes only make queries faster, so
 * they stay in the background: a new one on a large collection must not hold a deployment back.
 *
 * `createIndex` with the schema's own options is a no-op when the index exists, so every start after the first
 * costs one round trip per unique index. It runs in `onModuleInit`, which Nest finishes for all modules before
 * any `onApplicationBootstrap` hook (the admin bootstrap, the email migration) and before listening.
 */
@Injectable()
export class UniqueIndexes implements OnModuleInit {
  private readonly logger = new Logger(UniqueIndexes.name);

  constructor(@InjectConnection() private readonly connection: Connection) {}

  async onModuleInit(): Promise<void> {
    for (const model of Object.values(this.connection.models)) {
      for (const [fields, options] of model.schema.indexes()) {
        if (!options.unique) continue;
        // Mongoose adds `_autoIndex`, its own flag, to the options; the server must not see it.
        const { _autoIndex: _mongooseOnly, ...createOptions } = options as CreateIndexesOptions & {
          _autoIndex?: boolean;
        };
        try {
          await model.collection.createIndex(fields as IndexSpecification, createOptions);
        } catch (error) {
          const what = `unique index ${JSON.stringify(fields)} on ${model.collection.collectionName}`;
          const duplicates = isDuplicateKeyError(error);
          const advice = duplicates ? 'fix the documents that break it' : 'see the cause below';
          this.logger.error(`cannot build the ${what}; ${advice}, then start again`);
          // MongoDB's message quotes the duplicated value (`dup key: { email: "..." }`), a member's email in the log
          // of a failed start; the index names what to look for.
          const reason = duplicates ? 'documents share a value of it' : (error as Error).message;
          throw new Error(`cannot build the ${what}: ${reason}`, { cause: error });
        }
      }
    }
  }
}
