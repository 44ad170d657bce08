import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/decorators/public.decorator.js';
import { CityCountDto } from '../profiles/dto/profile-response.dto.js';
import { ProfilesRepository } from '../profiles/profiles.repository.js';

const CITY_LIMIT = 200;

@ApiTags('locations')
@Controller('locations')
export class LocationsController {
  constructor(private readonly profiles: ProfilesRepository) {}

  @Public()
  @Get('cities')
  @ApiOperation({ summary: 'Cities with their number of public profiles, most populated first (top 200)' })
  @ApiOkResponse({ type: [CityCountDto] })
  cities(): Promise<CityCountDto[]> {
    return this.profiles.cityCounts(CITY_LIMIT);
  }
}
