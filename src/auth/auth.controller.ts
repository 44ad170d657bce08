import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CacheControl } from '../cache/http-cache.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { RequestAbandoned } from '../http/request-abandoned.decorator.js';
import { CredentialsThrottle } from '../throttling/credentials-throttle.decorator.js';
import type { AuthenticatedUser } from './authenticated-user.js';
import { AuthService } from './auth.service.js';
import { CurrentSession, CurrentUser } from './decorators/current-user.decorator.js';
import { HashesPasswords } from './decorators/hashes-passwords.decorator.js';
import { TokenIgnored } from './decorators/token-ignored.decorator.js';
import { AuthResponseDto } from './dto/auth-response.dto.js';
import { ChangePasswordDto } from './dto/change-password.dto.js';
import { CredentialsDto, LoginDto } from './dto/credentials.dto.js';
import type { TokenSession } from './session-state.js';

@ApiTags('auth')
@ApiBadRequestResponse({ type: ProblemResponseDto, description: 'Invalid fields' })
// Register, login and password change answer with an access token: `Cache-Control: no-store`, as RFC 6749 §5.1 asks of
// token responses, so that no cache or browser history keeps one.
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  // The credentials in the body are what counts: a client that sends its expired token along (an HTTP layer that adds
  // it to every call) must still be able to log in again. Until 2026-12-05 the guard answered it 401 "expired".
  @TokenIgnored()
  @Post('register')
  @CacheControl('no-store')
  @CredentialsThrottle()
  @HashesPasswords()
  @ApiOperation({ summary: 'Create an account (role user) and return an access token' })
  @ApiCreatedResponse({ type: AuthResponseDto })
  @ApiConflictResponse({ type: ProblemResponseDto, description: 'Email already registered' })
  register(@Body() body: CredentialsDto, @RequestAbandoned() abandoned: AbortSignal): Promise<AuthResponseDto> {
    return this.auth.register(body.email, body.password, abandoned);
  }

  @TokenIgnored()
  @Post('login')
  @CacheControl('no-store')
  @CredentialsThrottle({ failuresPerAccount: true })
  @HashesPasswords()
  @HttpCode(200)
  @ApiOperation({ summary: 'Exchange email and password for an access token' })
  @ApiOkResponse({ type: AuthResponseDto })
  @ApiUnauthorizedResponse({ type: ProblemResponseDto, description: 'Wrong email or password (never says which)' })
  login(@Body() body: LoginDto, @RequestAbandoned() abandoned: AbortSignal): Promise<AuthResponseDto> {
    return this.auth.login(body.email, body.password, abandoned);
  }

  @Post('logout')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({
    summary: "End this token's session: the token gets 401 on every instance; the account's other sessions go on",
    description:
      'A token issued before sessions had ids (no `sid` claim) names no session of its own: its logout ends every ' +
      'session of the account, as logout-all does.',
  })
  @ApiNoContentResponse({ description: 'Logged out; log in again for a new token' })
  @ApiUnauthorizedResponse({ type: ProblemResponseDto, description: 'No valid token' })
  logout(@CurrentUser() user: AuthenticatedUser, @CurrentSession() session: TokenSession): Promise<void> {
    return this.auth.logout(user.id, session);
  }

  @Post('logout-all')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'End every session of the account (log out everywhere): all its tokens issued so far get 401',
  })
  @ApiNoContentResponse({ description: 'Logged out everywhere, this token included; log in again for a new token' })
  @ApiUnauthorizedResponse({ type: ProblemResponseDto, description: 'No valid token' })
  logoutEverywhere(@CurrentUser() user: AuthenticatedUser): Promise<void> {
    return this.auth.logoutEverywhere(user.id);
  }

  @Post('password')
  @CacheControl('no-store')
  @CredentialsThrottle({ failuresPerAccount: true })
  @HashesPasswords()
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'Change the password: ends every session and returns a new token for the caller',
  })
  @ApiOkResponse({ type: AuthResponseDto, description: 'Changed; tokens issued before no longer work' })
  @ApiUnauthorizedResponse({ type: ProblemResponseDto, description: 'No valid token' })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'The current password is wrong' })
  changePassword(
    @CurrentUser() user: AuthenticatedUser,
    @Body() body: ChangePasswordDto,
    @RequestAbandoned() abandoned: AbortSignal,
  ): Promise<AuthResponseDto> {
    return this.auth.changePassword(user.id, body.currentPassword, body.newPassword, abandoned);
  }
}
