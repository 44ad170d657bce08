import { STATUS_CODES } from 'node:http';

/** One invalid input field, as listed in a problem's `errors` member. */
export interface FieldError {
  field: string;
  message: string;
}

/** RFC 9457 problem details, plus the members this API always adds. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Absent only where the request could not be read as HTTP (framework-errors.ts): there is no URL. */
  instance?: string;
  requestId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** Retry-After of every 503 that expects to pass soon: a database outage, overload, a request past its deadline. */
export const UNAVAILABLE_RETRY_AFTER_S = 5;

/**
 * Drops the headers of the success a handler was preparing (a download's validators, its year-long caching, its
 * range) from a reply that turned into an error: no browser or CDN may keep an error, or revalidate against it.
 */
export function dropSuccessHeaders(reply: { removeHeader(name: string): unknown }): void {
  for (const name of ['etag', 'last-modified', 'content-range', 'cache-control']) reply.removeHeader(name);
}

/** Problem type for requests whose body or query failed validation. */
export const VALIDATION_PROBLEM_TYPE = '/problems/validation-failed';

export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/** The path a problem is about: the request's URL without its query (which may carry tokens or personal data). */
export function problemInstance(request: { url: string }): string {
  return request.url.split('?')[0] ?? request.url;
}

/** A problem of the generic type (`about:blank`, titled by its status) about `request`. */
export function genericProblem(request: { url: string; id: unknown }, status: number, detail: string): ProblemDetails {
  return {
    type: 'about:blank',
    title: statusTitle(status),
    status,
    detail,
    instance: problemInstance(request),
    requestId: String(request.id),
  };
}
