import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsIn, IsOptional, IsString } from 'class-validator';
import { CodePointLength, MaxCodePoints } from '../../common/validation/code-point-length.js';
import { IsCountryCode } from '../../common/validation/country-code.js';
import { IsNotBelow } from '../../common/validation/range-bound.js';
import { OptionalIntQuery, PageCursor, PageLimit } from '../../common/validation/query-fields.js';
import { GENDERS, type Gender } from '../profile.schema.js';
import { MAX_AGE, MIN_AGE } from './create-profile.dto.js';
import { PUBLIC_FIELDS, type PublicField } from '../profile.mapper.js';
import { normaliseInterest } from './interest-tag.js';
import { cityNameInput, upperCase } from './location.dto.js';
import { isTextList } from '../../common/text/text-list.js';

/**
 * A list as a query names it, comma-separated (`a,b`), repeated (`x=a&x=b`) or both, each item normalised and empty
 * ones dropped. Anything but strings is left for the validators to refuse.
 */
const queryList =
  (normalise: (item: string) => string) =>
  ({ value }: { value: unknown }): unknown => {
    const items: unknown = typeof value === 'string' ? [value] : value;
    if (!isTextList(items)) return value;
    return items
      .flatMap((item) => item.split(','))
      .map(normalise)
      .filter(Boolean);
  };

/** Interests, normalised as stored ones are. */
export const interestList = queryList(normaliseInterest);

export class SearchProfilesQuery {
  @ApiPropertyOptional({ example: 'Berlin', minLength: 1, maxLength: 80 })
  @IsOptional()
  // Measured as a stored city is: a name that fits there is not refused here for its accents or spaces as typed.
  @Transform(cityNameInput)
  @IsString()
  @CodePointLength(1, 80)
  city?: string;

  /** City names repeat across countries (Paris, FR and Paris, US): the cities list counts them apart, so can a search. */
  @ApiPropertyOptional({ example: 'DE', description: 'ISO 3166-1 alpha-2 (or XK), in any case' })
  @IsOptional()
  @Transform(upperCase)
  @IsCountryCode()
  country?: string;

  @ApiPropertyOptional({ enum: GENDERS })
  @IsOptional()
  @IsIn(GENDERS)
  gender?: Gender;

  @OptionalIntQuery(MIN_AGE, MAX_AGE)
  minAge?: number;

  @OptionalIntQuery(MIN_AGE, MAX_AGE)
  @IsNotBelow('minAge')
  maxAge?: number;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', maxLength: 30 },
    maxItems: 10,
    example: ['climbing', 'cooking'],
    description: 'Repeated or comma-separated (interests=a,b); matches profiles with any of them',
  })
  @IsOptional()
  @Transform(interestList)
  @ArrayMaxSize(10)
  @IsString({ each: true })
  @MaxCodePoints(30, { each: true })
  interests?: string[];

  @PageLimit()
  limit?: number;

  @PageCursor()
  cursor?: string;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', enum: [...PUBLIC_FIELDS] },
    minItems: 1,
    example: ['displayName', 'age', 'location'],
    description: 'Repeated or comma-separated (fields=a,b): the fields each profile carries, besides id',
  })
  @IsOptional()
  @Transform(queryList((item) => item.trim()))
  // `fields=` alone could mean every field or id only: refused rather than guessed.
  @ArrayMinSize(1, { message: 'fields must name at least one field, or be left out for all of them' })
  @IsIn(PUBLIC_FIELDS, { each: true })
  fields?: PublicField[];
}
