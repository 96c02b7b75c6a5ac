import { CallContext, ChildContext, toContext } from './call-context';
import { Disposable, Emitter } from './emitter';
import type { PolicyKind, ResilienceEvent } from './events';

/** The work a policy protects. It may read `context.signal` to learn of cancellation. @publicApi */
export type Work<T> = (context: CallContext) => T | PromiseLike<T>;

/** What every policy (and a composed set of policies) offers. @publicApi */
export interface IPolicy {
  readonly name: string;
  /** Runs `fn` under the policy. `signal` cancels waiting and is passed on to the work. */
  execute<T>(fn: Work<T>, signal?: AbortSignal | CallContext): Promise<T>;
}

/**
 * Shared plumbing of the pure policies: name, events, and the public `execute` that
 * accepts an `AbortSignal` and hands a `CallContext` to `run`.
 * @publicApi
 */
export abstract class Policy implements IPolicy {
  abstract readonly kind: PolicyKind;
  protected readonly emitter = new Emitter<ResilienceEvent>();
  /** Subscribes to this policy's events. */
  readonly onEvent: (listener: (event: ResilienceEvent) => void) => Disposable =
    this.emitter.subscribe;

  constructor(readonly name: string) {}

  /**
   * Admits or refuses public `execute()` calls and counts them in flight: set by the
   * registry that owns the policy, so that shutdown covers handles too.
   * @internal
   */
  gate?: ExecutionGate;

  execute<T>(fn: Work<T>, signal?: AbortSignal | CallContext): Promise<T> {
    const gate = this.gate;
    if (gate === undefined) return this.executeNow(fn, signal);
    if (gate.isShuttingDown) return Promise.reject(gate.shutdownError(this.name));
    return gate.track(this.executeNow(fn, signal));
  }

  private executeNow<T>(fn: Work<T>, signal?: AbortSignal | CallContext): Promise<T> {
    const context = toContext(signal);
    if (context === signal) return this.run(fn, context as CallContext | undefined);
    const child = context as ChildContext;
    return this.run(fn, child).finally(() => child.release());
  }

  /**
   * Runs `fn` with an internal context (what composition calls). `args` are the
   * protected method's arguments, for policies that partition by them (keyed bulkhead).
   * When the policy admits the call without waiting, `fn` is called synchronously.
   * @internal
   */
  abstract run<T>(
    fn: Work<T>,
    context: CallContext | undefined,
    args?: readonly unknown[],
  ): Promise<T>;

  /** Clears this policy's timers and rejects its waiters. Called at application shutdown. */
  dispose(): void {
    // most policies own nothing to clear
  }

  /** Plain-JSON counters of this policy. */
  abstract stats(): object;
}

/**
 * Calls `fn` and always returns a promise: a synchronous throw becomes a rejection.
 * The call itself happens synchronously.
 * @internal
 */
export function invoke<T>(fn: Work<T>, context: CallContext): Promise<T> {
  try {
    const result = fn(context);
    return result instanceof Promise ? result : Promise.resolve(result);
  } catch (error) {
    return Promise.reject(error);
  }
}

const settled = Promise.resolve();

/**
 * A promise that rejects with `error` one microtask from now, once the caller has had the
 * chance to attach its handlers. A promise rejected before it has a handler makes Node
 * record it as a possibly unhandled rejection and then forget it again, which costs more
 * than the rest of a refused call; a call that nobody handles is still reported as
 * unhandled. For refusals on the hot path (an open circuit breaker, a full bulkhead).
 * @internal
 */
export function rejectSoon<T = never>(error: unknown): Promise<T> {
  return new Promise<T>((_resolve, reject) => {
    void settled.then(() => reject(error));
  });
}

/** A context for work that has none yet (no timeout above it). @internal */
export const rootContext = (context: CallContext | undefined): CallContext =>
  context ?? new CallContext();

/** Time and timers a pure policy may be given. @publicApi */
export interface PolicyTime {
  clock?: import('./clock').Clock;
  scheduler?: import('./scheduler').Scheduler;
}

/** What a policy's owner offers to gate its public calls (shutdown). @internal */
export interface ExecutionGate {
  readonly isShuttingDown: boolean;
  shutdownError(name: string): Error;
  track<T>(call: Promise<T>): Promise<T>;
}
