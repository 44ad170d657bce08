import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/decorators/public.decorator.js';
import { CityCountDto } from './dto/profile-response.dto.js';
import { CacheControl } from '../cache/http-cache.js';
import { CITIES_CACHE } from './profile-caches.js';
import { ProfilesService } from './profiles.service.js';

@ApiTags('locations')
@Controller('locations')
export class LocationsController {
  constructor(private readonly profiles: ProfilesService) {}

  @Public()
  @Get('cities')
  // Capped at the server-side TTL like member lists: a city drops a member who hides or leaves at once on the server
  // (a one-member town names them), and browsers and CDNs should not keep it for HTTP_PUBLIC_MAX_AGE_S.
  @CacheControl('public', CITIES_CACHE.ttlS)
  @ApiOperation({ summary: 'Cities with their number of public profiles, most populated first (top 200)' })
  @ApiOkResponse({ type: [CityCountDto] })
  cities(): Promise<CityCountDto[]> {
    return this.profiles.cities();
  }
}
