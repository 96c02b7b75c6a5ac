import { splitArgs } from '../circuit-breaker/circuit-breaker.decorator';
import { addPolicy } from '../module/add-policy';
import type { RetryOptions } from './retry.options';

/**
 * Retries a failing method: `maxAttempts` calls in all, with backoff between them.
 * @publicApi
 */
export function Retry(options?: Partial<RetryOptions>): MethodDecorator;
export function Retry(name: string, options?: Partial<RetryOptions>): MethodDecorator;
export function Retry(
  nameOrOptions?: string | Partial<RetryOptions>,
  maybeOptions?: Partial<RetryOptions>,
): MethodDecorator {
  const [name, options] = splitArgs('Retry', nameOrOptions, maybeOptions);
  return addPolicy({ kind: 'retry', name, options });
}
