import { CallContext } from '../common/call-context';
import { Clock, systemClock } from '../common/clock';
import { invoke, Policy, PolicyTime, Work } from '../common/policy';
import { FallbackHandler, resolveFallbackHandler } from './fallback.options';

/** Counters of one fallback policy. @publicApi */
export interface FallbackStats {
  /** Calls made through the policy. */
  calls: number;
  /** Failed calls handed to the handler. */
  fallbacks: number;
}

/**
 * Replaces the failure of a call with the result of `handler(error, ...args)`, where
 * `args` are the protected method's arguments. The handler may return a value or a
 * Promise. When the handler throws (or rejects), the call fails with that error.
 * @publicApi
 */
export class FallbackPolicy extends Policy {
  readonly kind = 'fallback' as const;
  readonly handler: FallbackHandler;
  private readonly clock: Clock;
  private calls = 0;
  private fallbacks = 0;

  /**
   * @param time only `clock` is used, for the timestamps of events.
   * @param thisArg `this` of the handler, unless `bindTo` or a call gives another one.
   */
  constructor(
    name: string,
    handler: FallbackHandler,
    time?: PolicyTime,
    private thisArg?: unknown,
  ) {
    super(name);
    this.handler = resolveFallbackHandler(name, handler);
    this.clock = time?.clock ?? systemClock;
  }

  /** Sets the default `this` of the handler (the Nest provider instance); returns the policy. */
  bindTo(thisArg: unknown): this {
    this.thisArg = thisArg;
    return this;
  }

  /**
   * Runs `fn`; on failure returns `handler(error, ...args)`. `thisArg`, when given,
   * replaces the bound `this` for this call (request-scoped providers share one policy
   * across instances).
   */
  run<T>(
    fn: Work<T>,
    context: CallContext | undefined,
    args?: readonly unknown[],
    thisArg: unknown = this.thisArg,
  ): Promise<T> {
    this.calls++;
    return this.recover(invoke(fn, context ?? new CallContext()), args, thisArg);
  }

  stats(): FallbackStats {
    return { calls: this.calls, fallbacks: this.fallbacks };
  }

  /** Hands a failure to the handler: a plain `then`, no async function per call. */
  private recover<T>(
    work: Promise<T>,
    args: readonly unknown[] | undefined,
    thisArg: unknown,
  ): Promise<T> {
    return work.then(undefined, (error: unknown) => {
      this.fallbacks++;
      if (this.emitter.hasListeners) {
        this.emitter.emit({ type: 'fallback', name: this.name, error, at: this.clock.now() });
      }
      const handler = this.handler;
      // a returned promise is adopted by `then`; a throw becomes the call's rejection
      return (args ? handler.call(thisArg, error, ...args) : handler.call(thisArg, error)) as T;
    });
  }
}
