import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { OptionalNotNull } from '../../common/validation/optional-not-null.js';
import { VISIBILITIES, type Visibility } from '../profile.schema.js';
import { CreateProfileDto } from './create-profile.dto.js';

/**
 * Any subset of the create fields; `location` is replaced as a whole. `skipNullProperties: false` makes the fields
 * optional with ValidateIf(not undefined) instead of IsOptional, which also lets null through: a `null` would be
 * stored, and no field of a profile can be cleared.
 */
export class UpdateProfileDto extends PartialType(OmitType(CreateProfileDto, ['visibility']), {
  skipNullProperties: false,
}) {
  // Declared again, without the create's `default: public`: left out of a PATCH, the visibility stays as it is, and
  // a default there made generated clients send it (openapi-typescript types a field with a default as required).
  @ApiPropertyOptional({
    enum: VISIBILITIES,
    description:
      'hidden: only you and admins see the profile (photos already seen stay downloadable by their ids until you ' +
      'delete them); left out: unchanged',
  })
  @OptionalNotNull()
  @IsIn(VISIBILITIES)
  visibility?: Visibility;
}
