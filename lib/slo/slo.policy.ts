import { CallContext } from '../common/call-context';
import { Clock, systemClock } from '../common/clock';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { isResilienceError } from '../common/errors/resilience.error';
import type { SloRecoveredEvent, SloViolationEvent } from '../common/events';
import { invoke, Policy, PolicyTime, Work } from '../common/policy';
import { ResolvedSloOptions, resolveSloOptions, SloOptions } from './slo.options';
import { SloWindow } from './slo-window';

/** Plain-JSON figures of one SLO (`registry.stats().slo[name]`). @publicApi */
export interface SloStats {
  /** The success ratio to meet (0 < target < 1). */
  target: number;
  /** Length of the rolling window in ms. */
  window: number;
  /** Calls in the window. */
  calls: number;
  /** Failed calls in the window. */
  failures: number;
  /** `(calls - failures) / calls`, 0..1; 1 with no calls. */
  successRate: number;
  /** Failures the window may hold and still meet the target: `(1 - target) * calls`. */
  errorBudget: number;
  /** Share of the error budget left, 0..1 (0 once it is spent; 1 with no calls). */
  errorBudgetRemaining: number;
  /** True while the window holds at least `minimumCalls` calls and `successRate < target`. */
  violated: boolean;
}

/** Figures of the window, with the number arithmetic noise is rounded to. */
const PRECISION = 1e9;
const rounded = (value: number): number => Math.round(value * PRECISION) / PRECISION;

/**
 * Tracks a service level objective: the outcomes of calls over a rolling window of
 * `window` ms (60 buckets, O(1) per call), checked against `target`.
 *
 * As a step of a policy chain it sits just outside the retry and inside the dead-letter step
 * and the fallback: it sees the final outcome of each call, after every retry, whatever a
 * fallback or `swallow: true` makes of it afterwards. A call that succeeds on a retry is one
 * success; a call rejected by an open breaker, a bulkhead or a rate limiter is a failure. A
 * call its own caller cancelled (its context aborted, a `CallAbortedError`) and a call turned
 * away because the application is shutting down are not counted.
 *
 * The verdict is re-evaluated on each call and on each `stats()` read: crossing into
 * violation emits one `'slo-violation'` event (and calls `onViolation`), going back emits one
 * `'slo-recovered'`. Several methods with one policy name share one tracker.
 * @publicApi
 */
export class SloPolicy extends Policy {
  readonly kind = 'slo' as const;
  readonly options: ResolvedSloOptions;
  /** Called on each crossing into violation (the module opens a breaker here). @internal */
  onViolation?: (policy: SloPolicy) => void;
  private readonly clock: Clock;
  private readonly window: SloWindow;
  private violated = false;

  /** @param time only `clock` is used: no timer is ever started. */
  constructor(name: string, options: SloOptions, time?: PolicyTime) {
    super(name);
    this.options = resolveSloOptions(name, options);
    this.clock = time?.clock ?? systemClock;
    this.window = new SloWindow(this.options.window);
  }

  /** True while the objective is violated (as of the last call or `stats()` read). */
  get isViolated(): boolean {
    return this.violated;
  }

  /** Runs `fn` and counts its final outcome. @internal */
  run<T>(fn: Work<T>, context: CallContext | undefined, _args?: readonly unknown[]): Promise<T> {
    return invoke(fn, context ?? new CallContext()).then(
      (value) => {
        this.record(false);
        return value;
      },
      (error: unknown) => {
        if (!context?.aborted && !isUncounted(error)) this.record(true);
        throw error;
      },
    );
  }

  /**
   * Counts one call's outcome at the clock's current time, as `run` does (for outcomes
   * measured elsewhere).
   */
  record(failed: boolean): void {
    const now = this.clock.now();
    this.window.record(now, failed);
    this.evaluate(now);
  }

  /** Plain-JSON figures of the window as of now. */
  stats(): SloStats {
    const now = this.clock.now();
    this.window.evict(now);
    this.evaluate(now);
    const { calls, failures } = this.window;
    const { target, window } = this.options;
    const errorBudget = rounded((1 - target) * calls);
    let remaining: number;
    if (failures === 0) remaining = 1;
    else if (errorBudget === 0) remaining = 0;
    else remaining = rounded(Math.min(1, Math.max(0, 1 - failures / errorBudget)));
    return {
      target,
      window,
      calls,
      failures,
      successRate: calls === 0 ? 1 : (calls - failures) / calls,
      errorBudget,
      errorBudgetRemaining: remaining,
      violated: this.violated,
    };
  }

  /** Forgets every call in the window; a violated objective recovers. */
  reset(): void {
    this.window.reset();
    this.evaluate(this.clock.now());
  }

  private evaluate(now: number): void {
    const { calls, failures } = this.window;
    // (calls - failures) / calls < target; both sides correctly rounded, so a ratio that
    // equals the target exactly is not below it
    const violated =
      calls >= this.options.minimumCalls && (calls - failures) / calls < this.options.target;
    if (violated === this.violated) return;
    this.violated = violated;
    if (this.emitter.hasListeners) this.emitter.emit(this.event(violated, now));
    if (violated) {
      try {
        this.onViolation?.(this);
      } catch {
        // reacting to a violation must never change the outcome of the call that caused it
      }
    }
  }

  private event(violated: boolean, at: number): SloViolationEvent | SloRecoveredEvent {
    const { calls, failures } = this.window;
    return {
      type: violated ? 'slo-violation' : 'slo-recovered',
      name: this.name,
      at,
      target: this.options.target,
      successRate: calls === 0 ? 1 : (calls - failures) / calls,
      calls,
      failures,
      window: this.options.window,
    };
  }
}

/**
 * Outcomes that say nothing about the service: a cancellation by the caller and a refusal
 * during shutdown (also as errors of another copy of the package, told by their brand and name).
 */
function isUncounted(error: unknown): boolean {
  try {
    if (error instanceof CallAbortedError) return true;
    if (!isResilienceError(error)) return false;
    if (error.name === 'CallAbortedError') return true;
    const refusal =
      error instanceof BulkheadRejectedError || error.name === 'BulkheadRejectedError';
    return refusal && (error as Partial<BulkheadRejectedError>).reason === 'shutdown';
  } catch {
    return false; // a revoked proxy thrown as an error: a failure like any other
  }
}
