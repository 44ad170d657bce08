import { BadRequestException } from '@nestjs/common';
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { FORBIDDEN_KEY_DETAIL, jsonBodyParser, NOT_UTF8_DETAIL } from './json-body-parser.js';

const parser = jsonBodyParser(Fastify());

/** What the parser hands Fastify: the body, or the error's class, status and message. */
function parse(text: string | Buffer): unknown {
  let outcome: unknown;
  void parser({} as FastifyRequest, Buffer.from(text), (error: Error | null, body?: unknown) => {
    outcome = error
      ? { error: error.constructor.name, status: (error as { statusCode?: number }).statusCode, message: error.message }
      : { body };
  });
  return outcome;
}

describe('jsonBodyParser', () => {
  it('parses JSON as Fastify does', () => {
    expect(parse('{"email":"a@b.co","n":[1,2]}')).toEqual({ body: { email: 'a@b.co', n: [1, 2] } });
  });

  it('says that __proto__ and constructor.prototype keys are refused, at any depth, as a 400', () => {
    for (const text of [
      '{"email":"a@b.co","__proto__":{"admin":true}}',
      '{"a":[{"__proto__":1}]}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '\uFEFF{"__proto__":1}',
    ]) {
      expect(parse(text), text).toEqual({
        error: BadRequestException.name,
        status: undefined,
        message: FORBIDDEN_KEY_DETAIL,
      });
    }
  });

  it('still calls broken JSON what Fastify calls it', () => {
    const notJson = { status: 400, message: expect.stringMatching(/not valid JSON/) as unknown };
    expect(parse('{"email":')).toMatchObject(notJson);
    expect(parse('{"__proto__":')).toMatchObject(notJson);
    expect(parse(' ')).toMatchObject(notJson);
  });

  it('refuses a body that is not UTF-8 instead of storing U+FFFD where its bytes were', () => {
    const notUtf8 = { error: BadRequestException.name, status: undefined, message: NOT_UTF8_DETAIL };
    // "café" in Latin-1, an overlong "/", a surrogate encoded as UTF-8 (CESU-8), a sequence cut short.
    for (const bytes of ['63 61 66 e9', 'c0 af', 'ed a0 80', 'e2 82']) {
      const body = Buffer.concat([
        Buffer.from('{"bio":"'),
        Buffer.from(bytes.replace(/ /g, ''), 'hex'),
        Buffer.from('"}'),
      ]);
      expect(parse(body), bytes).toEqual(notUtf8);
    }
    expect(parse('\uFEFF{"bio":"café ☕ 🙂"}')).toEqual({ body: { bio: 'café ☕ 🙂' } });
  });

  it('reads an empty body as no body, as it is without the content type', () => {
    expect(parse('')).toEqual({ body: undefined });
  });

  it('takes a constructor key that holds no prototype', () => {
    expect(parse('{"constructor":"x"}')).toEqual({ body: { constructor: 'x' } });
  });
});
