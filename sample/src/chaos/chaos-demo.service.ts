import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { Chaos, CircuitBreaker, Fallback, Retry, Timeout } from '../../../lib';

/** What every demo method answers when nothing was injected. */
export interface DemoAnswer {
  scenario: string;
  source: 'real' | 'fallback';
}

/** The error the demo injects: looks like a downstream outage (503). */
const outage = () => new ServiceUnavailableException('Injected by @Chaos');

/**
 * One method per policy, each with a `@Chaos` fault that shows the policy at work
 * without a real outage. Start the sample with `CHAOS=1` to turn the faults on; without
 * it the methods are plain and answer at once. The chaos policies are named so that
 * `PUT /chaos-demo/:name` can switch them at run time.
 */
@Injectable()
export class ChaosDemoService {
  /** Half the attempts fail; up to 4 attempts usually hide it from the caller. */
  @Retry({ maxAttempts: 4, backoff: { type: 'fixed', initialDelay: 50, jitter: 'none' } })
  @Chaos('chaos-demo.retry', { rate: 0.5, fault: outage })
  async retry(): Promise<DemoAnswer> {
    return { scenario: 'retry', source: 'real' };
  }

  /** Every call fails: after 3 failures the breaker opens and answers 503 + Retry-After. */
  @CircuitBreaker('chaos-demo', { failureThreshold: 3, resetTimeout: 5_000 })
  @Chaos('chaos-demo.breaker', { rate: 1, fault: outage })
  async breaker(): Promise<DemoAnswer> {
    return { scenario: 'breaker', source: 'real' };
  }

  /** Every call is delayed by 1s; the 200ms timeout answers 504 and stops the wait. */
  @Timeout(200)
  @Chaos('chaos-demo.timeout', { rate: 1, latency: 1_000 })
  async timeout(): Promise<DemoAnswer> {
    return { scenario: 'timeout', source: 'real' };
  }

  /** Every call fails; the fallback answers instead. */
  @Fallback((): DemoAnswer => ({ scenario: 'fallback', source: 'fallback' }))
  @Chaos('chaos-demo.fallback', { rate: 1, fault: outage })
  async fallback(): Promise<DemoAnswer> {
    return { scenario: 'fallback', source: 'real' };
  }
}
