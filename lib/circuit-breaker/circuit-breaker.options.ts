import { checks, invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/** The kinds of sliding window a circuit breaker can keep its figures in. @publicApi */
export type SlidingWindowType = 'count' | 'time';

/**
 * Where the breaker keeps the outcomes that `failureRate` and `slowCallRate` are computed
 * over.
 * - `{ type: 'count', size }`: the last `size` calls (a whole number >= 1; default 100).
 * - `{ type: 'time', size }`: the calls of the last `size` ms (> 0; default 10000), kept in
 *   10 buckets of `size / 10` ms each (see `TimeWindow`).
 * When only `type` is given, `size` takes that type's default.
 * @publicApi
 */
export type SlidingWindowOptions =
  { type: 'count'; size?: number } | { type: 'time'; size?: number };

/** Options of a circuit breaker (API §2). Every duration is in milliseconds. @publicApi */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open a closed breaker (consecutive mode only: setting
   * `failureRateThreshold` or `slowCallRateThreshold` replaces this rule).
   * A whole number >= 1.
   * @default 5
   */
  failureThreshold: number;
  /**
   * Consecutive successful trial calls that close a half-open breaker. A whole number >= 1.
   * @default 2
   */
  successThreshold: number;
  /**
   * Time in ms an open breaker stays open before it turns half-open. A number > 0.
   * @default 60000
   */
  resetTimeout: number;
  /**
   * Trial calls a half-open breaker lets run at the same time; further calls are
   * rejected with `CircuitOpenError`. A whole number >= 1.
   *
   * A trial that never settles does not block the breaker forever: when a call finds every
   * slot taken and the oldest running trial started `resetTimeout` ms ago or earlier, the
   * running trials are given up as failed, the breaker opens again (reason
   * `'half-open-failure'`) and that call is rejected as by an open breaker. Their late
   * outcomes no longer move the state. A trial cancelled by its caller (`CallAbortedError`)
   * frees its slot without counting as a success or a failure.
   * @default 1
   */
  halfOpenMaxCalls: number;
  /**
   * Failure rate in percent (0 < rate <= 100) over the sliding window at or above which a
   * closed breaker opens. Setting it switches the breaker to rate mode.
   * @default undefined (consecutive mode)
   */
  failureRateThreshold?: number;
  /**
   * Slow-call rate in percent (0 < rate <= 100) over the sliding window at or above which a
   * closed breaker opens. Setting it switches the breaker to rate mode.
   * @default undefined (consecutive mode)
   */
  slowCallRateThreshold?: number;
  /**
   * Duration in ms from which a call counts as slow (a call lasting exactly this long is
   * slow). A number > 0.
   * @default 60000
   */
  slowCallDuration: number;
  /**
   * Calls that must be in the sliding window before a rate can open the breaker (rate mode).
   * A whole number >= 1; with a count window it may not exceed the window's size.
   * @default 10
   */
  minimumCalls: number;
  /**
   * The sliding window the rates are computed over (in both modes, for `stats()`).
   * @default { type: 'count', size: 100 }
   */
  slidingWindow: SlidingWindowOptions;
  /**
   * Decides whether a thrown error counts as a failure. An error for which it returns
   * false still reaches the caller but counts as a success. If it throws, the error counts
   * as a failure. It is not asked about a `CallAbortedError` (the caller cancelled the call),
   * which counts neither as a success nor as a failure.
   * @default undefined (every thrown error is a failure)
   */
  isFailure?: (error: unknown) => boolean;
  /**
   * Whether the breaker's state is shared through the module's `stateStore` (other
   * instances, or a later run of this one). With a store configured every breaker is shared
   * unless it sets `shared: false`; without a store, `shared: true` fails bootstrap.
   * @default true with a module `stateStore`, false without one
   */
  shared?: boolean;
}

/** Circuit breaker options with every default applied. @publicApi */
export interface ResolvedCircuitBreakerOptions {
  failureThreshold: number;
  successThreshold: number;
  resetTimeout: number;
  halfOpenMaxCalls: number;
  failureRateThreshold?: number;
  slowCallRateThreshold?: number;
  slowCallDuration: number;
  minimumCalls: number;
  slidingWindow: { type: SlidingWindowType; size: number };
  isFailure?: (error: unknown) => boolean;
  shared: boolean;
}

/** Default window size per window type: calls for 'count', ms for 'time'. @internal */
export const DEFAULT_WINDOW_SIZE: Readonly<Record<SlidingWindowType, number>> = {
  count: 100,
  time: 10_000,
};

/** @internal */
export const CIRCUIT_BREAKER_DEFAULTS = {
  failureThreshold: 5,
  successThreshold: 2,
  resetTimeout: 60_000,
  halfOpenMaxCalls: 1,
  slowCallDuration: 60_000,
  minimumCalls: 10,
  slidingWindow: { type: 'count', size: DEFAULT_WINDOW_SIZE.count },
  shared: false,
} as const;

const anything = () => undefined;

const schema: Schema = {
  failureThreshold: checks.positiveInt,
  successThreshold: checks.positiveInt,
  resetTimeout: checks.positiveDuration,
  halfOpenMaxCalls: checks.positiveInt,
  failureRateThreshold: checks.percent,
  slowCallRateThreshold: checks.percent,
  slowCallDuration: checks.positiveDuration,
  minimumCalls: checks.positiveInt,
  slidingWindow: {
    check: checks.object({}),
    // `size` depends on `type`, so it is checked below, once `type` is known
    nested: { type: checks.oneOf('count', 'time'), size: anything },
  },
  isFailure: checks.fn,
  shared: checks.bool,
};

/** Every key `resolveCircuitBreakerOptions` knows (nested ones dotted). @internal */
export const CIRCUIT_BREAKER_OPTION_KEYS: readonly string[] = schemaKeys(schema);

/**
 * Validates circuit breaker options and applies the defaults. Unknown keys and bad values
 * throw a `ResilienceConfigError` naming the policy, the key and the value.
 * @publicApi
 */
export function resolveCircuitBreakerOptions(
  name: string,
  options?: Partial<CircuitBreakerOptions>,
): ResolvedCircuitBreakerOptions {
  validateOptions(name, options, schema);
  const o = options ?? {};
  const slidingWindow = resolveWindow(name, o.slidingWindow);
  const resolved: ResolvedCircuitBreakerOptions = {
    failureThreshold: o.failureThreshold ?? CIRCUIT_BREAKER_DEFAULTS.failureThreshold,
    successThreshold: o.successThreshold ?? CIRCUIT_BREAKER_DEFAULTS.successThreshold,
    resetTimeout: o.resetTimeout ?? CIRCUIT_BREAKER_DEFAULTS.resetTimeout,
    halfOpenMaxCalls: o.halfOpenMaxCalls ?? CIRCUIT_BREAKER_DEFAULTS.halfOpenMaxCalls,
    slowCallDuration: o.slowCallDuration ?? CIRCUIT_BREAKER_DEFAULTS.slowCallDuration,
    minimumCalls: o.minimumCalls ?? CIRCUIT_BREAKER_DEFAULTS.minimumCalls,
    slidingWindow,
    shared: o.shared ?? CIRCUIT_BREAKER_DEFAULTS.shared,
  };
  if (o.failureRateThreshold !== undefined) resolved.failureRateThreshold = o.failureRateThreshold;
  if (o.slowCallRateThreshold !== undefined) {
    resolved.slowCallRateThreshold = o.slowCallRateThreshold;
  }
  if (o.isFailure !== undefined) resolved.isFailure = o.isFailure;

  // a count window can never hold minimumCalls calls if it is smaller: rates could never open it
  if (
    isRateMode(resolved) &&
    slidingWindow.type === 'count' &&
    resolved.minimumCalls > slidingWindow.size
  ) {
    invalid(
      name,
      'minimumCalls',
      resolved.minimumCalls,
      `a whole number no larger than slidingWindow.size (${slidingWindow.size}), ` +
        'or a larger count window, since the window never holds more calls than its size',
    );
  }
  return resolved;
}

/** True when a rate threshold is set, which replaces the consecutive-failure rule. @internal */
export function isRateMode(options: ResolvedCircuitBreakerOptions): boolean {
  return options.failureRateThreshold !== undefined || options.slowCallRateThreshold !== undefined;
}

function resolveWindow(
  name: string,
  window: SlidingWindowOptions | undefined,
): ResolvedCircuitBreakerOptions['slidingWindow'] {
  if (window === undefined) return { ...CIRCUIT_BREAKER_DEFAULTS.slidingWindow };
  const { type, size } = window;
  if (type === undefined) {
    invalid(name, 'slidingWindow.type', type, "one of 'count', 'time'");
  }
  if (size === undefined) return { type, size: DEFAULT_WINDOW_SIZE[type] };
  const expected =
    type === 'count'
      ? checks.positiveInt(size) && 'a whole number of calls >= 1 for a count window'
      : checks.positiveDuration(size) && 'a duration in ms (a finite number > 0) for a time window';
  if (expected) invalid(name, 'slidingWindow.size', size, expected);
  return { type, size };
}
