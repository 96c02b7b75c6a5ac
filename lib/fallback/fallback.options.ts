import { checks, invalid } from '../common/validate';

/**
 * Produces the result of a call that failed: a value or a Promise of one. Receives the
 * error and the protected method's arguments; `this` is the instance the policy is bound
 * to (the provider, for `@Fallback`). Throwing from it fails the call with that error.
 * @publicApi
 */
export type FallbackHandler = (this: unknown, error: unknown, ...args: unknown[]) => unknown;

/**
 * Checks the handler of the fallback policy `name`.
 * @throws ResilienceConfigError naming the policy, the key (`handler`) and the bad value.
 * @publicApi
 */
export function resolveFallbackHandler(name: string, handler: unknown): FallbackHandler {
  const expected = checks.fn(handler);
  if (expected !== undefined) invalid(name, 'handler', handler, expected);
  return handler as FallbackHandler;
}
