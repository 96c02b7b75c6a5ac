import { isObservable, Observable, Subscription } from 'rxjs';
import { CallContext } from '../common/call-context';
import { runChain } from '../common/compose';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { invoke, type Policy, type Work } from '../common/policy';
import type { ResilienceRegistry } from '../registry/resilience.registry';
import type { FallbackPolicy } from '../fallback/fallback.policy';
import { callStorage } from '../timeout/current-signal';

type AnyFn = (...args: unknown[]) => unknown;
/** A protected method: called by the trampoline with the instance and the arguments. @internal */
export type Invoker = (self: unknown, args: unknown[]) => unknown;

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
export function createInvoker(
  plan: MethodPlan,
  original: AnyFn,
  registry: ResilienceRegistry,
): Invoker {
  const { policies, recovery, target, exposesSignal } = plan;
  const call = (self: unknown, args: unknown[], context: CallContext): unknown =>
    exposesSignal
      ? callStorage.run(context, Reflect.apply, original, self, args)
      : original.apply(self, args);

  const asObservable = (self: unknown, args: unknown[]): Observable<unknown> => {
    return new Observable<unknown>((subscriber) => {
      if (registry.isShuttingDown) {
        subscriber.error(registry.shutdownError(target));
        return;
      }
      const root = new CallContext();
      let inner: Subscription | undefined;
      const attempt: Work<void> = (context) =>
        new Promise<void>((resolve, reject) => {
          let off: () => void = noop;
          let ended = false;
          const done = () => {
            ended = true;
            off();
            resolve();
          };
          const fail = (error: unknown) => {
            ended = true;
            off();
            reject(error);
          };
          const observer = {
            next: (value: unknown) => subscriber.next(value),
            error: fail,
            complete: done,
          };
          // each attempt calls the method and subscribes inside the attempt's context, so
          // currentSignal() belongs to this attempt, in the method body and in deferred code
          const subscribe = () => toObservable(original.apply(self, args)).subscribe(observer);
          try {
            inner = exposesSignal ? callStorage.run(context, subscribe) : subscribe();
          } catch (error) {
            fail(error);
            return;
          }
          if (ended) return;
          // cancelled (timeout, unsubscribe): stop the source and settle, so the policies unwind
          off = context.onAbort((reason) => {
            inner?.unsubscribe();
            fail(isErrorLike(reason) ? reason : new CallAbortedError(target));
          });
        });
      registry.enter();
      let finished = false;
      const guarded = (c: CallContext) =>
        runPolicies<unknown>(policies, attempt, c, args).then(
          // a value here replaced the attempt (a chaos `result`): it is emitted
          (value) => (value === undefined ? COMPLETED : value),
          (error: unknown) => {
            if (root.aborted) return CANCELLED; // the subscriber has left: no fallback
            throw error;
          },
        );
      const chain = recovery ? recovery.run<unknown>(guarded, root, args, self) : guarded(root);
      chain
        .then(
          (result) => {
            if (result === CANCELLED) return;
            if (result === COMPLETED) subscriber.complete();
            else forward(result, subscriber);
          },
          (error: unknown) => subscriber.error(error),
        )
        .finally(() => {
          finished = true;
          registry.settled();
        });
      return () => {
        if (!finished) root.abort(new CallAbortedError(target));
        inner?.unsubscribe();
      };
    });
  };

  const settledWith = <V>(value: V): V => {
    registry.settled();
    return value;
  };
  /**
   * Counts `call` in flight until it settles (shutdown waits for it). A failure is handed
   * on by returning the rejected promise itself: the same error, without a rethrow.
   */
  const track = <V>(call: Promise<V>): Promise<V> => {
    registry.enter();
    return call.then(settledWith, () => {
      registry.settled();
      return call;
    });
  };

  const asPromise = (self: unknown, args: unknown[]): unknown => {
    if (registry.isShuttingDown) return Promise.reject(registry.shutdownError(target));
    let sawObservable = false;
    const work: Work<unknown> =
      plan.returns === 'promise'
        ? (context) => call(self, args, context)
        : (context) => {
            const result = call(self, args, context);
            if (!isObservable(result)) return result;
            // a method without a declared return type turned out to return an Observable
            sawObservable = true;
            plan.returns = 'observable';
            return collect(result, context);
          };
    const result = recovery
      ? recovery.run((c) => runPolicies(policies, work, c, args), undefined, args, self)
      : runPolicies(policies, work, undefined, args);
    const tracked = track(result);
    if (plan.returns === 'promise') return tracked;
    if (!sawObservable) return tracked.then(unwrap);
    tracked.catch(noop); // the error reaches subscribers; none may ever come
    return new Observable((subscriber) => {
      tracked.then(
        (values) => forward(values, subscriber),
        (error) => subscriber.error(error),
      );
    });
  };

  return (self, args) =>
    plan.returns === 'observable' ? asObservable(self, args) : asPromise(self, args);
}

const COMPLETED = Symbol('completed');
const CANCELLED = Symbol('cancelled');
const noop = () => undefined;

/**
 * Runs `work` through `policies`. Without policies (a method with only a fallback) the
 * work is called synchronously, as a policy that admits a call at once would: the
 * invoker relies on that to see, during the first call, what a method without a declared
 * return type returns.
 */
function runPolicies<T>(
  policies: readonly Policy[],
  work: Work<T>,
  context: CallContext | undefined,
  args: readonly unknown[],
): Promise<T> {
  if (policies.length === 0) return invoke(work, context ?? new CallContext());
  return runChain(policies, work, context, args);
}

/** True for errors, including a DOMException from another realm. */
function isErrorLike(value: unknown): value is Error {
  if (value instanceof Error) return true;
  if (typeof value !== 'object' || value === null) return false;
  const { name, message } = value as { name?: unknown; message?: unknown };
  return typeof name === 'string' && typeof message === 'string';
}

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

/** Runs an Observable to completion, keeping its values; a cancelled call unsubscribes. */
function collect(source: Observable<unknown>, context: CallContext): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const values: unknown[] = [];
    let off: () => void = noop;
    const subscription = source.subscribe({
      next: (v) => values.push(v),
      error: (error: unknown) => {
        off();
        reject(error);
      },
      complete: () => {
        off();
        resolve(new Collected(values));
      },
    });
    if (subscription.closed) return;
    off = context.onAbort((reason) => {
      subscription.unsubscribe();
      reject(reason);
    });
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
