import { BadRequestException, Get, Param, Query, type ExecutionContext } from '@nestjs/common';
import { IsOptional, IsString } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { guardRefusal } from '../problem/guard-refusal.fixture-spec.js';
import { QUERY_NOT_DECODED, UnknownQueryParamsGuard } from './unknown-query-params.guard.js';

class SearchQuery {
  @IsOptional()
  @IsString()
  city?: string;
}

class Routes {
  @Get()
  withDto(@Query() query: SearchQuery) {
    return query;
  }

  @Get()
  named(@Query('page') page: string, @Query('sort') sort: string) {
    return [page, sort];
  }

  @Get(':id')
  none(@Param('id') id: string) {
    return id;
  }
}

const guard = new UnknownQueryParamsGuard();

/** The refused names, or undefined when the guard lets the request through. */
function refused(handler: keyof Routes, query: Record<string, string>, url = '/v1/things'): string[] | undefined {
  const request = { query, url: `${url}?${new URLSearchParams(query).toString()}`, routeOptions: { url } };
  return guardRefusal(guard, Routes, handler, request)?.map((entry) => entry.field);
}

describe('UnknownQueryParamsGuard', () => {
  it('refuses every parameter of a route that reads none, naming each', () => {
    expect(refused('none', { fields: 'bio', _: '1' })).toEqual(['fields', '_']);
    expect(refused('none', {})).toBeUndefined();
  });

  it('takes the names a route reads one by one, and only those', () => {
    expect(refused('named', { page: '2', sort: 'new' })).toBeUndefined();
    expect(refused('named', { page: '2', limit: '5' })).toEqual(['limit']);
  });

  it('leaves a route with a query DTO to the validation pipe', () => {
    expect(refused('withDto', { limt: '5' })).toBeUndefined();
  });

  it('refuses a query string that does not decode, on routes with a query DTO too', () => {
    // As Fastify hands it over: fast-querystring keeps a value it cannot decode as it was sent.
    const request = { query: { city: 'caf%E9' }, url: '/v1/things?city=caf%E9', routeOptions: { url: '/v1/things' } };
    const context = {
      switchToHttp: () => ({ getRequest: () => request }),
      getClass: () => Routes,
      getHandler: () => Routes.prototype.withDto,
    } as unknown as ExecutionContext;
    expect(() => guard.canActivate(context)).toThrow(new BadRequestException(QUERY_NOT_DECODED));
  });

  it('applies to /v1 routes only', () => {
    expect(refused('none', { probe: '1' }, '/health/live')).toBeUndefined();
  });
});
