import type { ArgumentMetadata } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { globalValidationPipe } from '../../common/pipes/request-validation.pipe.js';
import { WebhookEventDto } from './webhook-event.dto.js';

const pipe = globalValidationPipe();
const body: ArgumentMetadata = { type: 'body', metatype: WebhookEventDto };
const USER = '665f1c2e8a1b2c3d4e5f6a7b';

describe('WebhookEventDto through the validation pipe', () => {
  it('takes an event whose unread fields hold a NUL or half an emoji, whether or not its type is acted on', async () => {
    const ignored = {
      id: 'evt_1',
      type: 'customer.updated',
      data: { object: { name: 'A\u0000B', note: 'Jos\ud83d' } },
    };
    expect({ ...((await pipe.transform(ignored, body)) as object) }).toEqual({
      id: 'evt_1',
      type: 'customer.updated',
    });
    const paid = {
      id: 'evt_2',
      type: 'invoice.paid',
      memo: 'A\u0000B',
      data: { userId: USER, chargeId: 'ch_1', customer: { name: 'Jos\ud83d' } },
    };
    const event = (await pipe.transform(paid, body)) as WebhookEventDto;
    expect({ ...event, data: { ...event.data } }).toEqual({
      id: 'evt_2',
      type: 'invoice.paid',
      data: { userId: USER, chargeId: 'ch_1' },
    });
  });
});
