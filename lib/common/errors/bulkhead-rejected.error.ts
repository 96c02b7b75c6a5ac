import { BULKHEAD_REJECTED } from '../resilience.messages';
import { ResilienceError } from './resilience.error';

/** Why a bulkhead turned a call away. @publicApi */
export type BulkheadRejectionReason = 'full' | 'queue-timeout' | 'evicted' | 'shutdown';

/** The bulkhead had no room, the wait ran out, the call was evicted, or the app is shutting down. @publicApi */
export class BulkheadRejectedError extends ResilienceError {
  constructor(
    policyName: string,
    readonly reason: BulkheadRejectionReason,
  ) {
    super(BULKHEAD_REJECTED(policyName, reason), policyName);
  }
}
