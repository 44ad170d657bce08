import * as mongo from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp } from '../support/test-app.js';
import { testConfig, workerMongoUri } from '../support/test-env.js';

// Each case gets a database of its own: these tests are about what an app finds when it starts.
describe('unique indexes at start-up', () => {
  let client: mongo.MongoClient;
  const databases: string[] = [];

  const freshDatabase = (label: string) => {
    const uri = workerMongoUri(`_uniq_${label}_${Date.now().toString(36)}`);
    databases.push(new URL(uri).pathname.slice(1));
    return uri;
  };
  const uniqueIndexKeys = async (dbName: string, collection: string) =>
    (await client.db(dbName).collection(collection).indexes())
      .filter((index) => index.unique)
      .map((index) => Object.keys(index.key).join(','));

  beforeAll(async () => {
    client = await mongo.MongoClient.connect(workerMongoUri());
  });

  afterAll(async () => {
    for (const name of databases) await client.db(name).dropDatabase();
    await client.close();
  });

  // On an idle machine mongoose's background build is often done by then too; the case below is the one that
  // tells waiting from not waiting. This one fails when a schema loses its `unique`.
  it("exist for users' email and for the owner of a profile and of a subscription once the app listens", async () => {
    const uri = freshDatabase('new');
    const running = await startApp(testConfig({ MONGODB_URI: uri }));
    try {
      const dbName = new URL(uri).pathname.slice(1);
      expect(await uniqueIndexKeys(dbName, 'users')).toEqual(['email']);
      expect(await uniqueIndexKeys(dbName, 'profiles')).toEqual(['userId']);
      expect(await uniqueIndexKeys(dbName, 'subscriptions')).toEqual(['userId']);
    } finally {
      await running.close();
    }
  });

  it('refuse to start, naming the index, when existing documents break one', async () => {
    const uri = freshDatabase('dup');
    const users = client.db(new URL(uri).pathname.slice(1)).collection('users');
    const duplicate = { email: 'twice@example.test', passwordHash: 'x', role: 'user' };
    await users.insertMany([{ ...duplicate }, { ...duplicate }]);

    await expect(startApp(testConfig({ MONGODB_URI: uri }))).rejects.toThrow(
      /cannot build the unique index \{"email":1\} on users/,
    );
  });
});
