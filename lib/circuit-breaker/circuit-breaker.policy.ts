import type { CallContext } from '../common/call-context';
import type { Clock } from '../common/clock';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { isResilienceError } from '../common/errors/resilience.error';
import type { CallObserver, CallOutcome, CircuitState, StateChangeReason } from '../common/events';
import { Policy, PolicyTime, rejectSoon, rootContext, Work } from '../common/policy';
import { Scheduler, setDetachedTimeout, timeSourceFrom } from '../common/scheduler';
import { invalid, MAX_TIMER_DELAY } from '../common/validate';
import {
  CircuitBreakerOptions,
  isRateMode,
  ResolvedCircuitBreakerOptions,
  resolveCircuitBreakerOptions,
} from './circuit-breaker.options';
import { CountWindow } from './windows/count-window';
import type { SlidingWindow } from './windows/sliding-window';
import { TimeWindow } from './windows/time-window';

/** Plain-JSON figures of one circuit breaker (API §4 `circuitBreakers[name]`). @publicApi */
export interface CircuitBreakerStats {
  state: CircuitState;
  /** Current consecutive failures (closed: towards `failureThreshold`). */
  failureCount: number;
  /** Current consecutive successful trial calls (half-open: towards `successThreshold`). */
  successCount: number;
  /** `successfulCalls + failedCalls + rejectedCalls`. */
  totalCalls: number;
  successfulCalls: number;
  failedCalls: number;
  rejectedCalls: number;
  /** Completed calls that lasted `slowCallDuration` ms or longer. */
  slowCalls: number;
  /** Percentage (0-100) of failed calls in the current sliding window; 0 when it is empty. */
  failureRate: number;
  /** Percentage (0-100) of slow calls in the current sliding window; 0 when it is empty. */
  slowCallRate: number;
  /** Epoch ms of the last state change (creation time if none). */
  stateChangedAt: number;
  /** The last error that counted as a failure. */
  lastError?: { name: string; message: string };
}

/**
 * Serializable state of a breaker, as a `CircuitStateStore` keeps it. `openedAt` is the
 * epoch ms the breaker last opened (0 if never); an `'open'` snapshot whose
 * `openedAt + resetTimeout` has passed restores as half-open.
 * @publicApi
 */
export interface CircuitSnapshot {
  state: CircuitState;
  openedAt: number;
  failureCount: number;
  successCount: number;
  stateChangedAt: number;
}

const STATES: readonly CircuitState[] = ['closed', 'open', 'half-open'];

/** Why `CircuitBreakerPolicy.open()` forces a breaker open. @publicApi */
export type ForcedOpenReason = Extract<StateChangeReason, 'manual' | 'slo-violation'>;

/** How a half-open trial call ended, as a `CircuitTrialGate` is told. @publicApi */
export type TrialOutcome = 'success' | 'failure' | 'cancelled';

/**
 * Admits half-open trial calls across instances (a shared circuit state store sets one). The
 * breaker still applies its own `halfOpenMaxCalls` limit first; the gate then decides across
 * every instance. `acquire()` must never reject or hang: when the store cannot answer, it
 * resolves with a release function (the local limit applies). A granted slot is released
 * exactly once, with the trial's outcome.
 * @publicApi
 */
export interface CircuitTrialGate {
  acquire(): Promise<((outcome: TrialOutcome) => void) | false>;
}

/**
 * A circuit breaker without any framework (API §2, §4).
 *
 * - Closed: calls run. Consecutive mode (default) opens after `failureThreshold`
 *   consecutive failures; rate mode (a rate threshold is set) opens when the sliding window
 *   holds at least `minimumCalls` calls and a rate reaches its threshold.
 * - Open: calls are rejected at once with `CircuitOpenError`. After `resetTimeout` ms the
 *   breaker is half-open: `state` computes it from the clock, and a timer emits the
 *   `'state-change'` event on time.
 * - Half-open: up to `halfOpenMaxCalls` trial calls run at a time; `successThreshold`
 *   consecutive successes close the breaker, any failure opens it again. A trial that never
 *   settles cannot hold the breaker half-open forever: when a call finds every trial slot
 *   taken and the oldest running trial started `resetTimeout` ms ago or earlier, the running
 *   trials are given up as failed and the breaker opens again (reason `'half-open-failure'`);
 *   that call is rejected as an open breaker rejects calls.
 *
 * A call cancelled by its own caller (the work rejects or throws a `CallAbortedError`, from
 * this copy of the package or another) is not an outcome of the protected resource: it is
 * counted nowhere (not as a success, a failure or a call, not in the window, not as
 * `lastError`) and moves no state, except that a half-open trial slot it held is freed. The
 * error still reaches the caller unchanged. A `TimeoutError` is not a cancellation: it counts
 * as a failure.
 *
 * Outcomes of calls that were admitted in an earlier state (a slow call that ends after the
 * breaker opened, a trial that ends after another trial closed it or was given up as hung)
 * still count in the call totals, but no longer move the state machine.
 * @publicApi
 */
export class CircuitBreakerPolicy extends Policy {
  override readonly kind = 'circuitBreaker' as const;
  readonly options: ResolvedCircuitBreakerOptions;

  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly rateMode: boolean;
  private readonly window: SlidingWindow;

  /** The stored state; 'open' may already have lapsed into half-open (see `settle`). */
  private current: CircuitState = 'closed';
  /** Bumped on every transition: outcomes of calls admitted under an older one are stale. */
  private generation = 0;
  private openedAt = 0;
  private stateChangedAt: number;
  private failureCount = 0;
  private successCount = 0;
  private trialsInFlight = 0;
  /**
   * Start times of the trials in flight (half-open only; at most `halfOpenMaxCalls` entries),
   * to give up on hung trials. The closed-state hot path never touches it.
   */
  private trialStarts: number[] = [];
  private timer: unknown = undefined;
  private disposed = false;
  /** Set by a shared state store: half-open trials also need its slot (see `runSharedTrial`). */
  private trialGate?: CircuitTrialGate;

  private successfulCalls = 0;
  private failedCalls = 0;
  private rejectedCalls = 0;
  private slowCalls = 0;
  private lastError?: { name: string; message: string };
  /** Told of every admitted call's outcome and duration (metrics exporters). @internal */
  callObserver?: CallObserver;

  constructor(name: string, options?: Partial<CircuitBreakerOptions>, time?: PolicyTime) {
    super(name);
    this.options = resolveCircuitBreakerOptions(name, options);
    const source = timeSourceFrom(time?.clock, time?.scheduler);
    this.clock = source.clock;
    this.scheduler = source.scheduler;
    this.rateMode = isRateMode(this.options);
    const { type, size } = this.options.slidingWindow;
    this.window = type === 'count' ? new CountWindow(size) : new TimeWindow(size);
    this.stateChangedAt = this.clock.now();
  }

  /**
   * `'closed'`, `'open'` or `'half-open'`. An open breaker reads half-open once `resetTimeout`
   * has passed, whether or not a call came.
   */
  get state(): CircuitState {
    if (this.current === 'open') this.settle(this.clock.now());
    return this.current;
  }

  /** Ms until an open breaker turns half-open; 0 in any other state. */
  get retryAfter(): number {
    if (this.current !== 'open') return 0;
    const now = this.clock.now();
    this.settle(now);
    return this.current === 'open' ? this.remaining(now) : 0;
  }

  /**
   * Runs `fn` under the breaker. An admitted call invokes `fn` synchronously; a rejected one
   * returns a rejected promise (`CircuitOpenError`) without calling it.
   * @internal
   */
  run<T>(fn: Work<T>, context: CallContext | undefined): Promise<T> {
    const start = this.clock.now();
    let trial = false;
    if (this.current !== 'closed') {
      if (this.current === 'open') {
        this.settle(start);
        if (this.current === 'open') return this.reject(start, this.remaining(start));
      }
      const max = this.options.halfOpenMaxCalls;
      if (this.trialsInFlight >= max) {
        if (start - this.oldestTrialStart() < this.options.resetTimeout) {
          return this.reject(start, 0, max);
        }
        // the running trials hung for a whole resetTimeout: give them up as failed
        this.transition('open', 'half-open-failure', start);
        return this.reject(start, this.remaining(start));
      }
      if (this.trialGate !== undefined) return this.runSharedTrial(fn, context, start);
      this.trialsInFlight++;
      this.trialStarts.push(start);
      trial = true;
    }
    const generation = this.generation;

    let result: T | PromiseLike<T>;
    try {
      result = fn(rootContext(context));
    } catch (error) {
      this.onError(error, start, generation, trial);
      return Promise.reject(error);
    }
    if (result instanceof Promise || isThenable(result)) {
      return Promise.resolve(result).then(
        (value) => {
          this.onSuccess(start, generation, trial);
          return value;
        },
        (error: unknown) => {
          this.onError(error, start, generation, trial);
          throw error;
        },
      );
    }
    this.onSuccess(start, generation, trial);
    return Promise.resolve(result);
  }

  /**
   * Forces the breaker open now; it turns half-open after `resetTimeout`. On a breaker that is
   * already open, the timeout restarts and no event is emitted.
   * @param reason what the `'state-change'` event reports: `'manual'` (default), or
   *   `'slo-violation'` when an SLO with `openCircuitBreaker` opens it.
   */
  open(reason: ForcedOpenReason = 'manual'): void {
    const now = this.clock.now();
    this.settle(now);
    if (this.current === 'open') {
      this.openedAt = now;
      this.armTimer(this.options.resetTimeout);
      return;
    }
    this.transition('open', reason, now);
  }

  /** Resets the breaker to closed (reason `'manual'`), clearing its counts and window. */
  close(): void {
    const now = this.clock.now();
    this.settle(now);
    if (this.current === 'closed') {
      this.failureCount = 0;
      this.successCount = 0;
      this.window.reset();
      return;
    }
    this.transition('closed', 'manual', now);
  }

  /** Plain-JSON figures (API §4); rates are over the current sliding window. */
  stats(): CircuitBreakerStats {
    const now = this.clock.now();
    this.settle(now);
    const window = this.window;
    window.evict(now);
    const calls = window.calls;
    const stats: CircuitBreakerStats = {
      state: this.current,
      failureCount: this.failureCount,
      successCount: this.successCount,
      totalCalls: this.successfulCalls + this.failedCalls + this.rejectedCalls,
      successfulCalls: this.successfulCalls,
      failedCalls: this.failedCalls,
      rejectedCalls: this.rejectedCalls,
      slowCalls: this.slowCalls,
      failureRate: calls === 0 ? 0 : (window.failures / calls) * 100,
      slowCallRate: calls === 0 ? 0 : (window.slow / calls) * 100,
      stateChangedAt: this.stateChangedAt,
    };
    if (this.lastError) stats.lastError = { ...this.lastError };
    return stats;
  }

  /** The state a `CircuitStateStore` persists: plain, serializable. */
  snapshot(): CircuitSnapshot {
    this.settle(this.clock.now());
    return {
      state: this.current,
      openedAt: this.openedAt,
      failureCount: this.failureCount,
      successCount: this.successCount,
      stateChangedAt: this.stateChangedAt,
    };
  }

  /**
   * Adopts a snapshot (from a state store). A change of state emits one `'state-change'`
   * with reason `'shared-state'`; restoring the state the breaker is already in emits
   * nothing. An open snapshot re-arms the half-open timer for the time that is left.
   * Throws `ResilienceConfigError` for a malformed snapshot.
   */
  restore(snapshot: CircuitSnapshot): void {
    this.checkSnapshot(snapshot);
    const now = this.clock.now();
    this.settle(now);
    const from = this.current;
    let to = snapshot.state;
    let changedAt = snapshot.stateChangedAt;
    let failureCount = snapshot.failureCount;
    let successCount = snapshot.successCount;
    const halfOpenAt = snapshot.openedAt + this.options.resetTimeout;
    if (to === 'open' && now >= halfOpenAt) {
      to = 'half-open';
      changedAt = halfOpenAt;
      failureCount = 0;
      successCount = 0;
    }
    this.openedAt = snapshot.openedAt;
    this.stateChangedAt = changedAt;
    this.failureCount = failureCount;
    this.successCount = successCount;
    if (to === 'open') this.armTimer(halfOpenAt - now);
    else this.clearTimer();
    if (to === from) return;
    this.current = to;
    this.generation++;
    this.trialsInFlight = 0;
    this.trialStarts.length = 0;
    if (to === 'closed') this.window.reset();
    this.emitStateChange(from, to, 'shared-state', now);
  }

  /**
   * Lets `gate` admit half-open trials across instances (undefined removes it). Set by a
   * shared circuit state store; the closed state never consults it.
   * @internal
   */
  setTrialGate(gate: CircuitTrialGate | undefined): void {
    this.trialGate = gate;
  }

  /**
   * A half-open trial that also needs a slot from the trial gate. The local slot is taken at
   * once (so this instance never runs more than `halfOpenMaxCalls`); a refused slot frees it
   * and rejects the call; a state change while waiting starts the call over under the new
   * state. The gate learns the trial's outcome when it settles.
   */
  private runSharedTrial<T>(
    fn: Work<T>,
    context: CallContext | undefined,
    start: number,
  ): Promise<T> {
    this.trialsInFlight++;
    this.trialStarts.push(start);
    const generation = this.generation;
    return this.trialGate!.acquire().then((release) => {
      if (generation !== this.generation) {
        if (release) release('cancelled');
        return this.run(fn, context);
      }
      if (!release) {
        this.endTrial(start);
        return this.reject(this.clock.now(), 0, this.options.halfOpenMaxCalls);
      }
      let result: T | PromiseLike<T>;
      try {
        result = fn(rootContext(context));
      } catch (error) {
        this.onError(error, start, generation, true);
        release(this.outcomeOf(error));
        return Promise.reject(error);
      }
      return Promise.resolve(result).then(
        (value) => {
          this.onSuccess(start, generation, true);
          release('success');
          return value;
        },
        (error: unknown) => {
          this.onError(error, start, generation, true);
          release(this.outcomeOf(error));
          throw error;
        },
      );
    });
  }

  private outcomeOf(error: unknown): TrialOutcome {
    if (isCancellation(error)) return 'cancelled';
    return this.isFailure(error) ? 'failure' : 'success';
  }

  /**
   * Clears the half-open timer and starts no new one. The breaker keeps working: `state` still
   * turns half-open on time, only the timer-driven event is gone.
   */
  override dispose(): void {
    this.disposed = true;
    this.clearTimer();
  }

  private onSuccess(start: number, generation: number, trial: boolean): void {
    const now = this.clock.now();
    const slow = now - start >= this.options.slowCallDuration;
    this.successfulCalls++;
    if (this.callObserver !== undefined) this.observe(now - start, 'success');
    if (slow) this.slowCalls++;
    if (generation !== this.generation) return;
    this.window.record(now, false, slow);
    if (trial) {
      this.endTrial(start);
      if (++this.successCount >= this.options.successThreshold) {
        this.transition('closed', 'half-open-success', now);
      }
      return;
    }
    this.failureCount = 0;
    if (this.rateMode) this.checkRates(now);
  }

  /** A rejected or throwing call: a cancellation, an ignored error or a failure. */
  private onError(error: unknown, start: number, generation: number, trial: boolean): void {
    if (isCancellation(error)) {
      // not an outcome of the resource: only give back the trial slot, if still current
      if (trial && generation === this.generation) this.endTrial(start);
      return;
    }
    this.onFailure(error, start, generation, trial);
  }

  private onFailure(error: unknown, start: number, generation: number, trial: boolean): void {
    if (!this.isFailure(error)) {
      this.onSuccess(start, generation, trial);
      return;
    }
    const now = this.clock.now();
    const slow = now - start >= this.options.slowCallDuration;
    this.failedCalls++;
    if (slow) this.slowCalls++;
    this.lastError = describeError(error);
    if (this.callObserver !== undefined) this.observe(now - start, 'failure');
    if (generation !== this.generation) return;
    this.window.record(now, true, slow);
    this.failureCount++;
    if (trial) {
      this.endTrial(start);
      this.transition('open', 'half-open-failure', now);
    } else if (this.rateMode) {
      this.checkRates(now);
    } else if (this.failureCount >= this.options.failureThreshold) {
      this.transition('open', 'failure-threshold', now);
    }
  }

  private observe(duration: number, outcome: CallOutcome): void {
    try {
      // a wall clock that stepped back must not make a negative duration (histogram sums)
      this.callObserver?.(this.name, duration > 0 ? duration : 0, outcome);
    } catch {
      // an observer's failure must never change the outcome of a protected call
    }
  }

  /** Frees the slot of a current-generation trial that started at `start`. */
  private endTrial(start: number): void {
    this.trialsInFlight--;
    const starts = this.trialStarts;
    const index = starts.indexOf(start);
    if (index !== -1) starts.splice(index, 1);
  }

  /** Start time of the oldest trial in flight (at most `halfOpenMaxCalls` entries). */
  private oldestTrialStart(): number {
    let oldest = Infinity;
    for (const at of this.trialStarts) if (at < oldest) oldest = at;
    return oldest;
  }

  private isFailure(error: unknown): boolean {
    const isFailure = this.options.isFailure;
    if (!isFailure) return true;
    try {
      return Boolean(isFailure(error));
    } catch {
      return true;
    }
  }

  /** Rate mode, closed: opens when the window holds minimumCalls and a rate reaches its limit. */
  private checkRates(now: number): void {
    const window = this.window;
    const calls = window.calls;
    if (calls < this.options.minimumCalls) return;
    const { failureRateThreshold, slowCallRateThreshold } = this.options;
    // rate >= threshold, without dividing: failures / calls * 100 >= threshold
    if (
      failureRateThreshold !== undefined &&
      window.failures * 100 >= failureRateThreshold * calls
    ) {
      this.transition('open', 'failure-rate', now);
    } else if (
      slowCallRateThreshold !== undefined &&
      window.slow * 100 >= slowCallRateThreshold * calls
    ) {
      this.transition('open', 'slow-call-rate', now);
    }
  }

  /**
   * Makes an open breaker half-open once `resetTimeout` has passed. The getter, a call and
   * the timer all go through here, and only the first of them finds the breaker still
   * open, so the transition is emitted once.
   */
  private settle(now: number): void {
    if (this.current !== 'open') return;
    const halfOpenAt = this.openedAt + this.options.resetTimeout;
    if (now >= halfOpenAt) this.transition('half-open', 'reset-timeout', halfOpenAt);
  }

  private remaining(now: number): number {
    return Math.max(0, Math.ceil(this.openedAt + this.options.resetTimeout - now));
  }

  private transition(to: CircuitState, reason: StateChangeReason, at: number): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    this.stateChangedAt = at;
    this.trialsInFlight = 0;
    this.trialStarts.length = 0;
    this.successCount = 0;
    if (to === 'open') {
      this.openedAt = at;
      this.armTimer(this.options.resetTimeout);
    } else {
      // the failures that opened the breaker stay visible in stats() while it is open
      this.clearTimer();
      this.failureCount = 0;
      if (to === 'closed') this.window.reset();
    }
    this.emitStateChange(from, to, reason, at);
  }

  private emitStateChange(
    from: CircuitState,
    to: CircuitState,
    reason: StateChangeReason,
    at: number,
  ): void {
    if (!this.emitter.hasListeners) return;
    this.emitter.emit({ type: 'state-change', name: this.name, from, to, reason, at });
  }

  private reject(now: number, retryAfter: number, halfOpenMaxCalls?: number): Promise<never> {
    this.rejectedCalls++;
    if (this.emitter.hasListeners) {
      this.emitter.emit({
        type: 'call-rejected',
        name: this.name,
        state: this.current,
        retryAfter,
        at: now,
      });
    }
    return rejectSoon(openError(this.name, retryAfter, halfOpenMaxCalls));
  }

  /**
   * (Re)starts the timer that emits open -> half-open on time. The handle is unref'd (when it
   * can be) so the timer never keeps a process alive.
   */
  private armTimer(ms: number): void {
    this.clearTimer();
    if (this.disposed) return;
    // longer delays fire at once in Node; onTimer re-arms for whatever is left
    const delay = Math.min(Math.max(1, ms), MAX_TIMER_DELAY);
    // outside the tripping call's async context: the timer outlives that call, and the
    // half-open 'state-change' it emits belongs to no call (no span, no request)
    const handle = setDetachedTimeout(this.scheduler, () => this.onTimer(handle), delay);
    (handle as { unref?: () => void } | null)?.unref?.();
    this.timer = handle;
  }

  private onTimer(handle: unknown): void {
    if (this.timer !== handle) return;
    this.timer = undefined;
    if (this.current !== 'open') return;
    const now = this.clock.now();
    this.settle(now);
    // a timer may fire a little before the clock agrees: wait for the rest
    if (this.current === 'open') this.armTimer(this.remaining(now));
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    const handle = this.timer;
    this.timer = undefined;
    this.scheduler.clearTimeout(handle);
  }

  private checkSnapshot(snapshot: CircuitSnapshot): void {
    if (typeof snapshot !== 'object' || snapshot === null) {
      invalid(this.name, 'snapshot', snapshot, 'a circuit snapshot object');
    }
    if (!STATES.includes(snapshot.state)) {
      invalid(this.name, 'snapshot.state', snapshot.state, "one of 'closed', 'open', 'half-open'");
    }
    for (const key of ['openedAt', 'failureCount', 'successCount', 'stateChangedAt'] as const) {
      const value = snapshot[key];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        invalid(this.name, `snapshot.${key}`, value, 'a finite number');
      }
    }
  }
}

/**
 * True for a `CallAbortedError`, also one from a duplicate copy of the package (recognised by
 * the resilience brand and its name).
 */
function isCancellation(error: unknown): boolean {
  return (
    error instanceof CallAbortedError ||
    (isResilienceError(error) && error.name === 'CallAbortedError')
  );
}

/**
 * The error of a rejected call, built without capturing a stack trace: a rejection by an
 * open breaker is routine, and capturing frames would cost more than the call it saves.
 * It is a fresh `CircuitOpenError` (its own `retryAfter`), and its `stack` still starts
 * with the name and message.
 */
function openError(name: string, retryAfter: number, halfOpenMaxCalls?: number): CircuitOpenError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CircuitOpenError(name, retryAfter, halfOpenMaxCalls);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PromiseLike<T>).then === 'function'
  );
}

function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  if (typeof error === 'object' && error !== null) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    return {
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : String(error),
    };
  }
  return { name: typeof error, message: String(error) };
}
