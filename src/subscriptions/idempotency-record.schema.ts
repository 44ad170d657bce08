import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * The first answer to a request made with an Idempotency-Key, per member and key (`_id` is
 * `<userId>:<key>`: inserting it is the atomic claim, on MongoDB and FerretDB alike).
 * `expiresAt` is for a cleanup job: FerretDB has no TTL indexes.
 */
@Schema({ collection: 'idempotency_keys', timestamps: true })
export class IdempotencyRecord {
  @Prop({ type: String, required: true })
  _id: string;

  /** SHA-256 of the request body: the same key with another body is a client bug (422). */
  @Prop({ required: true })
  requestHash: string;

  @Prop({ type: String, required: true, enum: ['in_progress', 'done'] })
  state: 'in_progress' | 'done';

  @Prop({ type: Object, default: null })
  response: { status: number; body: unknown } | null;

  /** The request running under the key while `in_progress`: only it may store the answer or release the key. */
  @Prop({ type: String, default: null })
  lockedBy: string | null;

  /** Past this, the request that holds the key is presumed dead and a retry takes the key over. */
  @Prop({ type: Date, default: null })
  lockedUntil: Date | null;

  @Prop({ required: true, index: true })
  expiresAt: Date;
}

export const IdempotencyRecordSchema = SchemaFactory.createForClass(IdempotencyRecord);
