import { ApiProperty } from '@nestjs/swagger';
import { IsLatitudeNumber, IsLongitudeNumber } from '../../common/validation/coordinates.js';
import { QueryNumber } from '../../common/validation/query-number.js';
import { MAX_NEARBY_RADIUS_KM } from '../geo.js';
import { OptionalIntQuery, PageLimit } from '../../common/validation/query-fields.js';

export class NearbyQuery {
  @ApiProperty({ example: 52.52, minimum: -90, maximum: 90 })
  @QueryNumber()
  @IsLatitudeNumber()
  lat: number;

  @ApiProperty({ example: 13.405, minimum: -180, maximum: 180 })
  @QueryNumber()
  @IsLongitudeNumber()
  lng: number;

  // Whole kilometres only: finer radii would let anyone locate a member by bisecting the radius.
  @OptionalIntQuery(1, MAX_NEARBY_RADIUS_KM, 10)
  radiusKm?: number;

  @PageLimit()
  limit?: number;
}
