import { Global, Module } from '@nestjs/common';
import { ReadinessState } from './readiness-state.js';
import { ShutdownSteps } from './shutdown-steps.js';

/** Global so the HTTP hooks, health checks and every module that closes a connection share one shutdown state. */
@Global()
@Module({ providers: [ReadinessState, ShutdownSteps], exports: [ReadinessState, ShutdownSteps] })
export class LifecycleModule {}
