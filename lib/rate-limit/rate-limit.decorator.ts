import { splitArgs } from '../circuit-breaker/circuit-breaker.decorator';
import { addPolicy } from '../module/add-policy';
import type { RateLimiterOptions } from './rate-limiter.options';

/**
 * At most `limit` calls start within any `interval` ms; a call over the limit waits up
 * to `maxWait` ms for a permit, else fails with `RateLimitedError`.
 * @publicApi
 */
export function RateLimit(options: Partial<RateLimiterOptions>): MethodDecorator;
export function RateLimit(name: string, options: Partial<RateLimiterOptions>): MethodDecorator;
export function RateLimit(
  nameOrOptions: string | Partial<RateLimiterOptions>,
  maybeOptions?: Partial<RateLimiterOptions>,
): MethodDecorator {
  const [name, options] = splitArgs('RateLimit', nameOrOptions, maybeOptions);
  return addPolicy({ kind: 'rateLimiter', name, options });
}
