import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/decorators/public.decorator.js';
import { CityCountDto } from '../profiles/dto/profile-response.dto.js';
import { CacheControl } from '../cache/http-cache.js';
import { ProfilesService } from '../profiles/profiles.service.js';

@ApiTags('locations')
@Controller('locations')
export class LocationsController {
  constructor(private readonly profiles: ProfilesService) {}

  @Public()
  @Get('cities')
  @CacheControl('public')
  @ApiOperation({ summary: 'Cities with their number of public profiles, most populated first (top 200)' })
  @ApiOkResponse({ type: [CityCountDto] })
  cities(): Promise<CityCountDto[]> {
    return this.profiles.cities();
  }
}
