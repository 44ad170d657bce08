import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** A provider event taken for processing; `_id` is `<provider>:<event id>`, so inserting it is the claim. */
@Schema({ collection: 'webhook_events', timestamps: true })
export class WebhookEvent {
  @Prop({ type: String, required: true })
  _id: string;

  @Prop({ required: true })
  type: string;

  createdAt: Date;
}

export const WebhookEventSchema = SchemaFactory.createForClass(WebhookEvent);
WebhookEventSchema.index({ createdAt: 1 });
