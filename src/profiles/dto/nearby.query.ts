import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsLatitude, IsLongitude, IsNumber, IsOptional, Max, Min } from 'class-validator';
import { MAX_NEARBY_RADIUS_KM } from '../geo.js';
import { PageLimit } from './query-fields.js';

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

  @ApiPropertyOptional({ default: 10, minimum: 0.1, maximum: MAX_NEARBY_RADIUS_KM })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.1)
  @Max(MAX_NEARBY_RADIUS_KM)
  radiusKm?: number;

  @PageLimit()
  limit?: number;
}
