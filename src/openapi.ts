import { PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiBearerAuth, DECORATORS, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';
import {
  ProblemResponseDto,
  RETRY_AFTER_HEADER,
  WWW_AUTHENTICATE_HEADER,
} from './common/problem/problem-response.dto.js';
import { IS_PUBLIC } from './auth/decorators/public.decorator.js';
import { IGNORES_TOKEN, TOKEN_IGNORED_EXTENSION } from './auth/decorators/token-ignored.decorator.js';
import { CACHE_CONTROL_EXTENSION, ERROR_CACHE_CONTROL_HEADER } from './cache/http-cache.js';
import { HEAD_EXTENSION } from './http/api-head.decorator.js';
import { RATE_LIMITED_EXTENSION } from './throttling/not-rate-limited.decorator.js';
import { RATE_LIMIT_HEADERS } from './throttling/rate-limit-headers.js';

/** Swagger UI at /docs and the OpenAPI 3 document at /docs/openapi.json, generated from decorators. */
export function setupOpenApi(app: NestFastifyApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Vesta API')
    .setDescription(
      'REST API of the Vesta dating platform. Errors are RFC 9457 application/problem+json; ' +
        'every response carries x-request-id.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  documentTokensRequired(app);
  const document = withProblemDefaults(
    SwaggerModule.createDocument(app, config, { extraModels: [ProblemResponseDto] }),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
}

/**
 * `security: [{bearer: []}]` on every route the global JwtAuthGuard wants a token for: neither @Public() nor
 * @TokenIgnored(), on the handler or its controller. Read from the guard's own metadata, so a new route (as
 * `npm run generate` writes it, with no @ApiBearerAuth) is not documented as open to anonymous callers, with a 401
 * that "needs no token". A route or controller that declares its security itself keeps it.
 */
function documentTokensRequired(app: NestFastifyApplication): void {
  const scanner = new MetadataScanner();
  for (const { metatype } of new DiscoveryService(app.get(ModulesContainer)).getControllers()) {
    if (typeof metatype !== 'function' || Reflect.hasMetadata(DECORATORS.API_SECURITY, metatype)) continue;
    const prototype = metatype.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name];
      if (typeof handler !== 'function' || !Reflect.hasMetadata(PATH_METADATA, handler)) continue;
      if (Reflect.hasMetadata(DECORATORS.API_SECURITY, handler)) continue;
      // As Reflector.getAllAndOverride([handler, controller]) reads them.
      const flag = (key: string) =>
        (Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, metatype)) as unknown;
      if (flag(IS_PUBLIC) || flag(IGNORES_TOKEN)) continue;
      ApiBearerAuth()(prototype, name, { value: handler });
    }
  }
}

/**
 * Every operation can fail with problem+json (validation, throttling, outages), so each gets a `default` response with
 * that schema and a 503 with its Retry-After, every operation its 401 (WWW-Authenticate: Bearer, as the problem filter
 * sends), every /v1 operation and every other that takes input its 400 (a write without a request body: also for a
 * body sent to it), every one but a read its 408, 413 and 415 (its body is read whether the route takes one or not),
 * every rate-limited one its 429 and the RateLimit headers, and every error its Cache-Control: no-store.
 */
function withProblemDefaults(document: OpenAPIObject): OpenAPIObject {
  const problem = (description: string) => ({
    description,
    content: { 'application/problem+json': { schema: { $ref: `#/components/schemas/${ProblemResponseDto.name}` } } },
  });
  documentHeads(document);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head'] as const) {
      const operation = item[method];
      if (!operation) continue;
      // Swagger gives every operation of a controller the same object for a response declared on the class (the 400
      // of AuthController): changed in place below, what is added for one operation would show on all of them.
      operation.responses = structuredClone(operation.responses);
      for (const [code, response] of Object.entries(operation.responses)) {
        // A response declared without a description (`@ApiOkResponse({ type })`) had an empty one, which generated
        // clients and Swagger UI show as nothing: the status's reason phrase at least says what it is.
        if (response && 'description' in response && !response.description) {
          response.description = STATUS_CODES[Number(code)] ?? code;
        }
        // `@ApiConflictResponse({ type: ProblemResponseDto })` and its kind declare application/json, but the problem
        // filter sends every error as problem+json: a generated client would otherwise not parse the body.
        if (Number(code) >= 400 && response && 'content' in response && response.content?.['application/json']) {
          response.content = { 'application/problem+json': response.content['application/json'] };
        }
      }
      // Every /v1 route refuses query parameters it does not take (decision 0027), even one that takes no input.
      if (path.startsWith('/v1/') || operation.parameters?.length || operation.requestBody) {
        operation.responses['400'] ??= problem(
          'Invalid input: a field, header or id, or a query parameter that is invalid or that the route does not take',
        );
      }
      if (method !== 'get' && method !== 'head') {
        if (!operation.requestBody) documentBodyRefused(operation, problem);
        documentBodyLimits(operation, problem);
      }
      operation.responses.default ??= problem('Any other error, as RFC 9457 problem details');
      operation.responses['503'] ??= problem(
        'No answer within the deadline (HANDLER_TIMEOUT_MS, 10 s by default), the database unreachable, or the ' +
          'instance overloaded: retry after the Retry-After header (seconds)',
      );
      // The problem filter gives every 503 its Retry-After, a route's own (readiness) included.
      withHeaders(operation.responses['503'], RETRY_AFTER_HEADER);
      documentUnauthorized(operation, problem);
      withHeaders(operation.responses['401'], WWW_AUTHENTICATE_HEADER);
      // Not only /v1: the hooks answer every GET so, the probes included (until 2026-12-07 their 304 and 412 were
      // undocumented, a 304 read as the default problem+json).
      if (method === 'get') documentRevalidation(operation, problem);
      const optedOut = (operation as { [RATE_LIMITED_EXTENSION]?: boolean })[RATE_LIMITED_EXTENSION] === false;
      if (path.startsWith('/v1/') && !optedOut) documentRateLimits(operation, problem);
      // Last: every error answer is documented by now.
      documentCacheControl(operation);
    }
  }
  return document;
}

type Operation = OpenAPIObject['paths'][string]['get'] & object;

/** What only a GET reads and answers: any other method ignores Range (RFC 9110, section 14.2). */
const RANGE_HEADERS = ['range', 'if-range'];
const RANGE_ANSWERS = ['206', '416'];

/**
 * A HEAD beside each GET marked @ApiHead: the GET's parameters and answers (the headers are the point; the media types
 * say what the Content-Type is) but those of a Range, its own summary, and an operationId of its own
 * (`MediaController_download_v1` gives `MediaController_downloadHead_v1`). A HEAD ignores Range (MediaController's
 * send): copied, the 206 and 416 told a generated client it could size a part of a file, or get a 416, with a HEAD.
 */
function documentHeads(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    if (!item.get || !(HEAD_EXTENSION in item.get)) continue;
    const { [HEAD_EXTENSION]: summary, ...get } = item.get as Operation & Record<typeof HEAD_EXTENSION, string>;
    item.get = get;
    const operationId = get.operationId?.replace(/^([^_]+_[^_]+)/, '$1Head');
    const head: Operation = { ...structuredClone(get), summary, operationId };
    head.parameters = head.parameters?.filter(
      (parameter) =>
        '$ref' in parameter || parameter.in !== 'header' || !RANGE_HEADERS.includes(parameter.name.toLowerCase()),
    );
    for (const code of RANGE_ANSWERS) delete head.responses[code];
    item.head = head;
  }
}

type ProblemResponse = (description: string) => { description: string };
type Response = Operation['responses'][string];

function withHeaders(response: Response | undefined, headers: Record<string, object>): void {
  if (response && !('$ref' in response)) response.headers = { ...response.headers, ...headers };
}

/** `headers` the response does not document itself. */
function withDefaultHeaders(response: Response | undefined, headers: Record<string, object>): void {
  if (response && !('$ref' in response)) response.headers = { ...headers, ...response.headers };
}

/**
 * A rate-limited operation's 429, and the RateLimit headers on it, its successes and the refusals and failures that
 * come after the rate-limit guard counted the request (a 404, a 409, a wrong password's 401, a 503 when the database
 * or the password hashing could not answer). Answers refused before the guard (a 401 for a bad token, a 413 or 415 for
 * the body, a 503 for overload) carry none; nor does any while Redis does not answer.
 */
function documentRateLimits(operation: Operation, problem: ProblemResponse): void {
  const { responses } = operation;
  responses['429'] ??= problem('Rate limit reached; the RateLimit-* headers of every reply tell how much is left');
  withHeaders(responses['429'], { ...RATE_LIMIT_HEADERS, ...RETRY_AFTER_HEADER });
  // The problem filter keeps them on a 5xx (it drops only a success's validators and caching).
  for (const [code, response] of Object.entries(responses)) {
    if (/^([2-5]\d\d|default)$/.test(code)) withHeaders(response, RATE_LIMIT_HEADERS);
  }
}

const ETAG_HEADER = {
  ETag: {
    description: 'Weak tag of the body; send it back in If-None-Match to get a 304 while the answer is unchanged',
    schema: { type: 'string', pattern: '^W/"[A-Za-z0-9+/=]+"$', example: 'W/"yo3zOlfN4MrLrb2XMmtXcy0pwxg="' },
  },
};

/**
 * Every successful GET carries an ETag, and one whose If-None-Match matches it gets a 304 with
 * no body (http-hooks.ts), whatever the route. Undocumented, a generated client treated the 304 its HTTP cache asked
 * for as an unknown status, and nothing told a client it could revalidate a profile or a list at all. One whose If-Match
 * fails gets a 412 before that. A route that documents its own 304 and 412 (media downloads) keeps them.
 */
function documentRevalidation(operation: Operation, problem: ProblemResponse): void {
  const { responses } = operation;
  const successes = Object.entries(responses).filter(([code]) => /^2\d\d$/.test(code) && code !== '204');
  if (successes.length === 0) return;
  // A route's own ETag stays: a media download's is strong, the SHA-256 of its bytes.
  for (const [, response] of successes) withDefaultHeaders(response, ETAG_HEADER);
  responses['304'] ??= {
    description: 'Not modified: If-None-Match matched the ETag; no body',
  };
  withDefaultHeaders(responses['304'], ETAG_HEADER);
  // These answers carry no Last-Modified, so If-Modified-Since and If-Unmodified-Since are ignored (RFC 9110 §13.1.3,
  // §13.1.4); until 2026-12-07 the text named them anyway.
  responses['412'] ??= problem(
    'If-Match names no current ETag (they are weak, and If-Match compares strongly: only * holds)',
  );
}

/**
 * Cache-Control as http-cache.ts sets it: `no-store` on every error, and a route's @CacheControl policy on its
 * successes and 304s (moved there from the operation's extension). A route that sets its own (a media download) keeps
 * what it documents.
 */
function documentCacheControl(operation: Operation): void {
  const { [CACHE_CONTROL_EXTENSION]: header } = operation as Record<string, object | undefined>;
  delete (operation as Record<string, unknown>)[CACHE_CONTROL_EXTENSION];
  for (const [code, response] of Object.entries(operation.responses)) {
    if (code === 'default' || Number(code) >= 400) withHeaders(response, ERROR_CACHE_CONTROL_HEADER);
    else if (header && /^(2\d\d|304)$/.test(code)) withDefaultHeaders(response, { 'Cache-Control': header });
  }
}

/**
 * A write that takes no body refuses one (UnexpectedBodyGuard), whatever its own 400 says: an operation without a
 * requestBody only tells a client to send none, not what happens when it does.
 */
function documentBodyRefused(operation: Operation, problem: ProblemResponse): void {
  const { responses } = operation;
  const refused = 'a request body, which this route does not take (send none, or {})';
  const own = responses['400'];
  if (own && 'description' in own) own.description = `${own.description}; or ${refused}`;
  else responses['400'] = problem(`Invalid input: ${refused}`);
}

/**
 * Fastify reads the body of every request but a GET or HEAD before routing reaches Nest: one that does not arrive in
 * time is a 408, one over BODY_LIMIT_BYTES a 413, one that is not JSON a 415 (other-body-types.ts), whether the route
 * takes a body or not. An upload route keeps its own (MediaController: the file size and the image types).
 */
function documentBodyLimits(operation: Operation, problem: ProblemResponse): void {
  const { responses } = operation;
  // The deadline (request-deadlines.ts) answers 408 to a body still arriving, read whether the route takes it or not.
  responses['408'] ??= problem(
    'The request body had not all arrived by the deadline (HANDLER_TIMEOUT_MS, 10 s by default; uploads get ' +
      'REQUEST_TIMEOUT_MS more); the connection is closed',
  );
  responses['413'] ??= problem('The request body is over BODY_LIMIT_BYTES (1 MiB by default)');
  responses['415'] ??= problem('A request body that is not JSON (Content-Type: application/json)');
}

const BAD_TOKEN = 'an Authorization header that is malformed or carries an invalid, expired or revoked token';

/**
 * The global auth guard runs on every Nest route, public ones included: there it lets a request without a token
 * through, but refuses one whose token is bad rather than ignoring it (README, "Errors"). So every operation has a 401,
 * but those marked @TokenIgnored(), which do not read the header. A route whose security allows anonymous callers
 * (`{}`, @ApiOptionalBearerAuth) is public: a missing token is no 401 there.
 */
function documentUnauthorized(operation: Operation, problem: ProblemResponse): void {
  const { responses } = operation;
  if ((operation as { [TOKEN_IGNORED_EXTENSION]?: boolean })[TOKEN_IGNORED_EXTENSION]) return;
  const anonymousAllowed = operation.security?.some((requirement) => Object.keys(requirement).length === 0);
  if (operation.security?.length && !anonymousAllowed) {
    responses['401'] ??= problem(`A missing token, or ${BAD_TOKEN}`);
    return;
  }
  const own = responses['401'];
  if (own && 'description' in own) own.description = `${own.description}; or ${BAD_TOKEN}`;
  else responses['401'] = problem(`Only for ${BAD_TOKEN}: the route needs no token, but checks one that is sent`);
}
