import mongoose, { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import { gridCellOf } from '../../src/profiles/geo.js';
import { Profile, ProfileSchema } from '../../src/profiles/profile.schema.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';

const PROFILES = 150;

/**
 * The repository's many-profile writes (a view flush, the cells of a migration) on a FerretDB of their own: on one
 * write command of 100 matching updates FerretDB 1.x waits for ever for a SQLite connection the command itself holds,
 * and the database answers nothing more (write-commands.ts). Each case gets a database of its own, so that one hang
 * does not fail the next case.
 */
describe('profile writes that touch many profiles (real FerretDB)', () => {
  let ferret: FerretDbProcess;
  const connections: mongoose.Connection[] = [];

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
  });

  afterAll(async () => {
    await Promise.all(connections.map((connection) => connection.close(true)));
    await ferret?.dispose();
  });

  /** A repository on a new database holding PROFILES profiles without a cell; a hung command fails after 5 s. */
  async function repositoryWithProfiles(name: string) {
    const connection = await mongoose
      .createConnection(ferret.uri.replace(/\/[^/]*$/, `/${name}`), { bufferCommands: false, socketTimeoutMS: 5_000 })
      .asPromise();
    connections.push(connection);
    const model = connection.model(Profile.name, ProfileSchema);
    const profiles = Array.from({ length: PROFILES }, (_, i) => ({
      _id: new Types.ObjectId(),
      userId: new Types.ObjectId(),
      displayName: `Profile ${i}`,
      birthDate: new Date('1990-01-01'),
      gender: 'woman',
      location: { city: 'Berlin', cityKey: 'berlin', country: 'DE', lat: 52.5 + i / 1_000, lng: 13.4 },
      visibility: 'public',
      views: 0,
    }));
    await model.collection.insertMany(profiles);
    return { model, profiles, repository: new ProfilesRepository(model, loadConfig({})) };
  }

  it('adds a view batch of 150 profiles to each of them, and the database answers afterwards', async () => {
    const { model, profiles, repository } = await repositoryWithProfiles('vesta_view_batch');

    await repository.applyViewBatch(
      { id: 'batch-1', seq: 1 },
      new Map(profiles.map(({ _id }) => [_id.toHexString(), 2])),
    );

    const views = await model.find({}, { views: 1 }).lean<{ views: number }[]>();
    expect(views).toHaveLength(PROFILES);
    expect(views.every((profile) => profile.views === 2)).toBe(true);
  });

  it('stores the nearby cells of 150 profiles, and the database answers afterwards', async () => {
    const { model, profiles, repository } = await repositoryWithProfiles('vesta_cells');

    const stored = await repository.setCells(
      profiles.map(({ _id, location }) => ({ id: _id, location, cell: gridCellOf(location) })),
    );

    expect(stored).toBe(PROFILES);
    expect(await model.countDocuments({ 'location.cellRow': { $exists: true } })).toBe(PROFILES);
  });
});
