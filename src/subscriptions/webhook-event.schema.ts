import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * A provider event taken for processing; `_id` is `<provider>:<event id>`, so inserting it is the claim. `claimed`
 * while a delivery applies it (held by `owner` until `leaseUntil`), `applied` once it has changed what it changes.
 * Claims written before states existed have none and count as applied.
 */
@Schema({ collection: 'webhook_events', timestamps: true })
export class WebhookEvent {
  @Prop({ type: String, required: true })
  _id: string;

  @Prop({ required: true })
  type: string;

  @Prop({ type: String, enum: ['claimed', 'applied'] })
  state?: 'claimed' | 'applied';

  @Prop({ type: String })
  owner?: string;

  @Prop({ type: Date })
  leaseUntil?: Date;

  createdAt: Date;
}

export const WebhookEventSchema = SchemaFactory.createForClass(WebhookEvent);
WebhookEventSchema.index({ createdAt: 1 });
