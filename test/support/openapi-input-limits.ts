import { getMetadataStorage } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata.js';

type Schema = Record<string, unknown>;
interface Parameter {
  name: string;
  in: string;
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
}
export interface InputDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const OBJECT_ID_PATTERN = '^[0-9a-fA-F]{24}$';

/**
 * What a class-validator check says in OpenAPI: `keyword: value` pairs its schema must carry, or undefined for checks
 * OpenAPI has no keyword for (plain text, calendar dates, ages, country codes: their descriptions say them).
 */
function keywordsOf(check: ValidationMetadata): Schema | undefined {
  const [first, second] = (check.constraints ?? []) as unknown[];
  switch (check.name ?? '') {
    case 'maxLength':
      return { maxLength: first };
    case 'minLength':
      return { minLength: first };
    case 'isLength':
      return { minLength: first, maxLength: second };
    case 'isNotEmpty':
      return { minLength: 1 };
    case 'min':
      return { minimum: first };
    case 'max':
      return { maximum: first };
    case 'isLatitude':
      return { minimum: -90, maximum: 90 };
    case 'isLongitude':
      return { minimum: -180, maximum: 180 };
    case 'isInt':
      return { type: 'integer' };
    case 'arrayMaxSize':
      return { maxItems: first };
    case 'arrayMinSize':
      return { minItems: first };
    case 'arrayUnique':
      return { uniqueItems: true };
    case 'isIn':
      return { enum: first };
    case 'isMongoId':
      return { pattern: OBJECT_ID_PATTERN };
    case 'matches':
      return { pattern: (first as RegExp).source };
    default:
      return undefined;
  }
}

/** The patterns a schema holds a string to: its own and those of its allOf parts. */
function patternsOf(schema: Schema): unknown[] {
  const parts = (schema.allOf ?? []) as Schema[];
  return [schema.pattern, ...parts.map((part) => part.pattern)].filter((pattern) => pattern !== undefined);
}

function missing(schema: Schema, keywords: Schema): string[] {
  return Object.entries(keywords).flatMap(([keyword, value]) => {
    if (keyword === 'pattern') return patternsOf(schema).includes(value) ? [] : [`pattern ${String(value)}`];
    if (keyword === 'enum') {
      const documented = new Set(schema.enum as unknown[]);
      const same = Array.isArray(schema.enum) && (value as unknown[]).every((item) => documented.has(item));
      return same ? [] : [`enum ${JSON.stringify(value)}`];
    }
    return schema[keyword] === value
      ? []
      : [`${keyword} ${JSON.stringify(value)} (documented: ${JSON.stringify(schema[keyword])})`];
  });
}

/** Every class with class-validator checks that this process has loaded (request DTOs, and any other). */
export function validatedClasses(): (new () => object)[] {
  const storage = getMetadataStorage() as unknown as { validationMetadatas: Map<unknown, unknown> };
  return [...storage.validationMetadatas.keys()].filter(
    (target) => typeof target === 'function',
  ) as (new () => object)[];
}

/**
 * Each class-validator check of `type` that OpenAPI can say, missing from the schema `schemaOf` gives for its property:
 * `CreateProfileDto.displayName: maxLength 50`. A check of each item (`each: true`) belongs on the items' schema.
 */
export function undocumentedLimits(
  type: new () => object,
  schemaOf: (property: string) => Schema | undefined,
): string[] {
  const checks = getMetadataStorage().getTargetValidationMetadatas(type, '', true, false);
  return checks.flatMap((check) => {
    const keywords = keywordsOf(check);
    if (!keywords) return [];
    const where = `${type.name}.${check.propertyName}`;
    const property = schemaOf(check.propertyName);
    if (!property) return [`${where}: not documented`];
    const schema = check.each ? (property.items as Schema | undefined) : property;
    if (!schema) return [`${where}: no items schema`];
    return missing(schema, keywords).map((gap) => `${where}${check.each ? '[]' : ''}: ${gap}`);
  });
}

/** A property's schema in the component schema `name`. */
export function componentProperty(document: InputDocument, name: string) {
  return (property: string): Schema | undefined =>
    (document.components.schemas[name]?.properties as Record<string, Schema> | undefined)?.[property];
}

/** A query parameter's schema. */
export function queryParameter(document: InputDocument, method: string, path: string) {
  return (property: string): Schema | undefined =>
    document.paths[path]?.[method]?.parameters?.find((p) => p.in === 'query' && p.name === property)?.schema;
}
