import { Logger, type ArgumentsHost } from '@nestjs/common';
import { mongo } from 'mongoose';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ProblemDetailsFilter } from '../common/problem/problem-details.filter.js';
import { nestLogger } from './nest-logger.js';
import { createRootLogger } from './root-logger.js';

/**
 * The lines the process would write, through the root logger and Nest's Logger as the app builds them. One root
 * logger for the file: nestjs-pino keeps the first one a process gives it.
 */
const lines: string[] = [];
const stream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(String(chunk));
    done();
  },
});
Logger.overrideLogger(nestLogger(createRootLogger('info', stream)));

/** A 500 as the problem filter answers and logs an error no handler expected. */
function answerUnexpected(exception: unknown): void {
  const reply = { sent: false, status: vi.fn(), header: vi.fn(), removeHeader: vi.fn(), send: vi.fn() };
  reply.status.mockReturnValue(reply);
  reply.header.mockReturnValue(reply);
  const request = { id: 'req-1', method: 'POST', url: '/v1/auth/register' };
  const host = { switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }) };
  new ProblemDetailsFilter(new Registry()).catch(exception, host as unknown as ArgumentsHost);
}

/** MongoDB's E11000, worded as the server words it (FerretDB leaves the values out). */
function duplicateEmail(email: string): mongo.MongoServerError {
  return new mongo.MongoServerError({
    ok: 0,
    code: 11000,
    codeName: 'DuplicateKey',
    errmsg: `E11000 duplicate key error collection: vesta.users index: email_1 dup key: { email: "${email}" }`,
    keyPattern: { email: 1 },
    keyValue: { email },
  });
}

describe('the root logger', () => {
  beforeEach(() => {
    lines.length = 0;
  });

  it("keeps a document's values out of an unexpected error's line, and its class, code and stack in it", () => {
    answerUnexpected(duplicateEmail('ann.secret@example.com'));
    answerUnexpected(new Error('Registration failed', { cause: duplicateEmail('bob.secret@example.com') }));

    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).not.toContain('secret@example.com');
      const { err } = JSON.parse(line) as { err: Record<string, unknown> };
      expect(err.stack).toMatch(/\n\s+at /);
    }
    const [first] = lines.map((line) => (JSON.parse(line) as { err: Record<string, unknown> }).err);
    expect(first).toMatchObject({ type: 'MongoServerError', code: 11000, codeName: 'DuplicateKey' });
    expect(first.message).toContain('index: email_1 dup key: { [redacted] }');
  });

  it('redacts credentials in headers logged by hand, whatever their case, and cookies', () => {
    new Logger('Test').warn({ headers: { Authorization: 'Bearer live-token', cookie: 'sid=live-cookie' } }, 'x');
    new Logger('Test').warn({ response: { headers: { 'set-cookie': 'sid=live-cookie' } } }, 'y');
    expect(lines.join('')).not.toMatch(/live-token|live-cookie/);
  });
});
