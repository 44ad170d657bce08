import { ValidateBy, type ValidationOptions } from 'class-validator';

// Unicode Cc: C0 and C1 controls, NUL and DEL among them.
const CONTROL = /\p{Cc}/u;
// Tab and line breaks are layout in multi-line text, not controls.
const CONTROL_BUT_LAYOUT = /(?![\t\n\r])\p{Cc}/u;
// Embeddings, overrides and isolates reorder the text around them: "\u202Eevil.exe" is displayed as "exe.live".
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** Why `value` is not acceptable member text, or undefined when it is. */
export function plainTextProblem(value: unknown, multiline = false): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if ((multiline ? CONTROL_BUT_LAYOUT : CONTROL).test(value)) {
    return multiline
      ? 'must not contain control characters other than tabs and line breaks'
      : 'must be a single line without control characters';
  }
  if (BIDI_CONTROL.test(value)) return 'must not contain bidirectional embedding, override or isolate characters';
  // Blank, zero-width-only or punctuation-only names and cities look empty or fake in every list they appear in.
  if (!multiline && !LETTER_OR_DIGIT.test(value)) return 'must contain at least one letter or digit';
  return undefined;
}

/**
 * Text a member writes and others read: a string without control characters or bidirectional formatting. Single-line
 * text (the default) must also contain a letter or digit; `multiline` text may hold tabs and line breaks and may be
 * empty. Replaces IsString.
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
        defaultMessage: (args) => `${args?.property ?? 'value'} ${plainTextProblem(args?.value, multiline) ?? ''}`,
      },
    },
    validationOptions,
  );
}
