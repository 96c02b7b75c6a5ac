import { CIRCUIT_HALF_OPEN_FULL, CIRCUIT_OPEN } from '../resilience.messages';
import { ResilienceError } from './resilience.error';

/** The circuit breaker rejected the call. `retryAfter`: ms until it turns half-open. @publicApi */
export class CircuitOpenError extends ResilienceError {
  constructor(
    policyName: string,
    readonly retryAfter: number,
    halfOpenMaxCalls?: number,
  ) {
    super(
      halfOpenMaxCalls === undefined
        ? CIRCUIT_OPEN(policyName, retryAfter)
        : CIRCUIT_HALF_OPEN_FULL(policyName, halfOpenMaxCalls),
      policyName,
    );
  }
}
