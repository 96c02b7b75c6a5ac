import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { addPolicy } from '../module/add-policy';

/**
 * Runs when the call has finally failed (after every other policy), with the same
 * `this`: either a method of the class, named (`@Fallback('cached')`, called as
 * `cached(error, ...args)`), or a function `(error, ...args) => value`.
 * @publicApi
 */
export function Fallback(
  handler: string | ((error: any, ...args: any[]) => unknown),
): MethodDecorator {
  if (typeof handler !== 'string' && typeof handler !== 'function') {
    throw new ResilienceConfigError(
      `@Fallback takes a method name or a function; got ${typeof handler}.`,
      '',
      'fallback',
      handler,
    );
  }
  return addPolicy({ kind: 'fallback', options: handler });
}
