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
  instance: string;
  requestId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** Problem type for requests whose body or query failed validation. */
export const VALIDATION_PROBLEM_TYPE = '/problems/validation-failed';

export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}
