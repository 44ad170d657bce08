import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsOptional, IsString } from 'class-validator';
import { MaxCodePoints } from '../../common/validation/code-point-length.js';
import { OptionalIntQuery } from '../../common/validation/query-fields.js';
import { interestList, SearchProfilesQuery } from './search-profiles.query.js';

/** Premium search: everything the public search takes, plus filters only members on a paid plan get. */
export class AdvancedSearchQuery extends SearchProfilesQuery {
  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', maxLength: 30 },
    maxItems: 10,
    example: ['climbing', 'cooking'],
    description: 'Repeated or comma-separated (interestsAll=a,b); matches profiles with all of them',
  })
  @IsOptional()
  @Transform(interestList)
  @ArrayMaxSize(10)
  @IsString({ each: true })
  @MaxCodePoints(30, { each: true })
  interestsAll?: string[];

  /** Popular members only: at least this many counted views. */
  @OptionalIntQuery(0, 1_000_000_000)
  minViews?: number;
}
