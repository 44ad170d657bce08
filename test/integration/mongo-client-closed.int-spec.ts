import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isClientClosed, isDatabaseUnavailable } from '../../src/database/mongo-errors.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';

/**
 * What operations fail with when the process closes its connection (a shutdown) on the real driver: the errors the
 * problem filter answers as "Shutting down" instead of logging them as bugs.
 */
describe('operations on a closed MongoDB connection', () => {
  let ferret: FerretDbProcess;
  let connection: mongoose.Connection;
  let items: mongoose.Model<{ n: number }>;

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
    // Without buffering, as the service connects (mongoose-options.ts).
    connection = await mongoose.createConnection(ferret.uri, { bufferCommands: false }).asPromise();
    items = connection.model('Item', new mongoose.Schema<{ n: number }>({ n: Number }));
    await items.create({ n: 1 });
  });

  afterAll(async () => {
    ferret?.thaw();
    await connection?.close();
    await ferret?.dispose();
  });

  it('fails the one in flight and the one after the close with errors that read as the shutdown', async () => {
    const failure = (operation: Promise<unknown>) =>
      operation.then(
        () => undefined,
        (error: unknown) => error,
      );
    await ferret.freeze();
    // Sent, and waiting for the frozen server's answer when the close comes.
    const inFlight = failure(items.findOne({ n: 1 }).lean());
    await new Promise((resolve) => setTimeout(resolve, 200));
    await connection.close();
    const afterClose = failure(items.findOne({ n: 1 }).lean());

    for (const error of await Promise.all([inFlight, afterClose])) {
      expect(error).toBeInstanceOf(Error);
      expect(isClientClosed(error), String(error)).toBe(true);
      expect(isDatabaseUnavailable(error)).toBe(false);
    }
  });
});
