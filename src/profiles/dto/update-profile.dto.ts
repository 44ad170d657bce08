import { PartialType } from '@nestjs/swagger';
import { CreateProfileDto } from './create-profile.dto.js';

/**
 * Any subset of the create fields; `location` is replaced as a whole. `skipNullProperties: false` makes the fields
 * optional with ValidateIf(not undefined) instead of IsOptional, which also lets null through: a `null` would be
 * stored, and no field of a profile can be cleared.
 */
export class UpdateProfileDto extends PartialType(CreateProfileDto, { skipNullProperties: false }) {}
