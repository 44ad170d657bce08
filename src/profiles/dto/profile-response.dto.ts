import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { GENDERS, VISIBILITIES } from '../profile.schema.js';

class ProfileLocationResponseDto {
  @ApiProperty({ example: 'Berlin' })
  city: string;

  @ApiProperty({ example: 'DE' })
  country: string;

  @ApiPropertyOptional({ description: 'Owner and admin only' })
  lat?: number;

  @ApiPropertyOptional({ description: 'Owner and admin only' })
  lng?: number;
}

/** Public profile; `fields=` may return a subset (id is always present). */
export class ProfileResponseDto {
  @ApiProperty({ example: '665f1c2e8a1b2c3d4e5f6a7b' })
  id: string;

  @ApiPropertyOptional() displayName?: string;
  @ApiPropertyOptional() bio?: string;
  @ApiPropertyOptional({ type: 'integer', example: 31 }) age?: number;
  @ApiPropertyOptional({ enum: GENDERS }) gender?: string;
  @ApiPropertyOptional({ enum: GENDERS, isArray: true }) interestedIn?: string[];
  @ApiPropertyOptional({ type: [String] }) interests?: string[];
  @ApiPropertyOptional({ type: ProfileLocationResponseDto }) location?: ProfileLocationResponseDto;
  @ApiPropertyOptional({ type: [String] }) photoIds?: string[];
  @ApiPropertyOptional({ type: 'integer', description: 'Counted views, flushed every few seconds' })
  views?: number;
  @ApiPropertyOptional() lastActiveAt?: Date;
  @ApiPropertyOptional() createdAt?: Date;
  @ApiPropertyOptional({ description: 'Owner and admin only' }) userId?: string;
  @ApiPropertyOptional({ description: 'Owner and admin only', format: 'date', example: '1990-02-28' })
  birthDate?: string;
  @ApiPropertyOptional({ enum: VISIBILITIES, description: 'Owner and admin only' }) visibility?: string;
  @ApiPropertyOptional({ description: 'Owner and admin only' }) updatedAt?: Date;
}

export class ProfilePageDto {
  @ApiProperty({ type: [ProfileResponseDto] })
  items: ProfileResponseDto[];

  @ApiPropertyOptional({ description: 'Pass as `cursor` for the next page; absent on the last page' })
  nextCursor?: string;
}

export class NearbyProfileDto extends ProfileResponseDto {
  @ApiProperty({
    type: 'integer',
    example: 2,
    description: 'Distance from the query point in whole km (at least 1), for privacy',
  })
  distanceKm: number;
}

export class ProfileViewerDto {
  @ApiProperty({
    format: 'date-time',
    example: '2026-11-23T21:05:00.000Z',
    description: 'Their latest view of your profile',
  })
  viewedAt: string;

  @ApiProperty({ type: ProfileResponseDto, description: 'Their public profile' })
  profile: ProfileResponseDto;
}

export class CityCountDto {
  @ApiProperty({ example: 'Berlin' }) city: string;
  @ApiProperty({ example: 'DE' }) country: string;
  @ApiProperty({ type: 'integer', example: 412 }) count: number;
}
