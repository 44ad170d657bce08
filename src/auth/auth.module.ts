import { createSecretKey } from 'node:crypto';
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { MongooseModule } from '@nestjs/mongoose';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { CacheModule } from '../cache/cache.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { UsersModule } from '../users/users.module.js';
import { AdminBootstrapService } from './admin-bootstrap.service.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { EndedSession, EndedSessionSchema } from './ended-session.schema.js';
import { EndedSessionsRepository } from './ended-sessions.repository.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import { PasswordHasher } from './password-hasher.js';
import { PasswordHashingAdmission } from './password-hashing-admission.js';
import { RolesGuard } from './roles.guard.js';
import { SessionsService } from './sessions.service.js';

const TOKEN_ISSUER = 'vesta-api';

@Module({
  imports: [
    UsersModule,
    CacheModule,
    MetricsModule,
    MongooseModule.forFeature([{ name: EndedSession.name, schema: EndedSessionSchema }]),
    JwtModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: ({ auth }: AppConfig) => {
        // A KeyObject, not the string: given a string, jsonwebtoken first tries to parse it as a
        // public key and throws, on every verify (~0.5 ms; most of a cached request's CPU).
        const key = createSecretKey(Buffer.from(auth.jwtSecret, 'utf8'));
        return {
          secretOrKeyProvider: () => key,
          signOptions: {
            algorithm: 'HS256',
            expiresIn: auth.accessTokenTtlS,
            issuer: TOKEN_ISSUER,
            audience: TOKEN_ISSUER,
          },
          verifyOptions: { algorithms: ['HS256'], issuer: TOKEN_ISSUER, audience: TOKEN_ISSUER },
        };
      },
    }),
  ],
  controllers: [AuthController],
  providers: [
    AuthService,
    SessionsService,
    EndedSessionsRepository,
    PasswordHasher,
    PasswordHashingAdmission,
    AdminBootstrapService,
    // Order matters: authentication first, then roles.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
  ],
})
export class AuthModule {}
