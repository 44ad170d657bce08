import { ApiProperty } from '@nestjs/swagger';
import { ROLES, type Role } from '../../users/user.schema.js';

export class UserResponseDto {
  @ApiProperty({ example: '665f1c2e8a1b2c3d4e5f6a7b' })
  id: string;

  @ApiProperty({ example: 'ann@example.com' })
  email: string;

  @ApiProperty({ enum: ROLES })
  role: Role;

  @ApiProperty()
  createdAt: Date;
}

export class AuthResponseDto {
  @ApiProperty({ description: 'JWT (HS256) for Authorization: Bearer <token>' })
  accessToken: string;

  @ApiProperty({ type: 'integer', example: 900, description: 'Seconds until the token expires' })
  expiresIn: number;

  @ApiProperty({ type: UserResponseDto })
  user: UserResponseDto;
}
