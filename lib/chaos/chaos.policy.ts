import { CallContext } from '../common/call-context';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import type { ChaosOutcome } from '../common/events';
import { invoke, Policy, PolicyTime, Work } from '../common/policy';
import { TimeSource, timeSourceFrom } from '../common/scheduler';
import {
  ChaosOptions,
  ChaosRandom,
  resolveChaosOptions,
  ResolvedChaosOptions,
} from './chaos.options';

/** Counters of one chaos policy (`ResilienceRegistry.stats().chaos[name]`). @publicApi */
export interface ChaosStats {
  /** Whether the policy injects faults right now. */
  enabled: boolean;
  /** Share of calls that get the fault (0..1). */
  rate: number;
  /** Calls made through the policy. */
  calls: number;
  /** Calls that got a fault injected (of any kind). */
  injected: number;
  /** Injected calls failed with the `fault` error. */
  faults: number;
  /** Injected calls answered with the `result` substitute. */
  results: number;
  /** Injected calls delayed by `latency`. */
  delayed: number;
}

/** One injected delay in progress. */
interface Delay {
  handle: unknown;
  fail(error: unknown): void;
}

/**
 * Fault injection: for a share `rate` of the calls, waits `latency` ms and/or fails the
 * call with the error of `fault(...args)` or answers it with `result(...args)` instead
 * of calling the work. Placed innermost (next to the method), the injected fault passes
 * through every other policy like a real one: a retry retries it, a circuit breaker
 * counts it, a timeout cuts an injected delay.
 *
 * Calls that get no fault run the work synchronously, as if the policy were not there.
 * The policy can be switched at run time (`enable()`, `disable()`, `setRate()`).
 * @publicApi
 */
export class ChaosPolicy extends Policy {
  readonly kind = 'chaos' as const;
  private current: ResolvedChaosOptions;
  private readonly time: TimeSource;
  private readonly delays = new Set<Delay>();
  private readonly counters = { calls: 0, injected: 0, faults: 0, results: 0, delayed: 0 };

  /**
   * @param random source of numbers in `[0, 1)`: a call is injected when `random() < rate`.
   *   Tests inject a seeded one.
   */
  constructor(
    name: string,
    options: Partial<ChaosOptions>,
    time?: PolicyTime,
    private readonly random: ChaosRandom = Math.random,
  ) {
    super(name);
    this.current = resolveChaosOptions(name, options);
    this.time = timeSourceFrom(time?.clock, time?.scheduler);
  }

  /** The options in force (after `update()`, `setRate()`, `enable()`, `disable()`). */
  get options(): Readonly<ResolvedChaosOptions> {
    return this.current;
  }

  /** Whether faults are injected right now. */
  get enabled(): boolean {
    return this.current.enabled;
  }

  /** Share of calls that get the fault (0..1). */
  get rate(): number {
    return this.current.rate;
  }

  /** Starts injecting faults (again). */
  enable(): this {
    return this.update({ enabled: true });
  }

  /** Stops injecting faults: every call runs the work as if the policy were not there. */
  disable(): this {
    return this.update({ enabled: false });
  }

  /** Changes the share of calls that get the fault (0..1). */
  setRate(rate: number): this {
    return this.update({ rate });
  }

  /**
   * Changes some options at run time; the result is validated like the options given at
   * creation (a `ResilienceConfigError` names a bad key, and nothing changes).
   */
  update(changes: Partial<ChaosOptions>): this {
    const { latency, ...rest } = this.current;
    this.current = resolveChaosOptions(this.name, {
      ...rest,
      ...(latency > 0 ? { latency } : {}),
      ...changes,
    });
    return this;
  }

  run<T>(fn: Work<T>, context: CallContext | undefined, args?: readonly unknown[]): Promise<T> {
    this.counters.calls++;
    const o = this.current;
    if (!o.enabled || !(this.random() < o.rate)) return invoke(fn, context ?? new CallContext());
    return this.inject(fn, context ?? new CallContext(), args ?? [], o);
  }

  stats(): ChaosStats {
    return { enabled: this.current.enabled, rate: this.current.rate, ...this.counters };
  }

  /** Ends every injected delay: each waiting call fails with `CallAbortedError`. */
  override dispose(): void {
    const delays = [...this.delays];
    this.delays.clear();
    for (const delay of delays) {
      this.time.scheduler.clearTimeout(delay.handle);
      delay.fail(new CallAbortedError(this.name));
    }
  }

  private inject<T>(
    fn: Work<T>,
    context: CallContext,
    args: readonly unknown[],
    o: ResolvedChaosOptions,
  ): Promise<T> {
    this.counters.injected++;
    const outcome: ChaosOutcome = o.fault ? 'fault' : o.result ? 'result' : 'latency';
    if (this.emitter.hasListeners) {
      this.emitter.emit({
        type: 'chaos',
        name: this.name,
        outcome,
        latency: o.latency,
        at: this.time.clock.now(),
      });
    }
    if (o.latency <= 0) return this.outcome(fn, context, args, o);
    this.counters.delayed++;
    return this.delay(o.latency, context).then(() => this.outcome(fn, context, args, o));
  }

  private outcome<T>(
    fn: Work<T>,
    context: CallContext,
    args: readonly unknown[],
    o: ResolvedChaosOptions,
  ): Promise<T> {
    if (o.fault) {
      this.counters.faults++;
      let error: unknown;
      try {
        error = o.fault(...args);
      } catch (thrown) {
        error = thrown;
      }
      return Promise.reject(error);
    }
    if (o.result) {
      this.counters.results++;
      const result = o.result;
      return invoke(() => result(...args) as T, context);
    }
    return invoke(fn, context);
  }

  /** Waits `ms` on the scheduler; a cancelled call stops waiting with the cancellation reason. */
  private delay(ms: number, context: CallContext): Promise<void> {
    if (context.aborted) return Promise.reject(abortReason(context, this.name));
    return new Promise<void>((resolve, reject) => {
      let off: () => void = noop;
      const delay: Delay = {
        handle: undefined,
        fail: (error) => {
          off();
          reject(error);
        },
      };
      delay.handle = this.time.scheduler.setTimeout(() => {
        this.delays.delete(delay);
        off();
        resolve();
      }, ms);
      this.delays.add(delay);
      off = context.onAbort(() => {
        if (!this.delays.delete(delay)) return;
        this.time.scheduler.clearTimeout(delay.handle);
        reject(abortReason(context, this.name));
      });
    });
  }
}

const noop = () => undefined;

function abortReason(context: CallContext, name: string): unknown {
  return context.reason ?? new CallAbortedError(name);
}
