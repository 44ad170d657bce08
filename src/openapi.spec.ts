import { Controller, Get } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiBearerAuth } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiOptionalBearerAuth } from './auth/decorators/optional-bearer-auth.decorator.js';
import { Public } from './auth/decorators/public.decorator.js';
import { TokenIgnored } from './auth/decorators/token-ignored.decorator.js';
import { setupOpenApi } from './openapi.js';

// As `npm run generate -- controller` leaves one: no OpenAPI auth decorator, yet the global JwtAuthGuard wants a token.
@Controller('gadgets')
class GadgetsController {
  @Get()
  list() {}

  @Public()
  @Get('open')
  open() {}

  @Public()
  @ApiOptionalBearerAuth()
  @Get('optional')
  optional() {}

  @TokenIgnored()
  @Get('ignored')
  ignored() {}

  @ApiBearerAuth()
  @Get('declared')
  declared() {}
}

@Public()
@Controller('catalogue')
class CatalogueController {
  @Get()
  list() {}
}

describe('OpenAPI security', () => {
  let app: NestFastifyApplication;
  let paths: Record<string, { get: { security?: unknown[]; responses: Record<string, { description?: string }> } }>;

  beforeAll(async () => {
    const module = await Test.createTestingModule({ controllers: [GadgetsController, CatalogueController] }).compile();
    app = module.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    setupOpenApi(app);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const response = await app.inject({ method: 'GET', url: '/docs/openapi.json' });
    ({ paths } = response.json<{ paths: typeof paths }>());
  });

  afterAll(() => app?.close());

  it('says a route needs a token unless it is @Public() or @TokenIgnored(), as the auth guard decides', () => {
    expect(paths['/gadgets'].get.security).toEqual([{ bearer: [] }]);
    expect(paths['/gadgets'].get.responses['401'].description).toMatch(/^A missing token/);
    expect(paths['/gadgets/open'].get.security).toBeUndefined();
    expect(paths['/gadgets/optional'].get.security).toEqual([{}, { bearer: [] }]);
    expect(paths['/gadgets/ignored'].get.security).toBeUndefined();
    expect(paths['/gadgets/declared'].get.security).toEqual([{ bearer: [] }]);
    expect(paths['/catalogue'].get.security).toBeUndefined();
  });
});
