import { Global, Module } from '@nestjs/common';
import { ReadinessState } from './readiness-state.js';

/** Global so the HTTP hooks, health checks and (later) queue workers share one readiness flag. */
@Global()
@Module({ providers: [ReadinessState], exports: [ReadinessState] })
export class LifecycleModule {}
