import { Logger } from '@nestjs/common';
import { mongo, type Connection } from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import { UniqueIndexes } from './unique-indexes.js';

/** A connection of one model whose unique index cannot be built for `error`. */
function connectionFailing(error: Error): Connection {
  const model = {
    schema: { indexes: () => [[{ email: 1 }, { unique: true }]] },
    collection: { collectionName: 'users', createIndex: () => Promise.reject(error) },
  };
  return { models: { User: model } } as unknown as Connection;
}

describe('UniqueIndexes', () => {
  it("names the index that existing documents break, and not their values, which MongoDB's message quotes", async () => {
    // MongoDB's words (FerretDB leaves the values out); the start-up failure is logged with this message.
    const duplicates = new mongo.MongoServerError({
      code: 11000,
      codeName: 'DuplicateKey',
      errmsg:
        'Index build failed: 4f3c: Collection vesta.users ( 8a1b ) :: caused by :: E11000 duplicate key error ' +
        'collection: vesta.users index: email_1 dup key: { email: "twice@example.com" }',
    });
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);

    const failure = new UniqueIndexes(connectionFailing(duplicates)).onModuleInit();

    await expect(failure).rejects.toThrow(/cannot build the unique index \{"email":1\} on users/);
    await expect(failure).rejects.not.toThrow(/twice@example\.com/);
  });

  it("keeps the driver's message of any other failure", async () => {
    const refused = new mongo.MongoServerError({ code: 13, codeName: 'Unauthorized', errmsg: 'not authorized' });
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    await expect(new UniqueIndexes(connectionFailing(refused)).onModuleInit()).rejects.toThrow(/: not authorized$/);
  });
});
