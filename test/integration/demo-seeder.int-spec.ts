import { Test } from '@nestjs/testing';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Profile } from '../../src/profiles/profile.schema.js';
import { DemoSeeder } from '../../src/seed/demo-seeder.js';
import { SeedModule } from '../../src/seed/seed.module.js';
import { testConfig, workerMongoUri } from '../support/test-env.js';
import type { TestingModule } from '@nestjs/testing';

describe('demo seeder (real FerretDB)', () => {
  let moduleRef: TestingModule;
  let profiles: Model<Profile>;

  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [SeedModule.forRoot(testConfig({ MONGODB_URI: workerMongoUri(`_seed_${Date.now()}`) }))],
    }).compile();
    await moduleRef.init();
    profiles = moduleRef.get(getModelToken(Profile.name));
    await profiles.db.dropDatabase();
  });

  afterAll(async () => {
    await profiles.db.dropDatabase();
    await moduleRef.close();
  });

  it('creates realistic profiles across many cities with skewed views, once', async () => {
    const seeder = moduleRef.get(DemoSeeder);
    expect(await seeder.seed(3_000)).toEqual({ created: 3_000, skipped: false });
    expect(await profiles.countDocuments()).toBe(3_000);

    const cities = await profiles.distinct('location.cityKey');
    expect(cities.length).toBeGreaterThan(30);

    const views = (await profiles.find({}, { views: 1 }).sort({ views: -1 }).lean()).map((p) => p.views);
    const top1Percent = views.slice(0, 30).reduce((a, b) => a + b, 0);
    const total = views.reduce((a, b) => a + b, 0);
    // A power law: the top 1 % of profiles hold far more than 1 % of the views.
    expect(top1Percent / total).toBeGreaterThan(0.2);

    // Like every profile and account the API creates: clients see createdAt on demo members too.
    const missing = { $or: [{ createdAt: { $exists: false } }, { updatedAt: { $exists: false } }] };
    expect(await profiles.countDocuments(missing)).toBe(0);
    expect(await profiles.db.collection('users').countDocuments(missing)).toBe(0);

    expect(await seeder.seed(3_000)).toEqual({ created: 0, skipped: true });
    expect(await profiles.countDocuments()).toBe(3_000);
  });

  it('completes a seed cut short with the data a whole run writes, duplicating nothing', async () => {
    await profiles.db.dropDatabase();
    const seeder = moduleRef.get(DemoSeeder);
    const users = profiles.db.collection('users');
    await seeder.seed(4_000);
    const whole = await contents();
    // What Ctrl-C during `./scripts/dev.sh`'s first seed can leave: the first batch whole, the second one's accounts
    // partly written and its profiles partly (and two accounts of the first batch without theirs, for good measure).
    const cut = await users.find({ email: { $regex: '^demo-(3[5-9]\\d\\d|10|11)@' } }).toArray();
    await profiles.deleteMany({ userId: { $in: cut.map((user) => user._id) } });
    await users.deleteMany({ email: { $regex: '^demo-3[7-9]\\d\\d@' } });
    expect(await profiles.countDocuments()).toBe(3_498);

    expect(await seeder.seed(4_000)).toEqual({ created: 502, skipped: false });
    expect(await users.countDocuments()).toBe(4_000);
    expect(await contents()).toEqual(whole);
    expect(await seeder.seed(4_000)).toEqual({ created: 0, skipped: true });
  });

  /**
   * Every profile's generated fields (lastActiveAt is drawn back from the time of writing), sorted: what a resumed run
   * must write as the first run would have.
   */
  const contents = async () =>
    (await profiles.find({}, { _id: 0, userId: 0, createdAt: 0, updatedAt: 0, lastActiveAt: 0, __v: 0 }).lean())
      .map((profile) => JSON.stringify(profile))
      .sort();
});
