import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Types } from 'mongoose';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/decorators/current-user.decorator.js';
import { ApiOptionalBearerAuth } from '../auth/decorators/optional-bearer-auth.decorator.js';
import { Public } from '../auth/decorators/public.decorator.js';
import { CacheControl } from '../cache/http-cache.js';
import { ApiObjectIdParam, ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { preconditionFailed } from '../http/precondition-failed.js';
import { writeCondition } from '../http/write-condition.js';
import { ApiWritePreconditions } from '../http/write-condition.docs.js';
import { CreateProfileDto } from './dto/create-profile.dto.js';
import { NearbyQuery } from './dto/nearby.query.js';
import { NearbyProfileDto, ProfilePageDto, ProfileResponseDto, ProfileViewerDto } from './dto/profile-response.dto.js';
import { RequiresPlan } from '../subscriptions/requires-plan.decorator.js';
import { SearchThrottle } from '../throttling/search-throttle.decorator.js';
import { SearchProfilesQuery } from './dto/search-profiles.query.js';
import { AdvancedSearchQuery } from './dto/advanced-search.query.js';
import { UpdateProfileDto } from './dto/update-profile.dto.js';
import type { ProfileView } from './profile.mapper.js';
import { POPULAR_CACHE, SEARCH_TTL_S } from './profile-caches.js';
import { ProfilesService } from './profiles.service.js';

@ApiTags('profiles')
@ApiBadRequestResponse({ type: ProblemResponseDto, description: 'Invalid fields, query or id' })
@Controller('profiles')
export class ProfilesController {
  constructor(private readonly profiles: ProfilesService) {}

  @Post()
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Create your profile (one per account)' })
  @ApiCreatedResponse({
    type: ProfileResponseDto,
    headers: { Location: { description: "The profile's URL", schema: { type: 'string' } } },
  })
  @ApiConflictResponse({ type: ProblemResponseDto, description: 'This account already has a profile' })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'A photo that is not your upload' })
  @ApiUnprocessableEntityResponse({ type: ProblemResponseDto, description: 'A photo id that names no upload' })
  async create(
    @CurrentUser() user: AuthenticatedUser,
    @Body() body: CreateProfileDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProfileView> {
    const profile = await this.profiles.create(user, body);
    void reply.header('location', `/v1/profiles/${profile.id}`);
    return profile;
  }

  @Public()
  @Get()
  @SearchThrottle()
  @CacheControl('public', SEARCH_TTL_S)
  @ApiOperation({
    summary: 'Search public profiles by city, gender, age and interests, newest first, with cursor pages',
  })
  @ApiOkResponse({ type: ProfilePageDto })
  search(@Query() query: SearchProfilesQuery): Promise<ProfilePageDto> {
    return this.profiles.search(query);
  }

  @Public()
  @Get('popular')
  @CacheControl('public', POPULAR_CACHE.ttlS)
  @ApiOperation({ summary: 'The 50 most viewed public profiles' })
  @ApiOkResponse({ type: [ProfileResponseDto] })
  popular(): Promise<ProfileView[]> {
    return this.profiles.popular();
  }

  @Public()
  @Get('nearby')
  @SearchThrottle()
  @CacheControl('public', SEARCH_TTL_S)
  @ApiOperation({ summary: 'Public profiles within radiusKm (max 100) of a point (taken to 0.001°), nearest first' })
  @ApiOkResponse({ type: [NearbyProfileDto] })
  nearby(@Query() query: NearbyQuery): Promise<NearbyProfileDto[]> {
    return this.profiles.nearby(query);
  }

  @Get('advanced')
  @ApiBearerAuth()
  @RequiresPlan('premium')
  @SearchThrottle()
  @CacheControl('private')
  @ApiOperation({
    summary: 'Premium: search with all-of interests and a minimum of views, on top of the public filters',
  })
  @ApiOkResponse({ type: ProfilePageDto })
  advancedSearch(@Query() query: AdvancedSearchQuery): Promise<ProfilePageDto> {
    return this.profiles.search(query);
  }

  @Get('me')
  @ApiBearerAuth()
  @CacheControl('private')
  @ApiOperation({ summary: "Read your own profile (full view, hidden or not); 404 until you've created it" })
  @ApiOkResponse({ type: ProfileResponseDto })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'You have no profile yet' })
  mine(@CurrentUser() user: AuthenticatedUser): Promise<ProfileView> {
    return this.profiles.mine(user);
  }

  @Get('me/viewers')
  @ApiBearerAuth()
  @RequiresPlan('premium')
  @CacheControl('no-store')
  @ApiOperation({
    summary:
      'Premium: who viewed your profile in the last 30 days (signed-in members whose profile was public when they ' +
      'looked and is now; newest first, up to 50)',
  })
  @ApiOkResponse({ type: [ProfileViewerDto] })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'You have no profile yet' })
  viewers(@CurrentUser() user: AuthenticatedUser): Promise<ProfileViewerDto[]> {
    return this.profiles.viewersOf(user);
  }

  @Public()
  @Get(':id')
  @ApiOptionalBearerAuth()
  @CacheControl('private')
  @ApiObjectIdParam('Profile id (24 hexadecimal characters)')
  @ApiOperation({
    summary: 'Read a profile; hidden ones only by their owner or an admin (send the token). Counts a view.',
  })
  @ApiOkResponse({ type: ProfileResponseDto })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No such profile, or a hidden one you may not see' })
  get(
    @Param('id', ParseObjectIdPipe) id: Types.ObjectId,
    @Req() request: FastifyRequest,
    @CurrentUser() viewer?: AuthenticatedUser,
  ): Promise<ProfileView> {
    // Fastify answers HEAD with this handler too; a HEAD shows nobody the profile. Nor does a GET whose If-Match
    // fails: the reply's ETag is weak and it has no Last-Modified, so the onSend hook answers it 412 (not-modified.ts).
    // Counted, such a request added a view, and listed a signed-in sender among the owner's viewers, for nothing shown.
    const refused = preconditionFailed(request.headers, undefined, undefined);
    return this.profiles.get(id, viewer, { countView: request.method === 'GET' && !refused });
  }

  @Patch(':id')
  @ApiBearerAuth()
  @ApiObjectIdParam('Profile id (24 hexadecimal characters)')
  @ApiOperation({ summary: 'Change a profile (owner or admin)' })
  @ApiOkResponse({ type: ProfileResponseDto })
  @ApiForbiddenResponse({
    type: ProblemResponseDto,
    description: "Not your profile, or a photo that is not the profile owner's upload",
  })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No such profile, or a hidden one you may not see' })
  @ApiUnprocessableEntityResponse({ type: ProblemResponseDto, description: 'A photo id that names no upload' })
  @ApiWritePreconditions('profile')
  update(
    @Param('id', ParseObjectIdPipe) id: Types.ObjectId,
    @CurrentUser() user: AuthenticatedUser,
    @Body() body: UpdateProfileDto,
    @Req() request: FastifyRequest,
  ): Promise<ProfileView> {
    return this.profiles.update(id, user, body, writeCondition(request.headers));
  }

  @Delete(':id')
  @ApiBearerAuth()
  @ApiObjectIdParam('Profile id (24 hexadecimal characters)')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete a profile and the photos it shows, with their variants (owner or admin)',
    description: "The account's uploads that the profile does not show are kept (DELETE /v1/media/:id removes them).",
  })
  @ApiNoContentResponse()
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Not your profile' })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No such profile, or a hidden one you may not see' })
  @ApiWritePreconditions('profile')
  remove(
    @Param('id', ParseObjectIdPipe) id: Types.ObjectId,
    @CurrentUser() user: AuthenticatedUser,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    return this.profiles.remove(id, user, writeCondition(request.headers));
  }
}
