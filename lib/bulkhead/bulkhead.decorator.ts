import { splitArgs } from '../circuit-breaker/circuit-breaker.decorator';
import { addPolicy } from '../module/add-policy';
import type { BulkheadOptions } from './bulkhead.options';

/**
 * Limits how many calls run at once (`maxConcurrent`) and how many may wait
 * (`maxQueue`). With `key`, one isolated bulkhead per key (per user, per tenant).
 * @publicApi
 */
export function Bulkhead(options?: Partial<BulkheadOptions>): MethodDecorator;
export function Bulkhead(name: string, options?: Partial<BulkheadOptions>): MethodDecorator;
export function Bulkhead(
  nameOrOptions?: string | Partial<BulkheadOptions>,
  maybeOptions?: Partial<BulkheadOptions>,
): MethodDecorator {
  const [name, options] = splitArgs('Bulkhead', nameOrOptions, maybeOptions);
  return addPolicy({ kind: 'bulkhead', name, options });
}
