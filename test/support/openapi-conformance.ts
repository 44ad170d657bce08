import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';

type Schema = Record<string, unknown>;
interface MediaType {
  schema?: Schema;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
  headers?: Record<string, { schema?: Schema }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
  components: { schemas: Record<string, Schema> };
}

/** One answer of a route, as the test got it. */
export interface Answer {
  method: string;
  /** The documented path, `/v1/profiles/{id}`. */
  template: string;
  status: number;
  headers: Headers;
  /** The body as text; empty when there was none. */
  text: string;
}

/**
 * Headers clients act on: each one an answer carries must be documented on that answer (and match its schema). Other
 * headers (Date, Vary, Content-Type, the security headers every answer has) are not described per operation.
 */
const WATCHED_HEADERS = [
  'etag',
  'cache-control',
  'location',
  'last-modified',
  'content-range',
  'accept-ranges',
  'retry-after',
  'www-authenticate',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
  'idempotent-replayed',
];

const NUMBER_FIELD = 'x-number-field';
const REF = '#/components/schemas/';
const DOCUMENT_ID = 'openapi';

/**
 * Checks real answers against the OpenAPI document: the operation and the status are documented, the body matches the
 * schema of its media type, and the headers clients act on are documented and match theirs. Objects are taken as
 * closed (a field the schema does not name is a disagreement: a generated client drops it), and every number a
 * `type: number` field carries is recorded, so that fields which only ever carry whole numbers can be found.
 */
export class OpenApiConformance {
  private problems: string[] = [];
  private readonly ajv = newAjv();
  private readonly validators = new Map<Schema, ValidateFunction>();
  private readonly numbers = new Map<string, { whole: number; fractional: number }>();

  constructor(private readonly document: OpenApiDocument) {
    this.ajv.addKeyword({
      keyword: NUMBER_FIELD,
      schemaType: 'string',
      validate: (field: string, data: unknown) => {
        if (typeof data === 'number') this.observe(field, data);
        return true;
      },
    });
    const schemas = Object.fromEntries(
      Object.entries(document.components.schemas).map(([name, schema]) => [name, this.prepared(schema, name)]),
    );
    this.ajv.addSchema({ $id: DOCUMENT_ID, components: { schemas } });
  }

  check(answer: Answer): void {
    const { method, template, status } = answer;
    const where = `${method} ${template} ${status}`;
    const operation = this.document.paths[template]?.[method.toLowerCase()];
    if (!operation) return void this.problems.push(`${method} ${template}: operation not documented`);
    const response = operation.responses[String(status)];
    if (!response) return void this.problems.push(`${where}: status not documented`);
    this.checkHeaders(where, answer, response);
    if (method === 'HEAD' || status === 204 || status === 304 || answer.text === '') return;
    const type = (answer.headers.get('content-type') ?? '').split(';')[0].trim();
    const documented = Object.entries(response.content ?? {}).find(([key]) => mediaTypeMatches(key, type));
    if (!documented) {
      const types = Object.keys(response.content ?? {}).join(', ') || 'no body';
      return void this.problems.push(`${where}: sends ${type}, documented: ${types}`);
    }
    const schema = documented[1].schema;
    if (!schema || !type.endsWith('json')) return;
    const validate = this.validator(schema, where);
    if (!validate(JSON.parse(answer.text))) {
      for (const error of validate.errors ?? []) {
        const extra = 'additionalProperty' in error.params ? ` (${String(error.params.additionalProperty)})` : '';
        this.problems.push(`${where}: body${error.instancePath} ${error.message ?? ''}${extra}`);
      }
    }
  }

  /** The disagreements found since the last call. */
  take(): string[] {
    const found = this.problems;
    this.problems = [];
    return found;
  }

  /**
   * Fields typed `number` that carried only whole numbers in every answer checked, but those named in `fractional`
   * (fields that may carry fractions though the answers seen did not).
   */
  wholeNumberFields(fractional: readonly string[]): string[] {
    return [...this.numbers]
      .filter(([field, seen]) => seen.fractional === 0 && !fractional.includes(field))
      .map(([field]) => field)
      .sort();
  }

  private checkHeaders(where: string, { method, template, status, headers }: Answer, response: ResponseObject): void {
    const documented = new Map(Object.entries(response.headers ?? {}).map(([name, h]) => [name.toLowerCase(), h]));
    for (const name of WATCHED_HEADERS) {
      const value = headers.get(name);
      if (value === null) continue;
      // @fastify/etag tags every body, a write's answer, an error and a probe's included; only a read's success is
      // kept and revalidated (errors are no-store; orchestrators do not revalidate probes), so only there does a
      // client use it.
      const revalidated = ['GET', 'HEAD'].includes(method) && status < 400 && template.startsWith('/v1/');
      if (name === 'etag' && !revalidated) continue;
      const header = documented.get(name);
      if (!header) {
        this.problems.push(`${where}: header ${name} not documented`);
        continue;
      }
      if (!header.schema) continue;
      const validate = this.validator(header.schema, `${where} header ${name}`);
      const typed =
        /^(integer|number)$/.test(String(header.schema.type)) && /^\d+$/.test(value) ? Number(value) : value;
      if (!validate(typed)) this.problems.push(`${where}: header ${name}: ${value} ${validate.errors?.[0]?.message}`);
    }
  }

  private validator(schema: Schema, where: string): ValidateFunction {
    let validate = this.validators.get(schema);
    if (!validate) {
      validate = this.ajv.compile(this.prepared(schema, where));
      this.validators.set(schema, validate);
    }
    return validate;
  }

  private observe(field: string, value: number): void {
    const seen = this.numbers.get(field) ?? { whole: 0, fractional: 0 };
    if (Number.isInteger(value)) seen.whole++;
    else seen.fractional++;
    this.numbers.set(field, seen);
  }

  /** A copy of `schema` with its objects closed, its numbers labelled and its references into the document. */
  private prepared(schema: Schema, label: string): Schema {
    const copy = referencingDocument(schema);
    closeAndLabel(copy, label);
    return copy;
  }
}

/** Ajv for OpenAPI 3.0 schemas: `example` and `x-` keywords are annotations, `binary` any string. */
function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true });
  // ajv-formats is CommonJS: under Node's ESM interop its plugin is the module's `default`.
  formats.default(ajv);
  ajv.addFormat('binary', true);
  return ajv;
}

/** A copy of `schema` whose `#/components/schemas/` references point into the schema added as DOCUMENT_ID. */
function referencingDocument(schema: Schema): Schema {
  return JSON.parse(JSON.stringify(schema).replaceAll(`"${REF}`, `"${DOCUMENT_ID}${REF}`)) as Schema;
}

/**
 * Every example in the document that its own schema refuses (a schema's `example`, or a parameter's against the
 * parameter's schema), by where it is: Swagger UI offers examples as the values to send, and generated docs show them.
 */
export function invalidExamples(document: OpenApiDocument): string[] {
  const ajv = newAjv();
  ajv.addSchema({ $id: DOCUMENT_ID, components: referencingDocument(document.components) });
  const found: string[] = [];
  const check = (example: unknown, schema: Schema, where: string) => {
    const validate = ajv.compile(referencingDocument(schema));
    if (!validate(example)) found.push(`${where}: ${JSON.stringify(example)} ${validate.errors?.[0]?.message}`);
  };
  const visit = (node: unknown, where: string): void => {
    if (!isSchema(node)) return;
    if ('example' in node && isSchema(node.schema) && 'in' in node) check(node.example, node.schema, where);
    else if ('example' in node && SCHEMA_KEYWORDS.some((keyword) => keyword in node)) {
      const { example, ...schema } = node;
      check(example, schema, where);
    }
    for (const [key, value] of Object.entries(node)) {
      // Parameters by name: `#/paths/~1v1~1profiles/get/parameters/interests`.
      const name = Array.isArray(node) && isSchema(value) && typeof value.name === 'string' ? value.name : key;
      if (key !== 'example') visit(value, `${where}/${name.replaceAll('/', '~1')}`);
    }
  };
  visit(document, '#');
  return found;
}

const SCHEMA_KEYWORDS = ['type', '$ref', 'enum', 'items', 'properties', 'allOf', 'oneOf', 'anyOf'];

function closeAndLabel(schema: Schema, label: string): void {
  if (schema.type === 'number') schema[NUMBER_FIELD] = label;
  if (schema.type === 'object' && schema.properties && schema.additionalProperties === undefined) {
    schema.additionalProperties = false;
  }
  for (const [key, property] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    closeAndLabel(property, `${label}.${key}`);
  }
  if (isSchema(schema.items)) closeAndLabel(schema.items, `${label}[]`);
  if (isSchema(schema.additionalProperties)) closeAndLabel(schema.additionalProperties, `${label}.*`);
  for (const combined of ['allOf', 'anyOf', 'oneOf']) {
    for (const part of (schema[combined] ?? []) as Schema[]) closeAndLabel(part, label);
  }
}

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null;

/** `image/*` documents image/png; otherwise the types are equal. */
function mediaTypeMatches(documented: string, sent: string): boolean {
  return documented.endsWith('/*') ? sent.startsWith(documented.slice(0, -1)) : documented === sent;
}
