import { ValidateBy, type ValidationOptions } from 'class-validator';

// Unicode Cc: C0 and C1 controls, NUL and DEL among them.
const CONTROL = /\p{Cc}/u;
// Tab and line breaks are layout in multi-line text, not controls.
const CONTROL_BUT_LAYOUT = /(?![\t\n\r])\p{Cc}/u;
// Embeddings, overrides and isolates reorder the text around them: "\u202Eevil.exe" is displayed as "exe.live".
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
// U+2028 and U+2029 break a line in some clients and not in others; `\n` is the line break multi-line text has.
const LINE_OR_PARAGRAPH_SEPARATOR = /[\p{Zl}\p{Zp}]/u;
// Invisible formatting (Cf): zero-width spaces, a byte-order mark, soft hyphens, tag characters that smuggle hidden
// ASCII. They make one name look like another, or text look empty, and carry what readers cannot see.
const FORMAT = /\p{Cf}/u;
// Zero-width (non-)joiners between letters or emoji are spelling: Persian "می‌خواهم", Sinhala "ශ්‍රී", emoji "👩‍🚀".
const JOINABLE = String.raw`[\p{L}\p{M}\p{Extended_Pictographic}\p{Emoji_Modifier}]`;
const JOINER_IN_A_WORD = new RegExp(String.raw`(?<=${JOINABLE})[\u200C\u200D](?=${JOINABLE})`, 'gu');
// Tag characters after a black flag spell a subdivision flag (Scotland: 🏴 + "gbsct" in tags + cancel tag).
const SUBDIVISION_FLAG_TAGS = /(?<=\u{1F3F4})[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{3,7}\u{E007F}/gu;
// Left-to-right, right-to-left and Arabic letter marks: right-to-left writers type them to place punctuation and
// digits.
// They set the direction of what is next to them, unlike the embeddings and overrides above, which reorder a run.
const DIRECTION_MARKS = /[\u200E\u200F\u061C]/gu;
// Hangul fillers are letters to Unicode but blank on screen: a name of them looks empty, and passes the check below.
const HANGUL_FILLER = /[\u115F\u1160\u3164\uFFA0]/u;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
// A variation selector picks the form of the one character before it ("❤️", a CJK ideograph's variant). Strung
// together, or first, they select nothing and show nothing: 256 of them spell any byte, and hide data as tag
// characters do. The combining grapheme joiner and Khmer's inherent vowels (which Unicode says not to use) are marks
// nobody sees either.
const HIDDEN_MARK = /(?:^|\p{Variation_Selector})\p{Variation_Selector}|[\u034F\u17B4\u17B5]/u;
// U+FFFE, U+FFFF, U+FDD0-FDEF and the last two of every plane are for a program's own use, not for text: XML refuses
// them, and some decoders make them U+FFFD.
const NONCHARACTER = /\p{Noncharacter_Code_Point}/u;

/** Why `value` is not acceptable member text, or undefined when it is. */
export function plainTextProblem(value: unknown, multiline = false): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if ((multiline ? CONTROL_BUT_LAYOUT : CONTROL).test(value)) {
    return multiline
      ? 'must not contain control characters other than tabs and line breaks'
      : 'must be a single line without control characters';
  }
  if (BIDI_CONTROL.test(value)) return 'must not contain bidirectional embedding, override or isolate characters';
  if (LINE_OR_PARAGRAPH_SEPARATOR.test(value)) {
    return multiline
      ? 'must break lines with \\n, not with U+2028 or U+2029'
      : 'must be a single line without line or paragraph separators';
  }
  if (hasStrayFormatCharacter(value) || HIDDEN_MARK.test(value))
    return 'must not contain invisible formatting characters';
  if (NONCHARACTER.test(value)) return 'must not contain noncharacters (U+FFFE, U+FFFF and the like)';
  if (HANGUL_FILLER.test(value)) return 'must not contain Hangul filler characters, which show as blank space';
  // Blank, zero-width-only or punctuation-only names and cities look empty or fake in every list they appear in.
  if (!multiline && !LETTER_OR_DIGIT.test(value)) return 'must contain at least one letter or digit';
  return undefined;
}

/** A format character other than those that are part of writing a word, an emoji, a flag or right-to-left text. */
function hasStrayFormatCharacter(value: string): boolean {
  return FORMAT.test(
    value.replace(SUBDIVISION_FLAG_TAGS, '').replace(JOINER_IN_A_WORD, '').replace(DIRECTION_MARKS, ''),
  );
}

/**
 * Text a member writes and others read: a string without control characters, bidirectional formatting, line or
 * paragraph separators, invisible formatting (variation selectors only one after a character), noncharacters or
 * blank-looking filler letters. Single-line text (the default) must also
 * contain a letter or digit; `multiline` text may hold tabs and line breaks (`\n`, `\r`) and may be empty. Replaces
 * IsString.
 */
export function IsPlainText(
  options: { multiline?: boolean } = {},
  validationOptions?: ValidationOptions,
): PropertyDecorator {
  const multiline = options.multiline ?? false;
  return ValidateBy(
    {
      name: multiline ? 'isPlainMultilineText' : 'isPlainText',
      validator: {
        validate: (value: unknown) => plainTextProblem(value, multiline) === undefined,
        defaultMessage: (args) => {
          // With `each`, args.value is the whole list: the message is about its first item that fails.
          const values: unknown[] = validationOptions?.each && Array.isArray(args?.value) ? args.value : [args?.value];
          const problem = values.map((value) => plainTextProblem(value, multiline)).find(Boolean);
          return `${args?.property ?? 'value'}${validationOptions?.each ? ' each' : ''} ${problem ?? ''}`;
        },
      },
    },
    validationOptions,
  );
}
