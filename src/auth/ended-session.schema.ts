import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

/**
 * A session ended by its own logout, one document each (`_id` is the token's `sid`), not a list on the account: two
 * logouts at once then insert two documents, which neither server can lose, where rewriting one list is a lost update
 * on FerretDB (it reads, modifies and writes a document without a lock, whatever the filter says). Needed only while
 * the session's token could still be used; `expiresAt` is for the purge: FerretDB has no TTL indexes.
 */
@Schema({ collection: 'ended_sessions', versionKey: false })
export class EndedSession {
  @Prop({ type: String, required: true })
  _id: string;

  @Prop({ type: Types.ObjectId, required: true, index: true })
  userId: Types.ObjectId;

  /** The account's session version the token carried: once the version is raised, the record no longer matters. */
  @Prop({ type: Number, required: true, min: 0 })
  sessionVersion: number;

  /** The token's `exp`. */
  @Prop({ type: Date, required: true, index: true })
  expiresAt: Date;
}

export const EndedSessionSchema = SchemaFactory.createForClass(EndedSession);
