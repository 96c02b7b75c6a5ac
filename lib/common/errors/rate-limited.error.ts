import { RATE_LIMITED } from '../resilience.messages';
import { ResilienceError } from './resilience.error';

/** The rate limiter rejected the call. `retryAfter`: ms until a permit is free. @publicApi */
export class RateLimitedError extends ResilienceError {
  constructor(
    policyName: string,
    readonly retryAfter: number,
  ) {
    super(RATE_LIMITED(policyName, retryAfter), policyName);
  }
}
