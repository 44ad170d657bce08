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
});
