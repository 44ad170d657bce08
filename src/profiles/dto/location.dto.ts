import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { Matches } from 'class-validator';
import { CodePointLength } from '../../common/validation/code-point-length.js';
import { IsLatitudeNumber, IsLongitudeNumber } from '../../common/validation/coordinates.js';
import { IsCountryCode } from '../../common/validation/country-code.js';
import { IsPlainText } from '../../common/validation/plain-text.js';
import { composedText, straightApostrophes } from '../folded-text.js';

// Letters (any script) with their marks, spaces, dots, apostrophes and hyphens: real city names, no markup. It starts
// with a letter (a mark first would sit on nothing), after an apostrophe at most ('s-Hertogenbosch). Zero-width
// (non-)joiners are spelling in some scripts: Persian writes Khorramabad "خرم‌آباد", and a Persian keyboard types the
// ZWNJ; IsPlainText takes them only between letters. The ZWJ is outside the class: in it, it reads as joining its
// neighbours into one character.
const CITY_NAME = /^'?\p{L}(?:[\p{L}\p{M}\u200C .'-]|\u200D)*$/u;

/**
 * A city as typed, in the form it is stored and its length checked in: NFC (the city key is of its NFKC form), so the
 * name shown in the cities list is one of the stored ones; trimmed, with runs of spaces made one; apostrophes as iOS
 * types them made the ASCII one. Text too long to be a city is left as it is (see composedText), for Length to refuse.
 */
export const cityNameInput = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? straightApostrophes(composedText(value)).trim().replace(/\s+/g, ' ') : value;

/** A country code as stored: upper case, however it was typed. */
export const upperCase = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.toUpperCase() : value;

export class LocationDto {
  @ApiProperty({ example: 'Berlin', minLength: 1, maxLength: 80, pattern: CITY_NAME.source })
  @Transform(cityNameInput)
  @IsPlainText()
  @CodePointLength(1, 80)
  @Matches(CITY_NAME, { message: 'city contains characters a city name does not' })
  city: string;

  @ApiProperty({ example: 'DE', description: 'ISO 3166-1 alpha-2, or XK for Kosovo' })
  @Transform(upperCase)
  @IsCountryCode()
  country: string;

  @ApiProperty({ example: 52.52, minimum: -90, maximum: 90 })
  @IsLatitudeNumber()
  lat: number;

  @ApiProperty({ example: 13.405, minimum: -180, maximum: 180 })
  @IsLongitudeNumber()
  lng: number;
}
