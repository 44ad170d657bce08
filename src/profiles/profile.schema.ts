import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const GENDERS = ['woman', 'man', 'nonbinary'] as const;
export type Gender = (typeof GENDERS)[number];
export const VISIBILITIES = ['public', 'hidden'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

@Schema({ _id: false })
export class Location {
  @Prop({ required: true })
  city: string;

  /** Lower-cased, trimmed city for exact-match filters (no collation on FerretDB). */
  @Prop({ required: true })
  cityKey: string;

  /** ISO 3166-1 alpha-2, upper case. */
  @Prop({ required: true })
  country: string;

  @Prop({ required: true })
  lat: number;

  @Prop({ required: true })
  lng: number;

  /** Row and column of the 0.01° cell of lat/lng (geo.ts gridCellOf): nearby search counts and reads by cell. */
  @Prop({ required: true })
  cellRow: number;

  @Prop({ required: true })
  cellCol: number;
}

@Schema({ collection: 'profiles', timestamps: true })
export class Profile {
  @Prop({ type: Types.ObjectId, required: true, unique: true })
  userId: Types.ObjectId;

  @Prop({ required: true })
  displayName: string;

  @Prop({ default: '' })
  bio: string;

  @Prop({ required: true })
  birthDate: Date;

  @Prop({ type: String, required: true, enum: GENDERS })
  gender: Gender;

  @Prop({ type: [String], enum: GENDERS, default: [] })
  interestedIn: Gender[];

  /** Lower-case tags. */
  @Prop({ type: [String], default: [] })
  interests: string[];

  @Prop({ type: Location, required: true })
  location: Location;

  @Prop({ type: [String], default: [] })
  photoIds: string[];

  @Prop({ type: String, required: true, enum: VISIBILITIES, default: 'public' })
  visibility: Visibility;

  /**
   * When a hidden profile was last made public. "Who viewed me" lists its owner's views from then on only (from
   * createdAt when absent: created public, or unhidden before 2026-12-04), so browsing done while hidden, or before
   * having a profile, is never disclosed by going public later.
   */
  @Prop()
  publicSince?: Date;

  /** Flushed from Redis in batches by the profile-views job; never written by a request. */
  @Prop({ default: 0 })
  views: number;

  /** Id of the last view batch applied, which makes re-applying a batch after a crash a no-op. */
  @Prop()
  viewBatchId?: string;

  /**
   * Sequence number of the last view batch applied: a batch is applied only to profiles that have not had it or a
   * later one, so the late write of a flush that outlived its lock adds nothing (see ProfilesRepository).
   */
  @Prop()
  viewBatchSeq?: number;

  @Prop({ default: () => new Date() })
  lastActiveAt: Date;

  createdAt: Date;
  updatedAt: Date;
}

export const ProfileSchema = SchemaFactory.createForClass(Profile);

// One index per query shape (see ProfilesRepository). Search pages sort by _id descending.
ProfileSchema.index({ visibility: 1, _id: -1 });
ProfileSchema.index({ visibility: 1, 'location.cityKey': 1, _id: -1 });
ProfileSchema.index({ visibility: 1, 'location.cityKey': 1, gender: 1, _id: -1 });
ProfileSchema.index({ visibility: 1, 'location.country': 1, _id: -1 });
ProfileSchema.index({ visibility: 1, gender: 1, _id: -1 });
ProfileSchema.index({ visibility: 1, interests: 1, _id: -1 });
ProfileSchema.index({ visibility: 1, birthDate: 1 });
// Popular sorts by views with _id as tie-break: an index without _id cannot give that order, so each reload read and
// sorted every public profile. Its prefix serves a minimum of views as before.
ProfileSchema.index({ visibility: 1, views: -1, _id: -1 });
// Nearby search: counts per cell in a box of rows and columns, then the smallest ids of chosen cells.
ProfileSchema.index({ visibility: 1, 'location.cellRow': 1, 'location.cellCol': 1, _id: 1 });
// The profiles showing a photo, looked up twice by every media delete (ProfilesRepository.photoHolders).
ProfileSchema.index({ photoIds: 1 });
