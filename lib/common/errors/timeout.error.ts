import { TIMED_OUT } from '../resilience.messages';
import { ResilienceError } from './resilience.error';

/** The call did not finish within `timeout` ms. @publicApi */
export class TimeoutError extends ResilienceError {
  constructor(
    policyName: string,
    readonly timeout: number,
  ) {
    super(TIMED_OUT(policyName, timeout), policyName);
  }
}
