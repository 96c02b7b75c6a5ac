import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { NOT_A_METHOD, STATIC_METHOD } from '../common/resilience.messages';
import type { Invoker } from './invoker';
import type { PolicySpec } from './policy-spec';
import { ORIGINAL_METHOD, POLICIES_METADATA, WRAPPED_METHODS } from './resilience.constants';

type AnyFn = (...args: unknown[]) => unknown;
/** An object whose methods the explorer has wrapped. @internal */
export type Host = Record<string | symbol, unknown> & {
  [WRAPPED_METHODS]?: Record<string | symbol, Invoker>;
};
/** The function a decorated method is replaced by. @internal */
export type Trampoline = AnyFn & { [ORIGINAL_METHOD]: AnyFn };

const DECORATOR_NAMES: Record<PolicySpec['kind'], string> = {
  circuitBreaker: 'CircuitBreaker',
  retry: 'Retry',
  timeout: 'Timeout',
  bulkhead: 'Bulkhead',
  rateLimiter: 'RateLimit',
  fallback: 'Fallback',
  deadLetter: 'DeadLetter',
  chaos: 'Chaos',
  usePolicy: 'UsePolicy',
};

export const isTrampoline = (fn: unknown): fn is Trampoline =>
  typeof fn === 'function' && ORIGINAL_METHOD in fn;

/** The undecorated method behind `fn` (or `fn` itself). @internal */
export const getOriginal = (fn: AnyFn): AnyFn => (isTrampoline(fn) ? fn[ORIGINAL_METHOD] : fn);

/** The specs recorded on a method, in the order the decorators ran. @internal */
export const getPolicySpecs = (fn: unknown): PolicySpec[] | undefined =>
  typeof fn === 'function' ? Reflect.getOwnMetadata(POLICIES_METADATA, fn) : undefined;

/**
 * Records `spec` on the method and replaces the method, once, by a trampoline. The
 * trampoline exists from class definition on, so whoever captured the method before
 * the application initialised (routers, message handlers, schedulers) still reaches
 * the protected version: on each call it looks up the function the explorer installed
 * on the instance, and falls back to the plain method when there is none.
 * @internal
 */
export function addPolicy(spec: PolicySpec): MethodDecorator {
  return (target, key, descriptor: PropertyDescriptor) => {
    const current: unknown = descriptor?.value;
    const isStatic = typeof target === 'function';
    const className = ((isStatic ? target : target?.constructor) as { name?: string })?.name;
    const where = `${className || 'anonymous'}.${String(key)}`;
    if (typeof current !== 'function') {
      throw new ResilienceConfigError(
        NOT_A_METHOD(DECORATOR_NAMES[spec.kind], where),
        where,
        String(key),
        current,
      );
    }
    if (isStatic) {
      throw new ResilienceConfigError(
        STATIC_METHOD(DECORATOR_NAMES[spec.kind], where),
        where,
        String(key),
      );
    }
    const trampoline = isTrampoline(current) ? current : createTrampoline(current as AnyFn, key);
    const specs = getPolicySpecs(trampoline) ?? [];
    Reflect.defineMetadata(POLICIES_METADATA, [...specs, spec], trampoline);
    descriptor.value = trampoline;
    return descriptor;
  };
}

function createTrampoline(original: AnyFn, key: string | symbol): Trampoline {
  const trampoline = function (this: Host, ...args: unknown[]) {
    const wrapped = this?.[WRAPPED_METHODS]?.[key];
    return wrapped === undefined ? original.apply(this, args) : wrapped(this, args);
  } as Trampoline;
  trampoline[ORIGINAL_METHOD] = original;
  Object.defineProperty(trampoline, 'name', { value: original.name || String(key) });
  Object.defineProperty(trampoline, 'length', { value: original.length });
  // metadata other decorators put on the original stays readable through the prototype
  Object.setPrototypeOf(trampoline, original);
  return trampoline;
}
