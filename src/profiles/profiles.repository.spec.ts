import mongoose, { Types } from 'mongoose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { Profile, ProfileSchema } from './profile.schema.js';
import { ProfilesRepository } from './profiles.repository.js';

/** One query the repository ran: its operation, its read preference (undefined: the connection's, the primary). */
interface Sent {
  op: string;
  readPreference?: string;
}

/**
 * A real mongoose model on a connection that is never opened: exec() is replaced, so each query is recorded as
 * mongoose would send it and answered by `answer`. (The driver sends no read preference to a standalone server, so
 * FerretDB cannot show where a read went.)
 */
describe('ProfilesRepository read preferences', () => {
  const connection = mongoose.createConnection();
  const model = connection.model(Profile.name, ProfileSchema);
  let sent: Sent[];
  let answer: (op: string, filter: Record<string, unknown>) => unknown;

  beforeEach(() => {
    sent = [];
    answer = (op) => (op === 'find' ? [] : null);
    vi.spyOn(mongoose.Query.prototype, 'exec').mockImplementation(function (this: mongoose.Query<unknown, unknown>) {
      // Every query has its operation in `op` (find, findOne, updateOne…); mongoose's types leave it out.
      const { op } = this as unknown as { op: string };
      sent.push({ op, readPreference: modeOf(this.getOptions().readPreference) });
      return Promise.resolve(answer(op, this.getFilter()));
    });
    vi.spyOn(mongoose.Aggregate.prototype, 'exec').mockImplementation(function (this: mongoose.Aggregate<unknown>) {
      sent.push({ op: 'aggregate', readPreference: modeOf(this.options.readPreference) });
      return Promise.resolve(answer('aggregate', {}));
    });
  });

  afterEach(() => vi.restoreAllMocks());

  const repository = (mode: string) => new ProfilesRepository(model, loadConfig({ MONGODB_READ_PREFERENCE: mode }));

  it('sends the list queries behind search, popular and nearby (counts and reads) to MONGODB_READ_PREFERENCE', async () => {
    const profiles = repository('secondaryPreferred');
    await profiles.searchIds({ cityKey: 'berlin', limit: 21 });
    await profiles.mostViewedIds(50);
    answer = (op) => (op === 'find' || op === 'aggregate' ? [] : null);
    await profiles.countByCell({ rows: [5251, 5253], cols: [[1339, 1342]] });
    await profiles.inCells([{ row: 5252, col: 1340 }], 20);
    expect(sent).toEqual([
      { op: 'find', readPreference: 'secondaryPreferred' },
      { op: 'find', readPreference: 'secondaryPreferred' },
      { op: 'aggregate', readPreference: 'secondaryPreferred' },
      { op: 'find', readPreference: 'secondaryPreferred' },
    ]);
  });

  it('reads single profiles, an update read-back and an owner lookup from the primary, whatever it says', async () => {
    const profiles = repository('secondaryPreferred');
    const id = new Types.ObjectId();
    answer = (op) => (op === 'findOneAndUpdate' ? { _id: id } : op === 'find' ? [] : null);
    await profiles.findById(id);
    await profiles.updateOwned(id, undefined, { bio: 'changed' });
    await profiles.findByOwner(new Types.ObjectId());
    await profiles.findPublicByOwners([new Types.ObjectId()]);
    expect(sent).toEqual([
      { op: 'findOne', readPreference: undefined },
      { op: 'findOneAndUpdate', readPreference: undefined },
      { op: 'findOne', readPreference: undefined },
      { op: 'findOne', readPreference: undefined },
      { op: 'find', readPreference: undefined },
    ]);
  });

  it('counts cities on MONGODB_READ_PREFERENCE but names them from the primary, dropping a city left empty', async () => {
    const profiles = repository('secondary');
    answer = (op, filter) => {
      if (op === 'aggregate')
        return [
          { _id: { cityKey: 'berlin', country: 'DE' }, count: 2 },
          // Its only member hid a moment ago; the secondary that counted has not seen it yet, the primary has.
          { _id: { cityKey: 'kleinstadt', country: 'DE' }, count: 1 },
        ];
      return filter['location.cityKey'] === 'berlin' ? { location: { city: 'Berlin' } } : null;
    };

    await expect(profiles.cityCounts(200)).resolves.toEqual([{ city: 'Berlin', country: 'DE', count: 2 }]);
    expect(sent).toEqual([
      { op: 'aggregate', readPreference: 'secondary' },
      { op: 'findOne', readPreference: undefined },
      { op: 'findOne', readPreference: undefined },
    ]);
  });

  it('names the cities a few reads at a time, leaving most of the pool to requests', async () => {
    const config = loadConfig({});
    const profiles = new ProfilesRepository(model, config);
    const cities = Array.from({ length: 200 }, (_, i) => ({ _id: { cityKey: `city ${i}`, country: 'DE' }, count: 1 }));
    let running = 0;
    let most = 0;
    vi.spyOn(mongoose.Query.prototype, 'exec').mockImplementation(async function () {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      return { location: { city: 'Somewhere' } };
    });
    answer = () => cities;

    await expect(profiles.cityCounts(200)).resolves.toHaveLength(200);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(config.mongo.maxPoolSize / 4);
  });
});

/**
 * A list query that sorts needs an index giving its order after its equality fields (visibility…): MongoDB sorts by an
 * index only when it holds every sort key, tie-break included, and otherwise reads and sorts every match. FerretDB shows
 * no plans, so the shapes the repository sends are checked against the schema's indexes.
 */
describe('ProfilesRepository list queries and the schema indexes', () => {
  const connection = mongoose.createConnection();
  const model = connection.model(Profile.name, ProfileSchema);
  let sent: { filter: Record<string, unknown>; sort: Record<string, 1 | -1> }[];

  beforeEach(() => {
    sent = [];
    vi.spyOn(mongoose.Query.prototype, 'exec').mockImplementation(function (this: mongoose.Query<unknown, unknown>) {
      sent.push({ filter: this.getFilter(), sort: this.getOptions().sort as Record<string, 1 | -1> });
      return Promise.resolve([]);
    });
  });

  afterEach(() => vi.restoreAllMocks());

  const sortedByIndex = ({ filter, sort }: (typeof sent)[number]): boolean => {
    const order = Object.entries(sort);
    // An $or whose branches each bound the first sort key alone (popular: counted views, a number or none) is ranges of
    // that key on the same index, which keep its order.
    const { $or: branches, ...rest } = filter as { $or?: Record<string, unknown>[] };
    if (branches && !branches.every((branch) => Object.keys(branch).join() === order[0][0])) return false;
    const equalities = Object.keys(rest).sort().join();
    return ProfileSchema.indexes().some(([index]) => {
      const keys = Object.entries(index as Record<string, 1 | -1>);
      const head = keys.slice(0, keys.length - order.length);
      const tail = keys.slice(keys.length - order.length);
      return (
        tail.length === order.length &&
        head
          .map(([field]) => field)
          .sort()
          .join() === equalities &&
        tail.every(([field], i) => field === order[i][0]) &&
        (tail.every(([, way], i) => way === order[i][1]) || tail.every(([, way], i) => way === -order[i][1]))
      );
    });
  };

  it.each<[string, (profiles: ProfilesRepository) => Promise<unknown>]>([
    ['popular', (profiles) => profiles.mostViewedIds(50)],
    ['search without filters', (profiles) => profiles.searchIds({ limit: 21 })],
    ['search by city', (profiles) => profiles.searchIds({ cityKey: 'berlin', limit: 21 })],
    ['search by city and gender', (profiles) => profiles.searchIds({ cityKey: 'berlin', gender: 'woman', limit: 21 })],
    ['search by gender', (profiles) => profiles.searchIds({ gender: 'man', limit: 21 })],
  ])('%s is sorted by an index', async (_name, run) => {
    await run(new ProfilesRepository(model, loadConfig({})));
    expect(sent).toHaveLength(1);
    expect(sortedByIndex(sent[0]), JSON.stringify(sent[0])).toBe(true);
  });
});

function modeOf(readPreference: unknown): string | undefined {
  if (readPreference === undefined || readPreference === null) return undefined;
  return typeof readPreference === 'string' ? readPreference : (readPreference as { mode: string }).mode;
}
