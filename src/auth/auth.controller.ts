import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { CredentialsThrottle } from '../throttling/credentials-throttle.decorator.js';
import { AuthService } from './auth.service.js';
import { Public } from './decorators/public.decorator.js';
import { AuthResponseDto } from './dto/auth-response.dto.js';
import { CredentialsDto } from './dto/credentials.dto.js';

@ApiTags('auth')
@ApiBadRequestResponse({ type: ProblemResponseDto, description: 'Invalid fields' })
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Public()
  @Post('register')
  @CredentialsThrottle()
  @ApiOperation({ summary: 'Create an account (role user) and return an access token' })
  @ApiCreatedResponse({ type: AuthResponseDto })
  @ApiConflictResponse({ type: ProblemResponseDto, description: 'Email already registered' })
  register(@Body() body: CredentialsDto): Promise<AuthResponseDto> {
    return this.auth.register(body.email, body.password);
  }

  @Public()
  @Post('login')
  @CredentialsThrottle()
  @HttpCode(200)
  @ApiOperation({ summary: 'Exchange email and password for an access token' })
  @ApiOkResponse({ type: AuthResponseDto })
  @ApiUnauthorizedResponse({ type: ProblemResponseDto, description: 'Wrong email or password (never says which)' })
  login(@Body() body: CredentialsDto): Promise<AuthResponseDto> {
    return this.auth.login(body.email, body.password);
  }
}
