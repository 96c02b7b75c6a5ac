import { isObservable, Observable, Subscription } from 'rxjs';
import { CallContext } from '../common/call-context';
import { runChain } from '../common/compose';
import type { Policy, Work } from '../common/policy';
import type { ResilienceRegistry } from '../registry/resilience.registry';
import type { FallbackPolicy } from '../fallback/fallback.policy';
import { callStorage } from '../timeout/current-signal';

type AnyFn = (...args: unknown[]) => unknown;

/** How a method hands back its result, as far as the invoker can tell. @internal */
export type ReturnKind = 'observable' | 'promise' | 'unknown';

/** Replaces a failure by a value, with the caller's `this`. @internal */
export type Recovery = FallbackPolicy;

/** Everything needed to protect one method. @internal */
export interface MethodPlan {
  target: string;
  /** Policies below the fallback, outermost first. */
  policies: Policy[];
  recovery?: Recovery;
  returns: ReturnKind;
  /** A policy in the chain can cancel work: make `currentSignal()` available. */
  exposesSignal: boolean;
}

/**
 * Builds the function that runs a method through its policies. It is shared by every
 * instance of the class in one application and uses the `this` of each call. The only
 * place that looks at return types: values and Promises run through the chain and
 * come back as a Promise; an Observable method returns an Observable that runs the
 * chain once per subscription (a retry re-subscribes).
 * @internal
 */
export function createInvoker(plan: MethodPlan, original: AnyFn, registry: ResilienceRegistry): AnyFn {
  const { policies, recovery, target, exposesSignal } = plan;
  const call = (self: unknown, args: unknown[], context: CallContext): unknown =>
    exposesSignal ? callStorage.run(context, () => original.apply(self, args)) : original.apply(self, args);

  const asObservable = function (this: unknown, ...args: unknown[]): Observable<unknown> {
    const self = this;
    return new Observable<unknown>((subscriber) => {
      if (registry.isShuttingDown) {
        subscriber.error(registry.shutdownError(target));
        return;
      }
      const root = new CallContext();
      let source: Observable<unknown> | undefined;
      let inner: Subscription | undefined;
      const attempt: Work<void> = (context) =>
        new Promise<void>((resolve, reject) => {
          const off = context.onAbort(() => inner?.unsubscribe());
          const done = () => {
            off();
            resolve();
          };
          const fail = (error: unknown) => {
            off();
            reject(error);
          };
          try {
            source ??= toObservable(call(self, args, context));
          } catch (error) {
            fail(error);
            return;
          }
          inner = source.subscribe({ next: (value) => subscriber.next(value), error: fail, complete: done });
        });
      registry.enter();
      let finished = false;
      const chain = recovery
        ? recovery.run<unknown>((c) => runChain(policies, attempt, c, args).then(() => COMPLETED), root, args, self)
        : runChain(policies, attempt, root, args).then(() => COMPLETED);
      chain
        .then(
          (result) => (result === COMPLETED ? subscriber.complete() : forward(result, subscriber)),
          (error: unknown) => subscriber.error(error),
        )
        .finally(() => {
          finished = true;
          registry.settled();
        });
      return () => {
        if (!finished) root.abort();
        inner?.unsubscribe();
      };
    });
  };

  const asPromise = function (this: unknown, ...args: unknown[]): unknown {
    if (registry.isShuttingDown) return Promise.reject(registry.shutdownError(target));
    const self = this;
    let sawObservable = false;
    const work: Work<unknown> = plan.returns === 'promise' ? (context) => call(self, args, context) : (context) => {
      const result = call(self, args, context);
      if (!isObservable(result)) return result;
      // a method without a declared return type turned out to return an Observable
      sawObservable = true;
      plan.returns = 'observable';
      return collect(result);
    };
    const result = recovery
      ? recovery.run((c) => runChain(policies, work, c, args), undefined, args, self)
      : runChain(policies, work, undefined, args);
    const tracked = registry.track(result);
    if (plan.returns === 'promise') return tracked;
    if (!sawObservable) return tracked.then(unwrap);
    return new Observable((subscriber) => {
      tracked.then((values) => forward(values, subscriber), (error) => subscriber.error(error));
    });
  };

  const invoker = function (this: unknown, ...args: unknown[]): unknown {
    return plan.returns === 'observable' ? asObservable.apply(this, args) : asPromise.apply(this, args);
  };
  return invoker;
}

const COMPLETED = Symbol('completed');

/** Emits a fallback's result: an Observable's values, a Promise's value, or the value. */
function forward(result: unknown, subscriber: import('rxjs').Subscriber<unknown>): void {
  if (result instanceof Collected) {
    for (const value of result.values) subscriber.next(value);
    subscriber.complete();
  } else if (isObservable(result)) {
    result.subscribe(subscriber);
  } else if (result instanceof Promise) {
    result.then(
      (value) => forward(value, subscriber),
      (error) => subscriber.error(error),
    );
  } else {
    subscriber.next(result);
    subscriber.complete();
  }
}

/** A late-detected Observable's values, as a Promise caller would expect them. */
const unwrap = (value: unknown): unknown =>
  value instanceof Collected ? value.values[value.values.length - 1] : value;

class Collected {
  constructor(readonly values: unknown[]) {}
}

/** Runs an Observable to completion, keeping its values. */
function collect(source: Observable<unknown>): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const values: unknown[] = [];
    source.subscribe({ next: (v) => values.push(v), error: reject, complete: () => resolve(new Collected(values)) });
  });
}

function toObservable(value: unknown): Observable<unknown> {
  if (isObservable(value)) return value;
  return new Observable((subscriber) => forward(value, subscriber));
}

/** The kind of result a method declares (TypeScript `design:returntype`). @internal */
export function declaredReturnKind(proto: object, key: string | symbol): ReturnKind {
  const type: unknown = Reflect.getMetadata('design:returntype', proto, key);
  if (typeof type !== 'function') return 'unknown';
  if (type === Observable || type.prototype instanceof Observable || type.name === 'Observable') {
    return 'observable';
  }
  if (type === Promise) return 'promise';
  return 'unknown';
}
