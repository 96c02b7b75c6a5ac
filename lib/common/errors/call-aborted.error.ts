import { CALL_ABORTED } from '../resilience.messages';
import { ResilienceError } from './resilience.error';

/** A waiting call (queue, backoff) was cancelled by its caller's signal. @publicApi */
export class CallAbortedError extends ResilienceError {
  constructor(policyName: string, options?: ErrorOptions) {
    super(CALL_ABORTED(policyName), policyName, options);
  }
}
