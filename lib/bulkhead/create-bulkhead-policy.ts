import type { PolicyTime } from '../common/policy';
import type { BulkheadOptions } from './bulkhead.options';
import { BulkheadPolicy } from './bulkhead.policy';
import { KeyedBulkheadPolicy } from './keyed-bulkhead.policy';

/**
 * A `KeyedBulkheadPolicy` when `options.key` is set, else a `BulkheadPolicy`.
 * @publicApi
 */
export function createBulkheadPolicy(
  name: string,
  options?: Partial<BulkheadOptions>,
  time?: PolicyTime,
): BulkheadPolicy | KeyedBulkheadPolicy {
  return options?.key !== undefined
    ? new KeyedBulkheadPolicy(name, { ...options, key: options.key }, time)
    : new BulkheadPolicy(name, options, time);
}
