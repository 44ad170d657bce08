import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import pMap from 'p-map';
import { Types, type Model, type QueryFilter } from 'mongoose';
import type { AppConfig, ReadPreference } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { backgroundReads } from '../database/background-reads.js';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { inWriteCommands } from '../database/write-commands.js';
import type { CellBox, GridCell } from './geo.js';
import { Profile, type Gender } from './profile.schema.js';
import { COUNTABLE_VIEWS, readStoredProfile, reportUncountable, withStoredIds } from './stored-profile.js';

export type ProfileRecord = Profile & { _id: Types.ObjectId };

/**
 * Profiles whose id is an ObjectId, as the API writes them, for the start migrations' scans: their writes filter by
 * `_id`, which mongoose casts to an ObjectId, so one profile an import stored with a text id threw a CastError and
 * stopped the migration for every profile after it; and for a photo's delete, which answered 500 when such a profile
 * held the photo. Such profiles are left out of the lists too (withStoredIds).
 */
const OBJECT_ID = { _id: { $type: 'objectId' } } as const;

/** A media id as the API writes it, and in capitals, as clients sent it to versions before 2026-11-24. */
const spellings = (mediaId: string): string[] => [...new Set([mediaId, mediaId.toUpperCase()])];

/** A profile as an update found it and as it was read back after. */
export interface ProfileWrite {
  before: ProfileRecord;
  after: ProfileRecord;
}

export class ProfileExistsError extends Error {
  constructor() {
    super('This account already has a profile');
  }
}

export interface ProfileSearch {
  cityKey?: string;
  country?: string;
  gender?: Gender;
  /** Inclusive birth-date bounds derived from the age range. */
  bornAfter?: Date;
  bornBefore?: Date;
  interests?: string[];
  /** Premium: all of these interests. */
  interestsAll?: string[];
  /** Premium: at least this many counted views. */
  minViews?: number;
  /** Return profiles with _id below this one (cursor). */
  beforeId?: Types.ObjectId;
  limit: number;
}

/** The nearby cell to store on a profile, unless it moved from `location` since it was read. */
export interface CellOfProfile {
  id: Types.ObjectId;
  location: { lat: number; lng: number };
  cell: GridCell;
}

/** A city of the counts: the same name in two countries is two cities. */
interface CityOf {
  cityKey: string;
  country: string;
}

export type ProfileChanges = Partial<
  Pick<
    Profile,
    | 'displayName'
    | 'bio'
    | 'birthDate'
    | 'gender'
    | 'interestedIn'
    | 'interests'
    | 'location'
    | 'photoIds'
    | 'visibility'
  >
>;

/** A batch of counted views: its id, and its place in the order batches are claimed in (ProfileViewsFlusher). */
export interface ViewBatch {
  id: string;
  seq: number;
}

/**
 * The only owner of the profiles collection; speaks in plain records, never documents.
 *
 * Reads go to the primary (the connection's default), except the list queries behind search, nearby, popular and the
 * city counts, which use MONGODB_READ_PREFERENCE: they are the costly reads, and a lagging answer is safe there.
 * Lists hold only ids and render each item from the profile cache, whose loads (findById) read the primary, so a
 * profile hidden or deleted since is left out; what a lagging list can miss is the latest change, until its TTL
 * (docs/decisions/0028-reads-from-the-primary-except-lists.md).
 */
@Injectable()
export class ProfilesRepository {
  private readonly listReads: ReadPreference;
  private readonly cityNameReads: number;

  constructor(
    @InjectModel(Profile.name) private readonly profiles: Model<Profile>,
    @InjectConfig() config: AppConfig,
  ) {
    this.listReads = config.mongo.listReadPreference;
    this.cityNameReads = backgroundReads(config.mongo);
  }

  async create(
    profile: Omit<Profile, 'views' | 'viewBatchId' | 'viewBatchSeq' | 'lastActiveAt' | 'createdAt' | 'updatedAt'> & {
      _id: Types.ObjectId;
    },
  ): Promise<ProfileRecord> {
    try {
      const created = await this.profiles.create({ ...profile, lastActiveAt: new Date() });
      return created.toObject();
    } catch (error) {
      if (isDuplicateKeyError(error)) throw new ProfileExistsError();
      throw error;
    }
  }

  async findById(id: Types.ObjectId): Promise<ProfileRecord | null> {
    return readStoredProfile(await this.profiles.findById(id).lean<ProfileRecord>());
  }

  /**
   * Applies changes only if `ownerId` owns the profile (or ownerId is undefined, for admins), in one
   * write, so there is no window between the ownership check and the update; with `unmodifiedBefore`, only if the
   * profile was last changed before it (a request's If-Unmodified-Since). Only a member's own change makes them
   * active (`lastActiveAt`, which everyone sees): a moderator's edit would show them "active now".
   */
  async updateOwned(
    id: Types.ObjectId,
    ownerId: Types.ObjectId | undefined,
    changes: ProfileChanges,
    unmodifiedBefore?: Date,
  ): Promise<ProfileWrite | null> {
    const filter: QueryFilter<Profile> = {
      _id: id,
      ...(ownerId && { userId: ownerId }),
      // Not `$lt`, which a document without updatedAt (written before timestamps) never matches: with no modification
      // date the condition is ignored (RFC 9110 §13.1.4), as DELETE does, rather than refusing every such write (412).
      ...(unmodifiedBefore && { updatedAt: { $not: { $gte: unmodifiedBefore } } }),
    };
    const now = new Date();
    // Before the change: should it fail, the views listed from then on start later, never earlier. Any visibility but
    // public was read as hidden (stored-profile.ts), none or an unknown one included. Without timestamps: an updatedAt
    // set here failed the change's own If-Unmodified-Since below (412), so no client sending it could unhide.
    if (changes.visibility === 'public') {
      await this.profiles.updateOne(
        { ...filter, visibility: { $ne: 'public' } },
        { $set: { publicSince: now } },
        { timestamps: false },
      );
    }
    // The document as this write found it, in the same operation, so that on MongoDB no other write comes between:
    // which cached lists the write can have moved the profile in depends on it (list-page-tags.ts). (FerretDB reads
    // and writes back without a lock, as decision 0033 describes.) It rejects findOneAndUpdate with a projection, so
    // one call cannot return both documents: the one after is read back.
    const before = readStoredProfile(
      await this.profiles
        .findOneAndUpdate(
          filter,
          { $set: { ...changes, ...(ownerId && { lastActiveAt: now }) } },
          { returnDocument: 'before' },
        )
        .lean<ProfileRecord>(),
    );
    if (!before) return null;
    const after = await this.findById(id);
    return after && { before, after };
  }

  /**
   * Profiles whose city key has a character outside printable ASCII, the only keys a change of cityKeyOf has moved, and
   * those with a city but no key (an import or a hand edit: every version wrote one). Without one, a profile was found
   * by no search for its city, and counted with every other such profile of its country as a second city of that name.
   */
  cityKeysToRecheck(): AsyncIterable<{ _id: Types.ObjectId; location: { city: unknown; cityKey?: unknown } }> {
    return this.profiles
      .find(
        {
          ...OBJECT_ID,
          $or: [
            { 'location.cityKey': { $regex: /[^ -~]/ } },
            { 'location.cityKey': { $not: { $type: 'string' } }, 'location.city': { $type: 'string' } },
          ],
        },
        { 'location.city': 1, 'location.cityKey': 1 },
      )
      .lean<{ _id: Types.ObjectId; location: { city: unknown; cityKey?: unknown } }>()
      .cursor();
  }

  /**
   * Rewrites a city key (`from`; undefined: a key that is no text, or none) unless the profile moved since it was read;
   * returns whether it did.
   */
  async replaceCityKey(id: Types.ObjectId, from: string | undefined, to: string): Promise<boolean> {
    const result = await this.profiles.updateOne(
      { _id: id, 'location.cityKey': from ?? { $not: { $type: 'string' } } },
      { $set: { 'location.cityKey': to } },
    );
    return result.modifiedCount === 1;
  }

  /**
   * Profiles whose birth date is stored as something else than a date (text or a number: an older import). The profile
   * shows the age it names (stored-profile.ts), but the age search compares dates, and BSON never ranges a string or a
   * number among them: no search by age found such a profile.
   */
  birthDatesToRecheck(): AsyncIterable<{ _id: Types.ObjectId; birthDate: unknown }> {
    return this.profiles
      .find({ ...OBJECT_ID, birthDate: { $exists: true, $not: { $type: 'date' } } }, { birthDate: 1 })
      .lean<{ _id: Types.ObjectId; birthDate: unknown }>()
      .cursor();
  }

  /**
   * Stores a birth date as the date `to` unless it changed since it was read (`from`); returns whether it did. On the
   * driver's collection: mongoose would cast `from` to a date, which the stored text or number never equals, and set
   * updatedAt, which the owner sees, for what is no edit.
   */
  async replaceBirthDate(id: Types.ObjectId, from: unknown, to: Date): Promise<boolean> {
    const result = await this.profiles.collection.updateOne({ _id: id, birthDate: from }, { $set: { birthDate: to } });
    return result.modifiedCount === 1;
  }

  /** Profiles stored before nearby search went by 0.01° cell (2026-12-04), or since by an instance of an older version. */
  withoutCell(): AsyncIterable<{ _id: Types.ObjectId; location?: { lat: unknown; lng: unknown } }> {
    return this.profiles
      .find({ ...OBJECT_ID, 'location.cellRow': { $exists: false } }, { 'location.lat': 1, 'location.lng': 1 })
      .lean<{ _id: Types.ObjectId; location?: { lat: unknown; lng: unknown } }>()
      .cursor();
  }

  /**
   * Stores the cells of locations, STATEMENTS_PER_WRITE per round trip (write-commands.ts), on the profiles that have
   * not moved since they were read and have no cell yet; returns how many it stored.
   */
  async setCells(entries: readonly CellOfProfile[]): Promise<number> {
    if (entries.length === 0) return 0;
    const operations = entries.map(({ id, location, cell }) => ({
      updateOne: {
        filter: {
          _id: id,
          'location.lat': location.lat,
          'location.lng': location.lng,
          'location.cellRow': { $exists: false },
        },
        update: { $set: { 'location.cellRow': cell.row, 'location.cellCol': cell.col } },
      },
    }));
    let stored = 0;
    for (const command of inWriteCommands(operations)) {
      stored += (await this.profiles.bulkWrite(command, { ordered: false, timestamps: false })).modifiedCount;
    }
    return stored;
  }

  /**
   * Profiles with an interest that is not plain ASCII or holds a doubled space: the only ones an older normalisation
   * (normaliseInterest) can have left behind.
   */
  interestsToRecheck(): AsyncIterable<{ _id: Types.ObjectId; interests: unknown }> {
    return this.profiles
      .find({ ...OBJECT_ID, interests: { $regex: /[^ -~]| {2}/ } }, { interests: 1 })
      .lean<{ _id: Types.ObjectId; interests: unknown }>()
      .cursor();
  }

  /** Rewrites a profile's interests unless they changed since they were read; returns whether it did. */
  async replaceInterests(id: Types.ObjectId, from: string[], to: string[]): Promise<boolean> {
    const result = await this.profiles.updateOne({ _id: id, interests: from }, { $set: { interests: to } });
    return result.modifiedCount === 1;
  }

  /**
   * Profiles holding a photo id with a capital letter: written before 2026-11-24, as their clients sent it, or restored
   * from a backup of then (the API writes lower-case hex).
   */
  photoIdsWithCapitals(): AsyncIterable<{ _id: Types.ObjectId; photoIds: unknown }> {
    return this.profiles
      .find({ ...OBJECT_ID, photoIds: { $regex: /[A-F]/ } }, { photoIds: 1 })
      .lean<{ _id: Types.ObjectId; photoIds: unknown }>()
      .cursor();
  }

  /** Rewrites a profile's photo ids unless they changed since they were read; returns whether it did. */
  async replacePhotoIds(id: Types.ObjectId, from: string[], to: string[]): Promise<boolean> {
    const result = await this.profiles.updateOne({ _id: id, photoIds: from }, { $set: { photoIds: to } });
    return result.modifiedCount === 1;
  }

  /**
   * The profiles showing a media id (hex, as the API writes it). Profiles written before 2026-11-24 may hold it in
   * capitals, as their clients sent it: until then a delete left that spelling behind, a photo answering 404. Both
   * spellings are matched exactly, so the index on photoIds serves the lookup (a case-insensitive regex would read the
   * whole index on every delete).
   */
  async photoHolders(mediaId: string): Promise<Types.ObjectId[]> {
    const holders = await this.profiles
      .find({ ...OBJECT_ID, photoIds: { $in: spellings(mediaId) } }, { _id: 1 })
      .lean<{ _id: Types.ObjectId }[]>();
    return holders.map((holder) => holder._id);
  }

  /**
   * Removes a media id, in both spellings, from the profiles `ids` (photoHolders): `$pullAll`, as FerretDB takes no
   * `$pull` condition.
   */
  async pullPhoto(mediaId: string, ids: readonly Types.ObjectId[]): Promise<void> {
    await this.profiles.updateMany({ _id: { $in: ids } }, { $pullAll: { photoIds: spellings(mediaId) } });
  }

  /** Deletes the profile; returns it as it was deleted (its photos then), or null when none matched. */
  async deleteOwned(id: Types.ObjectId, ownerId: Types.ObjectId | undefined): Promise<ProfileRecord | null> {
    const filter: QueryFilter<Profile> = ownerId ? { _id: id, userId: ownerId } : { _id: id };
    // Without a projection, which FerretDB refuses on findAndModify.
    return readStoredProfile(await this.profiles.findOneAndDelete(filter).lean<ProfileRecord>());
  }

  /** Ids of the matching public profiles, newest first (profiles themselves are read through the profile cache). */
  searchIds(query: ProfileSearch): Promise<Types.ObjectId[]> {
    const filter: QueryFilter<Profile> = { visibility: 'public' };
    if (query.cityKey) filter['location.cityKey'] = query.cityKey;
    if (query.country) filter['location.country'] = query.country;
    if (query.gender) filter.gender = query.gender;
    if (query.interests?.length) filter.interests = { $in: query.interests };
    if (query.interestsAll?.length) filter.$and = [{ interests: { $all: query.interestsAll } }];
    if (query.minViews !== undefined) filter.views = { $gte: query.minViews };
    if (query.bornAfter || query.bornBefore) {
      filter.birthDate = {
        ...(query.bornAfter && { $gte: query.bornAfter }),
        ...(query.bornBefore && { $lte: query.bornBefore }),
      };
    }
    if (query.beforeId) filter._id = { $lt: query.beforeId };
    return this.idsOf(filter, { _id: -1 }, query.limit);
  }

  /**
   * Ranked by counts the view flush can add to (a number, or none yet: COUNTABLE_VIEWS). A count stored as anything
   * else (a hand edit or an import: text, an object, true) sorts above every number in BSON order, so until 2026-12-07
   * one profile with `views: "3"` was the most viewed of all, shown with no count, and took a place of the 50.
   */
  mostViewedIds(limit: number): Promise<Types.ObjectId[]> {
    return this.idsOf({ visibility: 'public', $or: COUNTABLE_VIEWS }, { views: -1, _id: -1 }, limit);
  }

  private async idsOf(
    filter: QueryFilter<Profile>,
    sort: Record<string, 1 | -1>,
    limit: number,
  ): Promise<Types.ObjectId[]> {
    const rows = await this.profiles
      .find(filter, { _id: 1 })
      .sort(sort)
      .limit(limit)
      .read(this.listReads)
      .lean<{ _id: unknown }[]>();
    return withStoredIds(rows).map((row) => row._id);
  }

  /**
   * How many public profiles each non-empty cell of the box holds (nearby search: nearby-search.ts). Only those with an
   * ObjectId, as inCells reads: counted, a profile stored with a text id took a place of the page that the read then
   * left out (withStoredIds), and a page came back short, or empty, with members nearby.
   */
  async countByCell(box: CellBox): Promise<(GridCell & { count: number })[]> {
    // Each branch a range of its own on the index { visibility, cellRow, cellCol, _id }.
    const branches = box.cols.map(([west, east]) => ({
      visibility: 'public',
      'location.cellRow': { $gte: box.rows[0], $lte: box.rows[1] },
      'location.cellCol': { $gte: west, $lte: east },
      ...OBJECT_ID,
    }));
    const rows = await this.profiles
      .aggregate<{ _id: GridCell; count: number }>([
        { $match: branches.length === 1 ? branches[0] : { $or: branches } },
        { $group: { _id: { row: '$location.cellRow', col: '$location.cellCol' }, count: { $sum: 1 } } },
      ])
      .read(this.listReads);
    return rows.map(({ _id, count }) => ({ row: _id.row, col: _id.col, count }));
  }

  /**
   * Ids of public profiles in any of the cells, with their cell: the `limit` smallest ids. ObjectIds only: text ids
   * sort before them, and took the places of a page that withStoredIds then emptied.
   */
  async inCells(cells: readonly GridCell[], limit: number): Promise<{ id: string; cell: GridCell }[]> {
    const rows = await this.profiles
      .find(
        // Each branch in _id order on the index, so the server merges them instead of sorting.
        {
          $or: cells.map((cell) => ({
            visibility: 'public',
            'location.cellRow': cell.row,
            'location.cellCol': cell.col,
            ...OBJECT_ID,
          })),
        },
        { 'location.cellRow': 1, 'location.cellCol': 1 },
      )
      .sort({ _id: 1 })
      .limit(limit)
      .read(this.listReads)
      .lean<{ _id: unknown; location: { cellRow: number; cellCol: number } }[]>();
    return withStoredIds(rows).map(({ _id, location }) => ({
      id: _id.toHexString(),
      cell: { row: location.cellRow, col: location.cellCol },
    }));
  }

  async findByOwner(userId: Types.ObjectId): Promise<ProfileRecord | null> {
    return readStoredProfile(await this.profiles.findOne({ userId }).lean<ProfileRecord>());
  }

  async findPublicByOwners(userIds: Types.ObjectId[]): Promise<ProfileRecord[]> {
    const found = await this.profiles.find({ userId: { $in: userIds }, visibility: 'public' }).lean<ProfileRecord[]>();
    return found.map(readStoredProfile);
  }

  /**
   * Cities with their number of public profiles, most populated first. The counts (an aggregation over every public
   * profile) may come from a lagging secondary; each city's display name is read from the primary, and a city where
   * the primary has no public profile left is dropped: the last member of a small town who hides, moves or leaves
   * must leave the list at once (profile-caches.ts leftCity), not when the counts' cache expires.
   */
  async cityCounts(limit: number): Promise<{ city: string; country: string; count: number }[]> {
    const rows = await this.profiles
      .aggregate<{ _id: CityOf; count: number }>([
        { $match: { visibility: 'public' } },
        { $group: { _id: { cityKey: '$location.cityKey', country: '$location.country' }, count: { $sum: 1 } } },
        // A total order: one name in two countries is two cities, and ties left to the database came out in the order
        // it grouped them, which can differ from one reload to the next and decides which cities make the cut.
        { $sort: { count: -1, '_id.cityKey': 1, '_id.country': 1 } },
        { $limit: limit },
      ])
      .read(this.listReads);
    // $first is not on FerretDB 1.x; the display name is read back per city.
    const names = await pMap(rows, (row) => this.publicCityName(row._id), { concurrency: this.cityNameReads });
    return rows.flatMap((row, index) => {
      const city = names[index];
      return city === undefined ? [] : [{ city, country: row._id.country, count: row.count }];
    });
  }

  /**
   * Adds each batch entry's views to its profile unless that batch, or a later one, was already applied there: a flush
   * retried after a crash never counts twice, nor does the late write of a flush that outlived its lock while the batch
   * was finished and the next one applied. The id covers profiles written, before sequence numbers existed, by a batch
   * still in flight at the upgrade.
   */
  async applyViewBatch(batch: ViewBatch, counts: Map<string, number>): Promise<void> {
    const operations = [...counts].map(([id, count]) => ({
      updateOne: {
        filter: {
          _id: new Types.ObjectId(id),
          viewBatchId: { $ne: batch.id },
          viewBatchSeq: { $not: { $gte: batch.seq } },
          $or: COUNTABLE_VIEWS,
        },
        update: { $inc: { views: count }, $set: { viewBatchId: batch.id, viewBatchSeq: batch.seq } },
      },
    }));
    // Views are no edit: without `timestamps: false` mongoose would set updatedAt, which the owner sees. A command
    // that fails part way leaves the rest to the batch's retry, which skips the profiles that already have it.
    let matched = 0;
    for (const command of inWriteCommands(operations)) {
      matched += (await this.profiles.bulkWrite(command, { ordered: false, timestamps: false })).matchedCount;
    }
    // Some were not written: already had the batch, were deleted, or have a count that cannot be added to.
    if (matched < operations.length) {
      const ids = operations.map((operation) => operation.updateOne.filter._id);
      const uncountable = await this.profiles
        .find({ _id: { $in: ids }, $nor: COUNTABLE_VIEWS }, { views: 1 })
        .lean<{ _id: Types.ObjectId; views?: unknown }[]>();
      for (const profile of uncountable) reportUncountable(profile, batch.id);
    }
  }

  /** The city's name as a public profile there spells it, from the primary; undefined when none is left. */
  private async publicCityName({ cityKey, country }: CityOf): Promise<string | undefined> {
    const sample = await this.profiles
      .findOne(
        { 'location.cityKey': cityKey, 'location.country': country, visibility: 'public' },
        { 'location.city': 1 },
      )
      .lean<{ location?: { city: string } }>();
    // A profile without a location (removed by hand; no version wrote one) groups with null keys, which match it.
    return sample?.location?.city;
  }
}
