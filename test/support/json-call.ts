import { expect } from 'vitest';
import type { Account } from '../factories/accounts.js';
import { OpenApiConformance, type OpenApiDocument } from './openapi-conformance.js';

export interface JsonReply {
  status: number;
  contentType: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** One request with an optional JSON body and token, its answer parsed (bodies of 204 and the like are undefined). */
export async function callJson(
  url: string,
  method: string,
  path: string,
  account?: Account,
  body?: unknown,
): Promise<JsonReply> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...account?.auth },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

/** One fetch of `url` + `path`, its status, JSON body and how long it took (for the bounds an outage must keep). */
export async function timedJson(url: string, path: string, init?: RequestInit) {
  const started = performance.now();
  const response = await fetch(`${url}${path}`, init);
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, body, ms: performance.now() - started };
}

/** What callAnswering takes after the server's URL: `headers` go beside the account's token. */
export type AnsweringCall = [
  method: string,
  path: string,
  account?: Account,
  body?: unknown,
  headers?: Record<string, string>,
];

/**
 * callJson, its answer checked to be a success or a problem that says what is wrong, never a 500: what the API must
 * do with any document an earlier version or a hand edit left. `headers` are sent beside the account's token.
 */
export async function callAnswering(url: string, ...[method, path, account, body, headers]: AnsweringCall) {
  const caller = { ...account, auth: { ...account?.auth, ...headers } } as Account;
  const reply = await callJson(url, method, path, caller, body);
  expect(reply.status, `${method} ${path}: ${JSON.stringify(reply.body)}`).toBeLessThan(500);
  if (reply.status >= 400) {
    expect(reply.contentType).toContain('application/problem+json');
    expect(reply.body.detail).toEqual(expect.any(String));
  }
  return reply;
}

/**
 * callAnswering whose every answer is also held to the API's OpenAPI document: a generated client decodes answers by
 * it, so one record an earlier version or a hand edit left must not make an answer it cannot decode. `take()` on the
 * returned conformance lists what disagreed since the last call.
 */
export async function documentedCalls(url: string) {
  const document = (await (await fetch(`${url}/docs/openapi.json`)).json()) as OpenApiDocument;
  const conformance = new OpenApiConformance(document);
  const call = async (...args: AnsweringCall) => {
    const reply = await callAnswering(url, ...args);
    const [method, path] = args;
    // The documented path: no query, an id (in either case) as `{id}`.
    const template = path.split('?')[0].replace(/\/[0-9a-f]{24}$/i, '/{id}');
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    conformance.check({ method, template, status: reply.status, headers: reply.headers, text });
    return reply;
  };
  return { call, conformance };
}
