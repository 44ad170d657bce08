import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pino from 'pino';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { LateAnswerAdapter } from './late-answer-adapter.js';
import { registerRequestDeadlines } from './request-deadlines.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const returned: string[] = [];
let lateStream: Readable | undefined;

@Controller()
class SlowController {
  @Get('late-json')
  async lateJson() {
    await pause(300);
    returned.push('json');
    return { late: true };
  }

  @Get('late-stream')
  async lateStream() {
    await pause(300);
    lateStream = Readable.from(['never sent']);
    returned.push('stream');
    return lateStream;
  }
}

@Module({ controllers: [SlowController] })
class SlowModule {}

describe('LateAnswerAdapter', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    returned.length = 0;
  });

  it('drops an answer that comes after the deadline answered, without a warning, and lets go of its stream', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    app = await NestFactory.create<NestFastifyApplication>(
      SlowModule,
      new LateAnswerAdapter({ loggerInstance: logger }),
      { logger: false },
    );
    registerRequestDeadlines(app.getHttpAdapter().getInstance(), loadConfig({ HANDLER_TIMEOUT_MS: '100' }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');

    for (const path of ['late-json', 'late-stream']) expect((await fetch(`${url}/${path}`)).status).toBe(503);
    await expect.poll(() => returned.length, { timeout: 3_000 }).toBe(2);
    await pause(50);
    expect(lines.filter((line) => line.includes('already sent'))).toEqual([]);
    expect(lateStream?.destroyed).toBe(true);
  });
});
