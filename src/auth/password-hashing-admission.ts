import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AdmissionAbandonedError, AdmissionRefusedError, BoundedAdmission } from '../common/bounded-admission.js';
import { UNAVAILABLE_RETRY_AFTER_S } from '../common/problem/problem-details.js';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { METRICS_REGISTRY } from '../metrics/metrics.constants.js';

/**
 * Its own class, so that `http_errors_total{class="PasswordHashingBusyException"}` counts these refusals. A 503 like a
 * deadline's: the problem filter adds `Retry-After`.
 */
export class PasswordHashingBusyException extends ServiceUnavailableException {}

/**
 * The request was abandoned (its client left, or its deadline answered it) while its hash waited for a slot: it left
 * the queue. Its own class so that http_errors_total tells it from a refusal; nobody receives the 503.
 */
export class PasswordHashingAbandonedException extends ServiceUnavailableException {}

/**
 * PASSWORD_HASH_CONCURRENCY hashes at once, PASSWORD_HASH_QUEUE_LIMIT callers waiting, none longer than
 * PASSWORD_HASH_MAX_WAIT_MS. argon2 runs on libuv's threadpool (4 threads unless UV_THREADPOOL_SIZE says otherwise),
 * which response compression, file reads and DNS lookups share: unbounded, a burst of logins held every thread and
 * queued hashes for seconds, past the request deadline (docs/decisions/0032).
 */
@Injectable()
export class PasswordHashingAdmission {
  private readonly admission: BoundedAdmission;

  constructor(@InjectConfig() config: AppConfig, @Inject(METRICS_REGISTRY) registry: Registry) {
    const refused = new Counter({
      name: 'password_hashing_refused_total',
      help: 'Password checks and hashes refused with 503, by reason: queue_full, or wait_timeout (no slot in time)',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Both reasons from the start, so rate() sees the first refusal.
    for (const reason of ['queue_full', 'wait_timeout']) refused.inc({ reason }, 0);
    const admission = new BoundedAdmission(config.auth.passwordHashing, (reason) => refused.inc({ reason }));
    new Gauge({
      name: 'password_hashing_in_flight',
      help: 'Password hashes and checks running (at most PASSWORD_HASH_CONCURRENCY)',
      registers: [registry],
      collect() {
        this.set(admission.inFlight);
      },
    });
    new Gauge({
      name: 'password_hashing_waiting',
      help: 'Password hashes and checks waiting for a slot (at most PASSWORD_HASH_QUEUE_LIMIT)',
      registers: [registry],
      collect() {
        this.set(admission.waiting);
      },
    });
    this.admission = admission;
  }

  /**
   * Runs `task` within the bound; a caller refused gets PasswordHashingBusyException (503) and `task` never runs, nor
   * does it for a caller whose request is `abandoned` while it waits (PasswordHashingAbandonedException).
   */
  async run<T>(task: () => Promise<T>, abandoned?: AbortSignal): Promise<T> {
    try {
      return await this.admission.run(task, abandoned);
    } catch (error) {
      if (error instanceof AdmissionAbandonedError) throw new PasswordHashingAbandonedException(error.message);
      if (!(error instanceof AdmissionRefusedError)) throw error;
      throw new PasswordHashingBusyException(
        `Too many password checks at once; retry in ${UNAVAILABLE_RETRY_AFTER_S} s`,
      );
    }
  }
}
