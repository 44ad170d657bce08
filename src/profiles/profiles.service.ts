import { ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { Types } from 'mongoose';
import { canActFor, type AuthenticatedUser } from '../auth/authenticated-user.js';
import { encodeCursor, decodeCursor } from './cursor.js';
import type { CreateProfileDto } from './dto/create-profile.dto.js';
import type { LocationDto } from './dto/location.dto.js';
import type { NearbyQuery } from './dto/nearby.query.js';
import type { SearchProfilesQuery } from './dto/search-profiles.query.js';
import type { UpdateProfileDto } from './dto/update-profile.dto.js';
import { distanceKm, geocellsOf, searchCells } from './geo.js';
import { projectionFor, toProfileView, type ProfileView } from './profile.mapper.js';
import type { Location } from './profile.schema.js';
import {
  ProfileExistsError,
  ProfilesRepository,
  type ProfileChanges,
  type ProfileRecord,
} from './profiles.repository.js';
import { ProfileViewsService } from './views/profile-views.service.js';

export const POPULAR_LIMIT = 50;
const DEFAULT_PAGE = 20;
const DEFAULT_RADIUS_KM = 10;

@Injectable()
export class ProfilesService {
  constructor(
    private readonly profiles: ProfilesRepository,
    private readonly views: ProfileViewsService,
  ) {}

  async create(user: AuthenticatedUser, dto: CreateProfileDto): Promise<ProfileView> {
    try {
      const created = await this.profiles.create({
        ...dto,
        bio: dto.bio ?? '',
        interests: dto.interests ?? [],
        photoIds: dto.photoIds ?? [],
        visibility: dto.visibility ?? 'public',
        userId: new Types.ObjectId(user.id),
        location: toLocation(dto.location),
      });
      return toProfileView(created, { privileged: true });
    } catch (error) {
      if (error instanceof ProfileExistsError) throw new ConflictException(error.message);
      throw error;
    }
  }

  /** Hidden profiles exist only for their owner and admins; everyone else gets a 404. Views by others are counted. */
  async get(id: Types.ObjectId, viewer: AuthenticatedUser | undefined): Promise<ProfileView> {
    const profile = await this.profiles.findById(id);
    const privileged = viewer !== undefined && profile !== null && canActFor(viewer, String(profile.userId));
    if (!profile || (profile.visibility === 'hidden' && !privileged)) throw new NotFoundException('Profile not found');
    if (viewer?.id !== String(profile.userId)) await this.views.record(profile._id);
    return toProfileView(profile, { privileged });
  }

  async update(id: Types.ObjectId, user: AuthenticatedUser, dto: UpdateProfileDto): Promise<ProfileView> {
    const { location, ...rest } = dto;
    const changes: ProfileChanges = { ...rest, ...(location && { location: toLocation(location) }) };
    const updated = await this.profiles.updateOwned(id, ownerFilter(user), changes);
    if (!updated) throw await this.missingOrForbidden(id);
    return toProfileView(updated, { privileged: true });
  }

  async remove(id: Types.ObjectId, user: AuthenticatedUser): Promise<void> {
    if (!(await this.profiles.deleteOwned(id, ownerFilter(user)))) throw await this.missingOrForbidden(id);
  }

  async search(query: SearchProfilesQuery): Promise<{ items: ProfileView[]; nextCursor: string | null }> {
    const limit = query.limit ?? DEFAULT_PAGE;
    const today = new Date();
    const rows = await this.profiles.search({
      cityKey: query.city ? cityKeyOf(query.city) : undefined,
      gender: query.gender,
      interests: query.interests,
      // Age a..b means born after (today - b - 1 years) and on or before (today - a years).
      bornBefore: query.minAge !== undefined ? shiftYears(today, -query.minAge) : undefined,
      bornAfter: query.maxAge !== undefined ? shiftYears(today, -query.maxAge - 1, 1) : undefined,
      beforeId: query.cursor ? decodeCursor(query.cursor) : undefined,
      // One extra row tells whether another page exists.
      limit: limit + 1,
      projection: projectionFor(query.fields),
    });
    const page = rows.slice(0, limit);
    return {
      items: page.map((row) => toProfileView(row, { privileged: false, fields: query.fields })),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]._id) : null,
    };
  }

  async popular(): Promise<ProfileView[]> {
    return (await this.profiles.mostViewed(POPULAR_LIMIT)).map((row) => toProfileView(row));
  }

  /**
   * Candidates come from the 9 geohash cells around the point (index lookups on both servers, as
   * FerretDB has no geo queries); exact distances are computed here, filtered and sorted.
   */
  async nearby(query: NearbyQuery): Promise<(ProfileView & { distanceKm: number })[]> {
    const radiusKm = query.radiusKm ?? DEFAULT_RADIUS_KM;
    const origin = { lat: query.lat, lng: query.lng };
    const candidates = await this.profiles.inCells(searchCells(query.lat, query.lng, radiusKm));
    const nearest = candidates
      .map((candidate) => ({ id: candidate._id, distance: distanceKm(origin, candidate.location) }))
      .filter((candidate) => candidate.distance <= radiusKm)
      .sort((a, b) => a.distance - b.distance || a.id.toHexString().localeCompare(b.id.toHexString()))
      .slice(0, query.limit ?? DEFAULT_PAGE);
    const byId = new Map(
      (await this.profiles.findByIds(nearest.map((n) => n.id))).map((p) => [p._id.toHexString(), p]),
    );
    return nearest.flatMap(({ id, distance }) => {
      const profile = byId.get(id.toHexString());
      return profile ? [{ ...toProfileView(profile), distanceKm: Math.round(distance * 10) / 10 }] : [];
    });
  }

  private async missingOrForbidden(id: Types.ObjectId): Promise<Error> {
    const profile = await this.profiles.findById(id);
    // A hidden profile of someone else is indistinguishable from a missing one.
    return profile && profile.visibility === 'public'
      ? new ForbiddenException('Only the owner or an admin may change this profile')
      : new NotFoundException('Profile not found');
  }
}

function ownerFilter(user: AuthenticatedUser): Types.ObjectId | undefined {
  return user.role === 'admin' ? undefined : new Types.ObjectId(user.id);
}

export function cityKeyOf(city: string): string {
  return city.trim().replace(/\s+/g, ' ').toLowerCase();
}

function toLocation(location: LocationDto): Location {
  return { ...location, cityKey: cityKeyOf(location.city), geocells: geocellsOf(location.lat, location.lng) };
}

function shiftYears(date: Date, years: number, days = 0): Date {
  const shifted = new Date(date);
  shifted.setUTCFullYear(shifted.getUTCFullYear() + years);
  shifted.setUTCDate(shifted.getUTCDate() + days);
  return shifted;
}

export type { ProfileRecord };
