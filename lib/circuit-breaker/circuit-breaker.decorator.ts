import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { addPolicy } from '../module/add-policy';
import type { CircuitBreakerOptions } from './circuit-breaker.options';

/**
 * Protects a method with a circuit breaker. Without a name the breaker is named
 * `ClassName.methodName`; methods giving the same name share one breaker.
 * @publicApi
 */
export function CircuitBreaker(options?: Partial<CircuitBreakerOptions>): MethodDecorator;
export function CircuitBreaker(
  name: string,
  options?: Partial<CircuitBreakerOptions>,
): MethodDecorator;
export function CircuitBreaker(
  nameOrOptions?: string | Partial<CircuitBreakerOptions>,
  maybeOptions?: Partial<CircuitBreakerOptions>,
): MethodDecorator {
  const [name, options] = splitArgs('CircuitBreaker', nameOrOptions, maybeOptions);
  return addPolicy({ kind: 'circuitBreaker', name, options });
}

/** Normalises the `(name?, options?)` / `(options?)` overloads shared by the decorators. @internal */
export function splitArgs<T>(
  decorator: string,
  nameOrOptions: string | T | undefined,
  maybeOptions: T | undefined,
): [string | undefined, T | Record<string, never>] {
  if (nameOrOptions === undefined) return [undefined, maybeOptions ?? {}];
  if (typeof nameOrOptions === 'string') {
    if (nameOrOptions.length === 0) {
      throw new ResilienceConfigError(
        `@${decorator}: the policy name must not be empty.`,
        '',
        'name',
        nameOrOptions,
      );
    }
    return [nameOrOptions, maybeOptions ?? {}];
  }
  if (
    nameOrOptions !== undefined &&
    (typeof nameOrOptions !== 'object' || nameOrOptions === null)
  ) {
    throw new ResilienceConfigError(
      `@${decorator} takes a name and/or an options object; got ${typeof nameOrOptions}.`,
      '',
      'options',
      nameOrOptions,
    );
  }
  return [undefined, nameOrOptions ?? {}];
}
