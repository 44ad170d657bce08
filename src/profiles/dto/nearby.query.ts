import { ApiProperty } from '@nestjs/swagger';
import { IsLatitude, IsLongitude, IsNumber } from 'class-validator';
import { QueryNumber } from '../../common/validation/query-number.js';
import { MAX_NEARBY_RADIUS_KM } from '../geo.js';
import { OptionalIntQuery, PageLimit } from './query-fields.js';

export class NearbyQuery {
  @ApiProperty({ example: 52.52 })
  @QueryNumber()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsLatitude()
  lat: number;

  @ApiProperty({ example: 13.405 })
  @QueryNumber()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsLongitude()
  lng: number;

  // Whole kilometres only: finer radii would let anyone locate a member by bisecting the radius.
  @OptionalIntQuery(1, MAX_NEARBY_RADIUS_KM, 10)
  radiusKm?: number;

  @PageLimit()
  limit?: number;
}
