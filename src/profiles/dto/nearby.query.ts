import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsLatitude, IsLongitude, IsNumber } from 'class-validator';
import { MAX_NEARBY_RADIUS_KM } from '../geo.js';
import { OptionalIntQuery, PageLimit } from './query-fields.js';

export class NearbyQuery {
  @ApiProperty({ example: 52.52 })
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsLatitude()
  lat: number;

  @ApiProperty({ example: 13.405 })
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsLongitude()
  lng: number;

  // Whole kilometres only: finer radii would let anyone locate a member by bisecting the radius.
  @OptionalIntQuery(1, MAX_NEARBY_RADIUS_KM, 10)
  radiusKm?: number;

  @PageLimit()
  limit?: number;
}
