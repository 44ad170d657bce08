import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { VARIANT_NAMES, VARIANTS, type VariantName } from '../media-variants.js';

export class MediaDownloadQuery {
  @ApiPropertyOptional({
    enum: VARIANT_NAMES,
    description: `A resized WebP copy (${VARIANT_NAMES.map((name) => `${name}: ${VARIANTS[name]} px`).join(', ')}); the original until it is made`,
  })
  @IsOptional()
  @IsIn(VARIANT_NAMES)
  variant?: VariantName;
}
