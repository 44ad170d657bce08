import { PartialType } from '@nestjs/swagger';
import { CreateProfileDto } from './create-profile.dto.js';

/** Any subset of the create fields; `location` is replaced as a whole. */
export class UpdateProfileDto extends PartialType(CreateProfileDto) {}
