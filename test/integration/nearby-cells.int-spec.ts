import mongoose, { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import { cellDistanceKm, gridCellOf } from '../../src/profiles/geo.js';
import { nearestInArea } from '../../src/profiles/nearby-search.js';
import { Profile, ProfileSchema } from '../../src/profiles/profile.schema.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { workerMongoUri } from '../support/test-env.js';

interface Placed {
  id: string;
  lat: number;
  lng: number;
  visibility: 'public' | 'hidden';
}

/** The counts and reads of nearby search as the database answers them, checked against measuring every profile. */
describe('nearby search by cell (real FerretDB)', () => {
  let connection: mongoose.Connection;
  let repository: ProfilesRepository;
  const placed: Placed[] = [];

  /** `count` profiles up to `spreadDeg` around a point, a tenth of them hidden, a third crowded into one cell. */
  const place = (count: number, around: { lat: number; lng: number }, spreadDeg: number) => {
    for (let i = 0; i < count; i += 1) {
      const spread = i % 3 === 0 ? 0.005 : spreadDeg;
      placed.push({
        id: new Types.ObjectId().toHexString(),
        lat: around.lat + (Math.random() - 0.5) * spread,
        lng: ((around.lng + (Math.random() - 0.5) * spread + 540) % 360) - 180,
        visibility: i % 10 === 0 ? 'hidden' : 'public',
      });
    }
  };

  beforeAll(async () => {
    connection = await mongoose.createConnection(workerMongoUri(`_nearby_${Date.now()}`)).asPromise();
    const model = connection.model(Profile.name, ProfileSchema);
    repository = new ProfilesRepository(model, loadConfig({}));
    place(150, { lat: 52.52, lng: 13.405 }, 0.6);
    place(150, { lat: -16.8, lng: 179.99 }, 1.2);
    await model.insertMany(
      placed.map(({ id, lat, lng, visibility }) => {
        const cell = gridCellOf({ lat, lng });
        return {
          _id: new Types.ObjectId(id),
          userId: new Types.ObjectId(),
          displayName: 'Nearby',
          birthDate: new Date('1990-01-01'),
          gender: 'woman',
          location: {
            city: 'Somewhere',
            cityKey: 'somewhere',
            country: 'FJ',
            lat,
            lng,
            cellRow: cell.row,
            cellCol: cell.col,
          },
          visibility,
        };
      }),
    );
  });

  afterAll(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it.each([
    ['Berlin', { lat: 52.52, lng: 13.405 }],
    ['either side of the 180th meridian', { lat: -16.8, lng: 179.99 }],
  ])('returns the public profiles nearest to a point in %s, as measuring each one does', async (_place, origin) => {
    for (const radiusKm of [1, 10, 100])
      for (const limit of [3, 20, 100]) {
        const expected = placed
          .filter((profile) => profile.visibility === 'public')
          .map((profile) => ({ id: profile.id, distance: cellDistanceKm(origin, gridCellOf(profile)) }))
          .filter((profile) => profile.distance <= radiusKm)
          .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1))
          .slice(0, limit);
        const label = JSON.stringify({ radiusKm, limit });
        expect(await nearestInArea(repository, { ...origin, radiusKm, limit }), label).toEqual(expected);
      }
  });
});
