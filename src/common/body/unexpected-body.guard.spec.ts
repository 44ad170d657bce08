import { Body, Post, RawBody } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { guardRefusal } from '../problem/guard-refusal.fixture-spec.js';
import { UnexpectedBodyGuard } from './unexpected-body.guard.js';

class Routes {
  @Post()
  withBody(@Body() body: object) {
    return body;
  }

  @Post()
  withField(@Body('name') name: string) {
    return name;
  }

  @Post()
  withRawBody(@RawBody() body: Buffer) {
    return body;
  }

  @Post()
  none() {
    return 'done';
  }
}

const guard = new UnexpectedBodyGuard();

/** The `errors` of the refusal, or undefined when the guard lets the request through. */
const refused = (handler: keyof Routes, body: unknown, config: { fileUpload?: boolean } = {}) =>
  guardRefusal(guard, Routes, handler, { body, routeOptions: { config } });

describe('UnexpectedBodyGuard', () => {
  it('leaves an upload route, which reads its multipart body itself, to refuse a body of another type (415)', () => {
    expect(refused('none', { file: 'iVBORw0KGgo=' }, { fileUpload: true })).toBeUndefined();
  });

  it('refuses a body on a route that takes none, naming each field', () => {
    expect(refused('none', { all: true, reason: 'x' })).toEqual([
      { field: 'all', message: 'property all should not exist' },
      { field: 'reason', message: 'property reason should not exist' },
    ]);
  });

  it('refuses any other JSON value there, null included', () => {
    for (const body of [[], [1], 'text', 0, false, null]) {
      expect(refused('none', body), JSON.stringify(body)).toEqual([
        { field: 'body', message: 'body should not exist' },
      ]);
    }
  });

  it('takes no body and {} as no body', () => {
    expect(refused('none', undefined)).toBeUndefined();
    expect(refused('none', {})).toBeUndefined();
  });

  it('leaves routes with a body parameter to the validation pipe', () => {
    expect(refused('withBody', { anything: 1 })).toBeUndefined();
    expect(refused('withField', { name: 'Ann', other: 1 })).toBeUndefined();
    expect(refused('withRawBody', [1, 2])).toBeUndefined();
  });
});
