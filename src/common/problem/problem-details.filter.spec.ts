import { Registry } from 'prom-client';
import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  InternalServerErrorException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { ArgumentsHost } from '@nestjs/common';
import { describe, expect, it, vi } from 'vitest';
import { mongo } from 'mongoose';
import { failureOf } from '../../http/request-failure.js';
import { ProblemDetailsFilter } from './problem-details.filter.js';

function render(exception: unknown, { sent = false, registry = new Registry() } = {}) {
  const reply = { sent, status: vi.fn(), header: vi.fn(), removeHeader: vi.fn(), send: vi.fn() };
  reply.status.mockReturnValue(reply);
  reply.header.mockReturnValue(reply);
  const request = { id: 'req-1', method: 'GET', url: '/v1/profiles/abc?fields=x' };
  const host = {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }),
  } as unknown as ArgumentsHost;
  const filter = new ProblemDetailsFilter(registry);
  // Unexpected errors are logged; keep the test output clean.
  const logger = (filter as unknown as { logger: { error: () => void; warn: () => void } }).logger;
  const logged = {
    error: vi.spyOn(logger, 'error').mockImplementation(() => undefined),
    warn: vi.spyOn(logger, 'warn').mockImplementation(() => undefined),
  };
  filter.catch(exception, host);
  return {
    logged,
    failure: failureOf(request as never),
    status: reply.status.mock.calls[0]?.[0] as number,
    contentType: reply.header.mock.calls.find(([name]) => name === 'content-type')?.[1] as string,
    headers: Object.fromEntries(reply.header.mock.calls as [string, string][]),
    removed: reply.removeHeader.mock.calls.map(([name]) => name as string),
    body: reply.send.mock.calls[0]?.[0] as Record<string, unknown>,
  };
}

describe('ProblemDetailsFilter', () => {
  it('neither answers nor counts an error of a request its deadline has answered already', async () => {
    const lostConnection = () => new mongo.MongoNetworkError('connection 10 to 127.0.0.1:27017 closed');
    const errorsCounted = async (sent: boolean) => {
      const registry = new Registry();
      const rendered = render(lostConnection(), { sent, registry });
      return { rendered, metric: await registry.getSingleMetricAsString('http_errors_total') };
    };
    const late = await errorsCounted(true);
    expect(late.rendered.status).toBeUndefined();
    expect(late.rendered.body).toBeUndefined();
    expect(late.metric).not.toMatch(/status_code/);
    expect((await errorsCounted(false)).metric).toMatch(/status_code="503"\} 1/);
  });

  it('answers a lost database connection with 503 and Retry-After, not 500', () => {
    for (const error of [
      new mongo.MongoNetworkError('connection 10 to 127.0.0.1:27017 closed'),
      new mongo.MongoServerSelectionError('Server selection timed out after 5000 ms', {
        type: 'Unknown',
        servers: new Map(),
        stale: false,
        compatible: true,
        heartbeatFrequencyMS: 10_000,
        localThresholdMS: 15,
      } as unknown as mongo.TopologyDescription),
      // What the driver throws, unwrapped, when it writes to a connection the server has just closed.
      Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' }),
      // A replica set failover that outlasted the driver's one retry.
      new mongo.MongoServerError({ code: 10107, codeName: 'NotWritablePrimary', errmsg: 'not primary' }),
      new mongo.MongoServerError({ code: 11602, codeName: 'InterruptedDueToReplStateChange', errmsg: 'interrupted' }),
    ]) {
      const { status, body, headers } = render(error);
      expect(status).toBe(503);
      expect(body.detail).toBe('The database is not answering; retry in a few seconds');
      expect(headers['retry-after']).toBe('5');
    }
    // Any other server error is ours to fix, not an outage.
    expect(render(new mongo.MongoServerError({ code: 2, codeName: 'BadValue', errmsg: 'bad value' })).status).toBe(500);
  });

  it('answers an operation on the closed MongoDB client of a shutdown 503, without logging an error', () => {
    for (const error of [
      new mongo.MongoClientClosedError(),
      new mongo.MongoTopologyClosedError(),
      new mongo.MongoNotConnectedError('Client must be connected before running operations'),
      new mongo.MongoExpiredSessionError(),
    ]) {
      const { status, body, headers, logged } = render(error);
      expect(status).toBe(503);
      expect(body.detail).toBe('Shutting down; retry in 5 s');
      expect(headers['retry-after']).toBe('5');
      expect(logged.error).not.toHaveBeenCalled();
    }
  });

  it("gives a 5xx answer's request line the failure, a database's with its message, and logs no line of its own", () => {
    const outage = render(new mongo.MongoNetworkError('connection 10 to 127.0.0.1:27017 closed'));
    expect(outage.failure).toBe('MongoNetworkError: connection 10 to 127.0.0.1:27017 closed');
    expect(outage.logged.warn).not.toHaveBeenCalled();
    expect(outage.logged.error).not.toHaveBeenCalled();
    // A bug's message may quote input, and its stack goes to the error line that names the request id.
    const bug = render(new TypeError('Cannot read properties of undefined'));
    expect(bug.failure).toBe('TypeError');
    expect(bug.logged.error).toHaveBeenCalledOnce();
    expect(render(new ServiceUnavailableException('Overloaded')).failure).toBe('ServiceUnavailableException');
    expect(render(new BadRequestException('bad')).failure).toBeUndefined();
  });

  it('drops the validators and caching of the success a handler was preparing (a download failing to start)', () => {
    const { status, removed } = render(new ServiceUnavailableException('The database is not answering'));
    expect(status).toBe(503);
    expect(removed).toEqual(expect.arrayContaining(['etag', 'last-modified', 'content-range', 'cache-control']));
  });

  it('says when to retry on every 503, not only on lost database connections', () => {
    expect(render(new ServiceUnavailableException('A change is waiting for its lock')).headers['retry-after']).toBe(
      '5',
    );
    expect(render(new HttpException('upstream', 502)).headers['retry-after']).toBeUndefined();
  });

  it('renders an HttpException as RFC 9457 problem+json with the request id and path', () => {
    const { status, contentType, body } = render(new ForbiddenException('Only the owner may change this profile'));
    expect(status).toBe(403);
    expect(contentType).toMatch(/^application\/problem\+json/);
    expect(body).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'Only the owner may change this profile',
      instance: '/v1/profiles/abc',
      requestId: 'req-1',
    });
  });

  it('keeps field errors and a specific type from a validation failure', () => {
    const errors = [{ field: 'email', message: 'email must be an email' }];
    const { body } = render(new BadRequestException({ type: '/problems/validation-failed', detail: 'bad', errors }));
    expect(body).toMatchObject({ type: '/problems/validation-failed', status: 400, detail: 'bad', errors });
    expect(body).not.toHaveProperty('statusCode');
    expect(body).not.toHaveProperty('message');
  });

  it("maps Fastify's own client errors (e.g. body too large) to their 4xx status", () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      statusCode: 413,
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
    });
    const { status, body } = render(tooLarge);
    expect(status).toBe(413);
    expect(body).toMatchObject({ title: 'Payload Too Large', detail: 'Request body is too large' });
  });

  it('hides internals of unexpected errors behind a generic 500', () => {
    const { status, body } = render(new Error('connect ECONNREFUSED mongodb://admin:hunter2@db'));
    expect(status).toBe(500);
    expect(JSON.stringify(body)).not.toContain('hunter2');
    expect(body).toMatchObject({ title: 'Internal Server Error', requestId: 'req-1' });
  });

  it('hides the detail of a deliberate 500 too, but explains a 503', () => {
    expect(render(new InternalServerErrorException('pool exhausted at db-3')).body.detail).not.toContain('db-3');
    const unavailable = render(
      new ServiceUnavailableException({ detail: 'Not ready: mongodb failing', failing: ['mongodb'] }),
    );
    expect(unavailable.body).toMatchObject({ status: 503, detail: 'Not ready: mongodb failing', failing: ['mongodb'] });
  });

  it('keeps the status of other 5xx exceptions', () => {
    expect(render(new HttpException('upstream', 502)).status).toBe(502);
  });
});
