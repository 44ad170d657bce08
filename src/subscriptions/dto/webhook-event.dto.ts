import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength, ValidateBy, ValidateIf } from 'class-validator';
import { Transform } from 'class-transformer';
import { lowerCaseIds } from '../../common/validation/lower-case.js';
import { IgnoresUnknownFields } from '../../common/validation/ignores-unknown-fields.js';
import { NestedObject } from '../../common/validation/nested-object.js';
import { IsObjectId } from '../../common/validation/object-id.js';
import { OBJECT_ID_PATTERN } from '../../common/pipes/parse-object-id.pipe.js';

/** The event types this API acts on; the provider's other types are acknowledged and ignored (isHandledEvent). */
export const WEBHOOK_EVENT_TYPES = ['invoice.paid', 'invoice.payment_failed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Ids the provider gives events and charges. */
const PROVIDER_ID = /^[\w-]+$/;
const EVENT_TYPE = /^[\w.-]+$/;

class WebhookEventDataDto {
  @ApiProperty({ pattern: OBJECT_ID_PATTERN, description: 'The member the invoice is for' })
  @Transform(lowerCaseIds)
  @IsObjectId()
  userId: string;

  @ApiPropertyOptional({
    maxLength: 200,
    pattern: PROVIDER_ID.source,
    description: 'The renewal charge: required for invoice.paid',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(PROVIDER_ID)
  chargeId?: string;
}

/**
 * Written by the payment provider, which adds fields to its events over time: a field this API does not know, at the
 * top or inside `data`, is dropped. Refused, the event would be refused on every retry and its payment lost.
 */
@IgnoresUnknownFields()
export class WebhookEventDto {
  @ApiProperty({ example: 'evt_123', maxLength: 200, pattern: PROVIDER_ID.source })
  @IsString()
  @MaxLength(200)
  @Matches(PROVIDER_ID)
  id: string;

  @ApiProperty({
    example: 'invoice.paid',
    maxLength: 100,
    pattern: EVENT_TYPE.source,
    description: `Acted on: ${WEBHOOK_EVENT_TYPES.join(', ')}. Other types are acknowledged and ignored.`,
  })
  @IsString()
  @MaxLength(100)
  @Matches(EVENT_TYPE)
  type: string;

  @ApiPropertyOptional({ type: WebhookEventDataDto, description: 'Required, as described, for the types acted on' })
  // Refused here, before the event id is claimed: a claimed event that cannot apply would make the provider's
  // corrected redelivery a duplicate, and the payment it reports would be lost. Other types carry data of their own.
  @ValidateIf(isHandledEvent)
  @NestedObject(() => WebhookEventDataDto)
  @ChargeIdWhenPaid()
  // Dropped for the other types, which nothing reads: left unvalidated it would keep every field it has, and a NUL or
  // half an emoji in one would make the event a 400 (the pipe checks the text of what a tolerant body keeps).
  @Transform(({ value, obj }: { value: unknown; obj: WebhookEventDto }) => (isHandledEvent(obj) ? value : undefined))
  data?: WebhookEventDataDto;
}

/** An event of a type this API acts on, its data validated. */
export type HandledWebhookEvent = WebhookEventDto & { type: WebhookEventType; data: WebhookEventDataDto };

export function isHandledEvent(event: WebhookEventDto): event is HandledWebhookEvent {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(event.type);
}

/**
 * A renewal is applied once per charge, and a charge that buys nothing is refunded: both need the charge's id. Without
 * it each delivery of the payment under a new event id renewed the subscription again, and nothing could be refunded.
 */
function ChargeIdWhenPaid(): PropertyDecorator {
  return ValidateBy({
    name: 'chargeIdWhenPaid',
    validator: {
      validate: (data: unknown, args) =>
        (args?.object as Partial<WebhookEventDto>).type !== 'invoice.paid' ||
        typeof (data as Partial<WebhookEventDataDto> | null)?.chargeId === 'string',
      defaultMessage: () => 'data.chargeId is required for invoice.paid',
    },
  });
}

/** The answer to a delivery: `duplicate` when this event was applied before (nothing was done again). */
export class WebhookReceiptDto {
  @ApiProperty({ enum: [true] }) received: true;
  @ApiProperty() duplicate: boolean;
  @ApiPropertyOptional({
    enum: [true],
    description: 'Sent when the event is of a type this API does not act on: nothing was done; absent otherwise',
  })
  ignored?: true;
}
