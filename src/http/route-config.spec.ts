import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants.js';
import { describe, expect, it } from 'vitest';
import { CacheControl } from '../cache/http-cache.js';
import { FileUpload } from './request-deadlines.js';

describe('route config decorators', () => {
  it('keep each other’s part of the Fastify route config, in either order', () => {
    class Routes {
      @CacheControl('public', 60)
      @FileUpload()
      cacheFirst(): void {}

      @FileUpload()
      @CacheControl('private')
      transferFirst(): void {}
    }
    const configOf = (handler: () => void): unknown => Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler);
    expect(configOf(Routes.prototype.cacheFirst)).toEqual({
      fileUpload: true,
      cacheControl: { policy: 'public', maxAgeS: 60 },
    });
    expect(configOf(Routes.prototype.transferFirst)).toEqual({
      fileUpload: true,
      cacheControl: { policy: 'private', maxAgeS: undefined },
    });
  });
});
