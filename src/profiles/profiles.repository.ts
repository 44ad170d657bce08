import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Types, type Model, type QueryFilter } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { Profile, type Gender } from './profile.schema.js';

export type ProfileRecord = Profile & { _id: Types.ObjectId };

export class ProfileExistsError extends Error {
  constructor() {
    super('This account already has a profile');
  }
}

export interface ProfileSearch {
  cityKey?: string;
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

/** The only owner of the profiles collection; speaks in plain records, never documents. */
@Injectable()
export class ProfilesRepository {
  constructor(@InjectModel(Profile.name) private readonly profiles: Model<Profile>) {}

  async create(
    profile: Omit<Profile, 'views' | 'viewBatchId' | 'lastActiveAt' | 'createdAt' | 'updatedAt'>,
  ): Promise<ProfileRecord> {
    try {
      const created = await this.profiles.create({ ...profile, lastActiveAt: new Date() });
      return created.toObject();
    } catch (error) {
      if (isDuplicateKeyError(error)) throw new ProfileExistsError();
      throw error;
    }
  }

  findById(id: Types.ObjectId): Promise<ProfileRecord | null> {
    return this.profiles.findById(id).lean<ProfileRecord>();
  }

  /**
   * Applies changes only if `ownerId` owns the profile (or ownerId is undefined, for admins), in one
   * write, so there is no window between the ownership check and the update.
   */
  async updateOwned(
    id: Types.ObjectId,
    ownerId: Types.ObjectId | undefined,
    changes: ProfileChanges,
  ): Promise<ProfileRecord | null> {
    const filter: QueryFilter<Profile> = ownerId ? { _id: id, userId: ownerId } : { _id: id };
    const result = await this.profiles.updateOne(filter, { $set: { ...changes, lastActiveAt: new Date() } });
    // FerretDB rejects findOneAndUpdate with a projection; update then read works on both servers.
    return result.matchedCount === 1 ? this.findById(id) : null;
  }

  /** Removes a media id from every profile showing it; returns those profiles' ids. */
  async pullPhoto(mediaId: string): Promise<Types.ObjectId[]> {
    const holders = await this.profiles.find({ photoIds: mediaId }, { _id: 1 }).lean<{ _id: Types.ObjectId }[]>();
    if (holders.length === 0) return [];
    const ids = holders.map((holder) => holder._id);
    await this.profiles.updateMany({ _id: { $in: ids } }, { $pull: { photoIds: mediaId } });
    return ids;
  }

  async deleteOwned(id: Types.ObjectId, ownerId: Types.ObjectId | undefined): Promise<boolean> {
    const filter: QueryFilter<Profile> = ownerId ? { _id: id, userId: ownerId } : { _id: id };
    return (await this.profiles.deleteOne(filter)).deletedCount === 1;
  }

  /** Ids of the matching public profiles, newest first (profiles themselves are read through the profile cache). */
  searchIds(query: ProfileSearch): Promise<Types.ObjectId[]> {
    const filter: QueryFilter<Profile> = { visibility: 'public' };
    if (query.cityKey) filter['location.cityKey'] = query.cityKey;
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

  mostViewedIds(limit: number): Promise<Types.ObjectId[]> {
    return this.idsOf({ visibility: 'public' }, { views: -1, _id: -1 }, limit);
  }

  private async idsOf(
    filter: QueryFilter<Profile>,
    sort: Record<string, 1 | -1>,
    limit: number,
  ): Promise<Types.ObjectId[]> {
    const rows = await this.profiles.find(filter, { _id: 1 }).sort(sort).limit(limit).lean<{ _id: Types.ObjectId }[]>();
    return rows.map((row) => row._id);
  }

  /** Ids and coordinates of public profiles in any of the cells (candidates for a distance filter). */
  inCells(cells: string[]): Promise<Pick<ProfileRecord, '_id' | 'location'>[]> {
    return this.profiles
      .find({ 'location.geocells': { $in: cells }, visibility: 'public' }, { location: 1 })
      .lean<Pick<ProfileRecord, '_id' | 'location'>[]>();
  }

  findByOwner(userId: Types.ObjectId): Promise<ProfileRecord | null> {
    return this.profiles.findOne({ userId }).lean<ProfileRecord>();
  }

  findPublicByOwners(userIds: Types.ObjectId[]): Promise<ProfileRecord[]> {
    return this.profiles.find({ userId: { $in: userIds }, visibility: 'public' }).lean<ProfileRecord[]>();
  }

  /** Cities with their number of public profiles, most populated first. */
  async cityCounts(limit: number): Promise<{ city: string; country: string; count: number }[]> {
    const rows = await this.profiles.aggregate<{
      _id: { cityKey: string; country: string };
      city: string;
      count: number;
    }>([
      { $match: { visibility: 'public' } },
      { $group: { _id: { cityKey: '$location.cityKey', country: '$location.country' }, count: { $sum: 1 } } },
      { $sort: { count: -1, '_id.cityKey': 1 } },
      { $limit: limit },
    ]);
    // $first is not on FerretDB 1.x; the display name is read back per city key.
    const names = await this.cityNames(rows.map((row) => row._id.cityKey));
    return rows.map((row) => ({
      city: names.get(row._id.cityKey) ?? row._id.cityKey,
      country: row._id.country,
      count: row.count,
    }));
  }

  /**
   * Adds each batch entry's views to its profile unless that batch was already applied there, so a
   * flush retried after a crash never counts twice.
   */
  async applyViewBatch(batchId: string, counts: Map<string, number>): Promise<void> {
    const operations = [...counts].map(([id, count]) => ({
      updateOne: {
        filter: { _id: new Types.ObjectId(id), viewBatchId: { $ne: batchId } },
        update: { $inc: { views: count }, $set: { viewBatchId: batchId } },
      },
    }));
    if (operations.length) await this.profiles.bulkWrite(operations, { ordered: false });
  }

  private async cityNames(cityKeys: string[]): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    await Promise.all(
      cityKeys.map(async (cityKey) => {
        const sample = await this.profiles
          .findOne({ 'location.cityKey': cityKey, visibility: 'public' }, { 'location.city': 1 })
          .lean<{ location: { city: string } }>();
        if (sample) names.set(cityKey, sample.location.city);
      }),
    );
    return names;
  }
}
