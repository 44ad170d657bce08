import {
  ConflictException,
  ForbiddenException,
  Injectable,
  NotFoundException,
  PreconditionFailedException,
  type OnModuleInit,
} from '@nestjs/common';
import { Types } from 'mongoose';
import { canActFor, type AuthenticatedUser } from '../auth/authenticated-user.js';
import { Cacheable, CacheEvict, cacheKey, evict } from '../cache/cache.decorators.js';
import { TieredCache } from '../cache/tiered-cache.js';
import type { WriteCondition } from '../http/write-condition.js';
import { MediaService } from '../media/media.service.js';
import { cursorPage, decodeCursor } from './cursor.js';
import type { CreateProfileDto } from './dto/create-profile.dto.js';
import type { LocationDto } from './dto/location.dto.js';
import type { NearbyQuery } from './dto/nearby.query.js';
import type { AdvancedSearchQuery } from './dto/advanced-search.query.js';
import type { UpdateProfileDto } from './dto/update-profile.dto.js';
import { birthDateRange } from './age-range.js';
import { gridCellOf } from './geo.js';
import { listTagsLeftBy, listTagsMovedBy, nearbyPageTags, searchPageTags } from './list-page-tags.js';
import { nearestInArea } from './nearby-search.js';
import {
  cityKeyOf,
  currentCursor,
  nearbyArea,
  searchFilters,
  searchScope,
  type NearbyArea,
  type SearchFilters,
} from './list-queries.js';
import { currentAge, toProfileView, toPublicView, type ProfileView, type PublicField } from './profile.mapper.js';
import type { Location } from './profile.schema.js';
import type { ProfileViewerDto } from './dto/profile-response.dto.js';
import {
  CITIES_CACHE,
  CITIES_EVICTION,
  leftCity,
  LIST_CACHE,
  LIST_EVICTION,
  movedInPopular,
  wasPublic,
  POPULAR_CACHE,
  POPULAR_EVICTION,
  PROFILE_CACHE,
  PROFILE_EVICTION,
  RENDERED_LIST_EVICTIONS,
  SEARCH_MAX_GRACE_S,
  SEARCH_TTL_S,
} from './profile-caches.js';
import {
  ProfileExistsError,
  ProfilesRepository,
  type ProfileChanges,
  type ProfileRecord,
  type ProfileWrite,
} from './profiles.repository.js';
import { VIEWERS_KEPT, VIEWERS_SCANNED } from './views/profile-views.constants.js';
import { ProfileViewsService } from './views/profile-views.service.js';

export const POPULAR_LIMIT = 50;
const CITY_LIMIT = 200;

/** What the profile cache holds: the full (owner's) view plus what decides who may see it. */
export interface ProfileSnapshot {
  view: ProfileView;
  ownerId: string;
  visibility: 'public' | 'hidden';
}

@Injectable()
export class ProfilesService implements OnModuleInit {
  constructor(
    private readonly profiles: ProfilesRepository,
    private readonly views: ProfileViewsService,
    private readonly media: MediaService,
    private readonly cache: TieredCache,
  ) {}

  onModuleInit(): void {
    this.media.onRemove((mediaId) => this.detachPhoto(mediaId));
  }

  async create(user: AuthenticatedUser, dto: CreateProfileDto): Promise<ProfileView> {
    if (dto.photoIds) await this.media.assertAttachable(dto.photoIds, user.id);
    const id = new Types.ObjectId();
    let failed = false;
    try {
      const created = await this.profiles.create({
        _id: id,
        ...dto,
        bio: dto.bio ?? '',
        interests: dto.interests ?? [],
        photoIds: dto.photoIds ?? [],
        visibility: dto.visibility ?? 'public',
        userId: new Types.ObjectId(user.id),
        location: toLocation(dto.location),
      });
      return toProfileView(await this.withoutDeletedPhotos(created, dto.photoIds), { privileged: true });
    } catch (error) {
      if (error instanceof ProfileExistsError) {
        throw new ConflictException(`${error.message}: GET /v1/profiles/me reads it`);
      }
      failed = true;
      throw error;
    } finally {
      // Ids are guessable (an ObjectId counts up), so the new one may have been read before it existed: the `null`
      // cached then would hide the profile, from its owner too, for the whole TTL. Also when the insert failed: it may
      // have landed (a connection that died after the write), or land later, and the id is chosen here so it is known
      // either way.
      await evict(this.cache, PROFILE_EVICTION, [id], { afterFailure: failed });
    }
  }

  /**
   * The caller's own profile, found by account: a client that lost the id (a create answered 503 that landed, a new
   * device) has no other way to learn it.
   */
  async mine(user: AuthenticatedUser): Promise<ProfileView> {
    const own = await this.profiles.findByOwner(new Types.ObjectId(user.id));
    if (!own) throw new NotFoundException('Create your profile first');
    return toProfileView(own, { privileged: true });
  }

  /** Hidden profiles exist only for their owner and admins; everyone else gets a 404. Views by others are counted. */
  async get(
    id: Types.ObjectId,
    viewer: AuthenticatedUser | undefined,
    { countView }: { countView: boolean },
  ): Promise<ProfileView> {
    const snapshot = await this.snapshot(id.toHexString());
    const privileged = viewer !== undefined && snapshot !== null && canActFor(viewer, snapshot.ownerId);
    if (!snapshot || (snapshot.visibility === 'hidden' && !privileged))
      throw new NotFoundException('Profile not found');
    // Counted in memory: the read waits for no Redis round trip (see ProfileViewsService). An admin's read counts but
    // is not listed among the owner's viewers: moderation is not a visit.
    if (countView && viewer?.id !== snapshot.ownerId) this.views.record(id, privileged ? undefined : viewer?.id);
    return privileged ? { ...snapshot.view, age: currentAge(snapshot.view) } : toPublicView(snapshot.view);
  }

  /**
   * Premium: who looked at the caller's profile lately: signed-in viewers whose profile is public now and was when
   * they last looked (see Profile.publicSince). Filtered from the views kept (up to VIEWERS_SCANNED of them), so
   * viewers who do not qualify do not crowd out the ones who do.
   */
  async viewersOf(user: AuthenticatedUser, limit = 50): Promise<ProfileViewerDto[]> {
    const own = await this.profiles.findByOwner(new Types.ObjectId(user.id));
    if (!own) throw new NotFoundException('Create your profile first');
    const shown = new Map<string, ProfileViewerDto>();
    // Page by page until `limit` qualify: reading the first page alone, newer views by members without a public profile
    // hid the ones who qualify (until 2026-12-08). At most VIEWERS_SCANNED, so one request's reads stay bounded. Views
    // sent to Redis between two reads move everyone down: a viewer read at the end of one page comes again at the start
    // of the next, and is listed once, as first read (their latest view).
    for (let offset = 0; shown.size < limit && offset < VIEWERS_SCANNED; offset += VIEWERS_KEPT) {
      const recent = await this.views.recentViewers(own._id, offset);
      for (const viewer of await this.qualifyingViewers(recent)) {
        if (!shown.has(viewer.profile.id)) shown.set(viewer.profile.id, viewer);
      }
      if (recent.length < VIEWERS_KEPT) break;
    }
    return [...shown.values()].slice(0, limit);
  }

  /** Of `recent`, the viewers whose profile is public now and was when they looked. */
  private async qualifyingViewers(recent: { viewerId: string; viewedAt: Date }[]): Promise<ProfileViewerDto[]> {
    if (recent.length === 0) return [];
    const profiles = await this.profiles.findPublicByOwners(recent.map((v) => new Types.ObjectId(v.viewerId)));
    const byOwner = new Map(profiles.map((profile) => [String(profile.userId), profile]));
    return recent.flatMap(({ viewerId, viewedAt }) => {
      const profile = byOwner.get(viewerId);
      if (!profile || viewedAt < (profile.publicSince ?? profile.createdAt)) return [];
      return [{ viewedAt: viewedAt.toISOString(), profile: toProfileView(profile) }];
    });
  }

  /** The cached read behind GET /profiles/:id (evicted on every change to the profile). */
  @Cacheable(PROFILE_CACHE)
  snapshot(id: string): Promise<ProfileSnapshot | null> {
    return this.loadSnapshot(id);
  }

  async loadSnapshot(id: string): Promise<ProfileSnapshot | null> {
    // One indexed read per profile. Batching the loads of a page into one `$in` query made every cold read on
    // FerretDB a scan of the collection (the cold run of npm run bench fell from ~57 req/s to timeouts).
    const profile = await this.profiles.findById(new Types.ObjectId(id));
    return profile && snapshotOf(profile);
  }

  /**
   * List items from the profile cache, in the list's order. A profile deleted or hidden since the list was
   * cached is left out (both also evict lists, so this covers only the moment in between).
   */
  private async render(ids: readonly string[], fields?: readonly PublicField[]): Promise<ProfileView[]> {
    const snapshots = await Promise.all(ids.map((id) => this.snapshot(id)));
    return snapshots.flatMap((snapshot) =>
      snapshot?.visibility === 'public' ? [toPublicView(snapshot.view, fields)] : [],
    );
  }

  /** `condition`: the request's preconditions (write-condition.ts), checked in the write itself. */
  async update(
    id: Types.ObjectId,
    user: AuthenticatedUser,
    dto: UpdateProfileDto,
    condition?: WriteCondition,
  ): Promise<ProfileView> {
    if (condition === 'never') throw await this.refused(id, user, condition);
    if (dto.photoIds) await this.media.assertAttachable(dto.photoIds, await this.ownerOf(id, user));
    const { location, ...rest } = dto;
    const changes: ProfileChanges = { ...rest, ...(location && { location: toLocation(location) }) };
    const written = await this.write(id, user, changes, condition);
    return toProfileView(await this.withoutDeletedPhotos(written.after, dto.photoIds), { privileged: true });
  }

  /**
   * The write of update, apart so that what it drops from the caches can depend on what it changed. A refusal is an
   * HTTP error, after which nothing is dropped: nothing was written.
   */
  @CacheEvict(
    PROFILE_EVICTION,
    { ...LIST_EVICTION, tagsOf: listTagsMovedBy },
    { ...POPULAR_EVICTION, when: movedInPopular },
    { ...CITIES_EVICTION, when: leftCity },
    ...RENDERED_LIST_EVICTIONS,
  )
  private async write(
    id: Types.ObjectId,
    user: AuthenticatedUser,
    changes: ProfileChanges,
    condition: Exclude<WriteCondition, 'never'>,
  ): Promise<ProfileWrite> {
    const written = await this.profiles.updateOwned(id, ownerFilter(user), changes, condition?.unmodifiedBefore);
    if (!written) throw await this.refused(id, user, condition);
    return written;
  }

  /**
   * Deletes the profile and the photos it shows. They were uploaded to be shown on it: left behind, they went on being
   * served to anyone who kept their URLs, and counting in the owner's quota, with nothing in the API pointing at them.
   * The photos go first, so a delete that fails halfway leaves the profile, and deleting it again finishes the job (a
   * photo whose own delete failed after it was detached is finished by MediaCleanup); photos attached in between go
   * once the profile is deleted. Uploads the profile does not show are the account's and stay (DELETE /v1/media/:id
   * removes them). Its views, and who made them, go too.
   */
  async remove(id: Types.ObjectId, user: AuthenticatedUser, condition?: WriteCondition): Promise<void> {
    const profile = await this.profiles.findById(id);
    if (!profile || !canActFor(user, String(profile.userId))) throw refusal(profile);
    // Checked on this read, not in the delete: the photos go first, and a delete refused after them would leave the
    // profile without them. A change landing between the two is not noticed.
    if (condition === 'never' || (condition && profile.updatedAt >= condition.unmodifiedBefore)) {
      throw preconditionFailure();
    }
    const ownerId = String(profile.userId);
    const shown = photosOf(profile);
    await this.media.removeOwnedBy(shown, ownerId);
    const deleted = await this.deleteRecord(id, user);
    await this.media.removeOwnedBy(
      photosOf(deleted).filter((photo) => !shown.includes(photo)),
      ownerId,
    );
    await this.views.forget(id);
  }

  /** The deletion of remove, apart so that what it drops from the caches can depend on where the profile was. */
  @CacheEvict(
    PROFILE_EVICTION,
    { ...LIST_EVICTION, tagsOf: listTagsLeftBy },
    { ...POPULAR_EVICTION, when: wasPublic },
    { ...CITIES_EVICTION, when: wasPublic },
    ...RENDERED_LIST_EVICTIONS,
  )
  private async deleteRecord(id: Types.ObjectId, user: AuthenticatedUser): Promise<ProfileRecord> {
    const deleted = await this.profiles.deleteOwned(id, ownerFilter(user));
    if (!deleted) throw await this.refused(id, user);
    return deleted;
  }

  /** The public search, and with AdvancedSearchQuery's extra filters the premium one. */
  async search(query: AdvancedSearchQuery): Promise<{ items: ProfileView[]; nextCursor?: string }> {
    const filters = searchFilters(query);
    const { ids, nextCursor } = await this.searchPage(filters);
    // A page cached before the last page's cursor was left out holds null, one cached before cursors named their list
    // a v1 cursor (for SEARCH_TTL_S, or SEARCH_MAX_GRACE_S).
    const next = nextCursor ? { nextCursor: currentCursor(nextCursor, ids, filters) } : {};
    return { items: await this.render(ids, query.fields), ...next };
  }

  /** One page of matching ids (same cache for both searches, keyed by all filters). */
  @Cacheable({
    name: LIST_CACHE,
    key: (filters: SearchFilters) => cacheKey('search', filters),
    ttlS: SEARCH_TTL_S,
    maxGraceS: SEARCH_MAX_GRACE_S,
    tags: searchPageTags,
  })
  async searchPage(filters: SearchFilters): Promise<{ ids: string[]; nextCursor?: string }> {
    const { minAge, maxAge, ageDay, cursor, limit, ...matching } = filters;
    const scope = searchScope(filters);
    const rows = await this.profiles.searchIds({
      ...matching,
      ...birthDateRange(new Date(ageDay ?? Date.now()), minAge, maxAge),
      beforeId: cursor ? decodeCursor(cursor, scope) : undefined,
      // One extra row tells whether another page exists.
      limit: limit + 1,
    });
    const { page, nextCursor } = cursorPage(rows, limit, (id) => id, scope);
    return { ids: page.map((id) => id.toHexString()), nextCursor };
  }

  async popular(): Promise<ProfileView[]> {
    return this.render(await this.popularIds());
  }

  @Cacheable(POPULAR_CACHE)
  popularIds(): Promise<string[]> {
    return this.loadPopularIds();
  }

  async loadPopularIds(): Promise<string[]> {
    return (await this.profiles.mostViewedIds(POPULAR_LIMIT)).map((id) => id.toHexString());
  }

  /** Public profiles near a point, nearest first, each with its distance in whole kilometres. */
  async nearby(query: NearbyQuery): Promise<(ProfileView & { distanceKm: number })[]> {
    const nearest = await this.nearbyPage(nearbyArea(query));
    const views = await this.render(nearest.map((n) => n.id));
    const distances = new Map(nearest.map((n) => [n.id, n.distanceKm]));
    return views.map((view) => ({ ...view, distanceKm: distances.get(view.id)! }));
  }

  /**
   * Counted and read by 0.01° cell (nearby-search.ts), as FerretDB has no geo queries. The point is on searchOrigin's
   * grid, so the key has few distinct values near any one place.
   */
  @Cacheable({
    name: LIST_CACHE,
    key: (area: NearbyArea) => cacheKey('nearby', area),
    ttlS: SEARCH_TTL_S,
    maxGraceS: SEARCH_MAX_GRACE_S,
    tags: nearbyPageTags,
  })
  async nearbyPage(area: NearbyArea): Promise<{ id: string; distanceKm: number }[]> {
    const nearest = await nearestInArea(this.profiles, area);
    // Whole kilometres (at least 1): exact distances from chosen points would reveal where a member lives.
    return nearest.map(({ id, distance }) => ({ id, distanceKm: Math.max(1, Math.round(distance)) }));
  }

  /** Cities with their number of public profiles (counts may lag writes by the TTL). */
  @Cacheable(CITIES_CACHE)
  cities(): Promise<{ city: string; country: string; count: number }[]> {
    return this.loadCities();
  }

  loadCities(): Promise<{ city: string; country: string; count: number }[]> {
    return this.profiles.cityCounts(CITY_LIMIT);
  }

  /**
   * A deleted upload leaves the profiles that showed it: their own entries go, and the lists rendered from them.
   * (A delete is rare; evicting by hand is simpler than a decorator here.)
   */
  private async detachPhoto(mediaId: Types.ObjectId): Promise<void> {
    const profileIds = await this.profiles.photoHolders(mediaId.toHexString());
    if (profileIds.length === 0) return;
    let failed = false;
    try {
      await this.profiles.pullPhoto(mediaId.toHexString(), profileIds);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // Also when the pull fails: it may have landed (its reply lost), and the repeated delete then finds no profile
      // showing the photo, so nothing else would drop their entries: every instance showed the deleted photo, a 404,
      // for the TTL (until 2026-12-07). Side by side, as @CacheEvict runs its evictions: with Redis not answering each
      // waits out the L2 timeout, and one after another they add up over a profile's photos (a delete with six took
      // 5 s, against 3 s side by side).
      await Promise.all([
        this.cache.invalidate(
          PROFILE_EVICTION.name,
          profileIds.map((id) => id.toHexString()),
          [],
          { afterFailure: failed },
        ),
        ...RENDERED_LIST_EVICTIONS.map((rendered) => evict(this.cache, rendered, [], { afterFailure: failed })),
      ]);
    }
  }

  /**
   * The profile as written, less the photos it just attached that were deleted since the write checked them: a delete
   * that ran between that check and the write detached nothing, and its file is gone, so the profile would show a
   * photo that answers 404. Each such photo is detached here, as its delete would have done. (A delete still running
   * when the write lands detaches it itself, once more after removing the file: see MediaService.remove.)
   */
  private async withoutDeletedPhotos(profile: ProfileRecord, attached?: readonly string[]): Promise<ProfileRecord> {
    const gone = await this.media.missing(attached ?? []);
    if (gone.length === 0) return profile;
    for (const mediaId of gone) await this.detachPhoto(new Types.ObjectId(mediaId));
    return { ...profile, photoIds: profile.photoIds.filter((mediaId) => !gone.includes(mediaId)) };
  }

  /** Whose uploads may be attached to profile `id`: the caller's own, or for an admin the profile owner's. */
  private async ownerOf(id: Types.ObjectId, user: AuthenticatedUser): Promise<string> {
    if (user.role !== 'admin') return user.id;
    const profile = await this.profiles.findById(id);
    if (!profile) throw new NotFoundException('Profile not found');
    return String(profile.userId);
  }

  /**
   * Why a write to the profile did not apply: it is missing or not the user's, or else, for a write with a condition,
   * the condition failed (412 comes after 404 and 403: RFC 9110 §13.2.1).
   */
  private async refused(id: Types.ObjectId, user: AuthenticatedUser, condition?: WriteCondition): Promise<Error> {
    const profile = await this.profiles.findById(id);
    if (condition && profile && canActFor(user, String(profile.userId))) return preconditionFailure();
    return refusal(profile);
  }
}

function preconditionFailure(): Error {
  return new PreconditionFailedException(
    'The profile does not meet the request’s If-Match, If-None-Match or If-Unmodified-Since. Its ETags are weak, ' +
      'which If-Match never matches: to change it only if unchanged since a read, send If-Unmodified-Since with the ' +
      'updatedAt that read showed',
  );
}

/** Why a change to `profile` (null: none found) is refused: a hidden profile of someone else reads as missing. */
function refusal(profile: Pick<ProfileRecord, 'visibility'> | null): Error {
  return profile && profile.visibility === 'public'
    ? new ForbiddenException('Only the owner or an admin may change this profile')
    : new NotFoundException('Profile not found');
}

function ownerFilter(user: AuthenticatedUser): Types.ObjectId | undefined {
  return user.role === 'admin' ? undefined : new Types.ObjectId(user.id);
}

function toLocation(location: LocationDto): Location {
  const cell = gridCellOf(location);
  return { ...location, cityKey: cityKeyOf(location.city), cellRow: cell.row, cellCol: cell.col };
}

/**
 * A profile's photo ids. A lean read applies no schema defaults: a profile whose photoIds were removed or set to null
 * by hand has none (its delete answered 500).
 */
function photosOf(profile: ProfileRecord): string[] {
  return profile.photoIds ?? [];
}

function snapshotOf(profile: ProfileRecord): ProfileSnapshot {
  return {
    view: toProfileView(profile, { privileged: true }),
    ownerId: String(profile.userId),
    visibility: profile.visibility,
  };
}
