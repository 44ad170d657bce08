import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** An upload as `POST /v1/media` answers it. */
export class MediaFileDto {
  @ApiProperty({ example: '665f1c2e8a1b2c3d4e5f6a7b' })
  id: string;

  @ApiProperty({ enum: ['image/jpeg', 'image/png', 'image/webp', 'image/gif'], description: 'Decided from the bytes' })
  contentType: string;

  @ApiProperty({ type: 'integer', example: 48213, description: 'Size in bytes' })
  length: number;

  @ApiProperty({ example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', description: 'Hex' })
  sha256: string;

  @ApiPropertyOptional({
    type: 'integer',
    example: 1200,
    description: 'Absent when the header does not say; filled in later',
  })
  width?: number;

  @ApiPropertyOptional({ type: 'integer', example: 800 })
  height?: number;

  @ApiProperty({ example: '/v1/media/665f1c2e8a1b2c3d4e5f6a7b', description: 'Where to download it' })
  url: string;
}
