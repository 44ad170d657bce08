import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsString, Matches } from 'class-validator';
import { OBJECT_ID_PATTERN } from '../../common/pipes/parse-object-id.pipe.js';
import { IsCalendarDate } from '../../common/validation/calendar-date.js';
import { CodePointLength, MaxCodePoints } from '../../common/validation/code-point-length.js';
import { lowerCaseIds } from '../../common/validation/lower-case.js';
import { NestedObject } from '../../common/validation/nested-object.js';
import { IsObjectId } from '../../common/validation/object-id.js';
import { OptionalNotNull } from '../../common/validation/optional-not-null.js';
import { IsPlainText } from '../../common/validation/plain-text.js';
import { GENDERS, VISIBILITIES, type Gender, type Visibility } from '../profile.schema.js';
import { composedText } from '../folded-text.js';
import { HasAgeBetween } from './age-limits.js';
import { INTEREST_TAG, normaliseInterest } from './interest-tag.js';
import { LocationDto } from './location.dto.js';

export const MIN_AGE = 18;
export const MAX_AGE = 120;

/**
 * A bio of 1,000 characters decomposed (Hangul from some systems is 2 to 3 code points a syllable) is within 4,096
 * UTF-16 units; NFC of that many takes a few milliseconds at worst. Longer text is refused as it is.
 */
const MAX_COMPOSED_BIO_LENGTH = 4096;

/** A space separator: every one is in the Basic Multilingual Plane, so one UTF-16 unit. */
const SPACE = /^\p{Zs}$/u;

/**
 * `text` without the spaces (Zs) at its start and end, in time linear in its length. Spaces only: trim() also drops a
 * byte-order mark, controls and line separators, which IsPlainText refuses instead. The regular expression this
 * replaced, /\p{Zs}+$/, read a run of spaces to its end from each of its characters: a display name of 8,000 spaces
 * between two letters held the event loop for about 100 ms per request.
 */
function withoutSpacesAround(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && SPACE.test(text[start])) start++;
  while (end > start && SPACE.test(text[end - 1])) end--;
  return text.slice(start, end);
}

/**
 * Names and bios as cities are stored: in NFC, so "José" sent with a combining accent is the string sent with "é", and
 * is measured as the one letter it shows; a name trimmed too ("É " was a two-character name).
 */
const displayNameInput = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? withoutSpacesAround(composedText(value)) : value;
const bioInput = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? composedText(value, MAX_COMPOSED_BIO_LENGTH) : value;

const normaliseTags = ({ value }: { value: unknown }): unknown =>
  Array.isArray(value)
    ? (value as unknown[]).map((tag) => (typeof tag === 'string' ? normaliseInterest(tag) : tag))
    : value;

/**
 * Everything a member may set on their profile; any other field (role, views, userId, _id) is a 400. No field takes
 * null: the optional ones may be left out, and leaving them out is how a client says "no change" or "the default".
 */
export class CreateProfileDto {
  @ApiProperty({ example: 'Ann', minLength: 2, maxLength: 50, description: 'Stored in NFC, without spaces around it' })
  @Transform(displayNameInput)
  @IsPlainText()
  @CodePointLength(2, 50)
  displayName: string;

  @ApiPropertyOptional({ example: 'Climber, cook, bad at chess.', maxLength: 1000 })
  @OptionalNotNull()
  @Transform(bioInput)
  @IsPlainText({ multiline: true })
  @MaxCodePoints(1000)
  bio?: string;

  @ApiProperty({
    type: String,
    format: 'date',
    example: '1994-05-17',
    description: `YYYY-MM-DD. Members are adults: ${MIN_AGE} to ${MAX_AGE} years old`,
  })
  @IsCalendarDate()
  @HasAgeBetween(MIN_AGE, MAX_AGE)
  birthDate: Date;

  @ApiProperty({ enum: GENDERS })
  @IsIn(GENDERS)
  gender: Gender;

  @ApiProperty({ enum: GENDERS, isArray: true, minItems: 1, uniqueItems: true, example: ['man', 'nonbinary'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(GENDERS, { each: true })
  interestedIn: Gender[];

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: INTEREST_TAG.source },
    example: ['climbing', 'cooking'],
    maxItems: 20,
    uniqueItems: true,
    description:
      'Tags of 2 to 30 letters, digits, spaces and &+-, stored lower-cased, single-spaced, with full-width and ' +
      'half-width forms as their usual letters',
  })
  @OptionalNotNull()
  @Transform(normaliseTags)
  @IsArray()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(INTEREST_TAG, { each: true, message: 'each interest is 2-30 letters or digits' })
  // The pattern takes letters and marks of any kind: Hangul fillers (blank on screen) and runs of variation selectors
  // among them.
  @IsPlainText({}, { each: true })
  interests?: string[];

  @ApiProperty({ type: LocationDto })
  @NestedObject(() => LocationDto)
  location: LocationDto;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: OBJECT_ID_PATTERN },
    example: [],
    maxItems: 6,
    uniqueItems: true,
    description: 'Ids of uploaded media',
  })
  @OptionalNotNull()
  @Transform(lowerCaseIds)
  @IsArray()
  @ArrayMaxSize(6)
  @ArrayUnique()
  @IsObjectId({ each: true })
  photoIds?: string[];

  @ApiPropertyOptional({ enum: VISIBILITIES, default: 'public', description: 'hidden: only you and admins see it' })
  @OptionalNotNull()
  @IsIn(VISIBILITIES)
  visibility?: Visibility;
}
