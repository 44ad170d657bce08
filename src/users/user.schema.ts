import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** What an account is unless made admin; also what one stored without a role (or with one unknown here) reads as. */
export const DEFAULT_ROLE: Role = 'user';

@Schema({ collection: 'users', timestamps: true })
export class User {
  /** Stored normalised (src/users/email.ts), so the unique index treats look-alike spellings as one on both servers. */
  @Prop({ required: true, unique: true })
  email: string;

  @Prop({ required: true })
  passwordHash: string;

  @Prop({ type: String, required: true, enum: ROLES, default: DEFAULT_ROLE })
  role: Role;

  /**
   * Raised (with $inc) to end every session: access tokens carry the version they were issued under (claim `sv`) and
   * JwtAuthGuard refuses any other. Documents from before it have none, which counts as 0, as do tokens without `sv`.
   */
  @Prop({ type: Number, required: true, default: 0, min: 0 })
  sessionVersion: number;

  createdAt: Date;
  updatedAt: Date;
}

export const UserSchema = SchemaFactory.createForClass(User);
