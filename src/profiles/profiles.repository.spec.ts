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
    answer = (op) => (op === 'findOneAndUpdate' ? { _id: id } : null);
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
});

function modeOf(readPreference: unknown): string | undefined {
  if (readPreference === undefined || readPreference === null) return undefined;
  return typeof readPreference === 'string' ? readPreference : (readPreference as { mode: string }).mode;
}
