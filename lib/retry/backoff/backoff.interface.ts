/** How the delay grows from one retry to the next. @publicApi */
export type BackoffType = 'exponential' | 'fixed' | 'linear';

/**
 * How the delay is randomised so that many clients do not retry in lock step.
 * - `'none'`: the computed delay `d` itself.
 * - `'full'`: a random delay in `[0, d]`.
 * - `'equal'`: `d / 2` plus a random delay in `[0, d / 2]`.
 * - `'decorrelated'`: a random delay between `initialDelay` and three times the previous
 *   delay, capped at `maxDelay` (it replaces `type` and `multiplier`).
 * @publicApi
 */
export type JitterType = 'none' | 'full' | 'equal' | 'decorrelated';

/** The waiting strategy of `@Retry` (`backoff` option). @publicApi */
export interface BackoffOptions {
  /**
   * How the delay grows: `initialDelay * multiplier^(n - 1)` (exponential),
   * `initialDelay * n` (linear) or `initialDelay` (fixed), `n` being the number of the
   * call that just failed.
   * @default 'exponential'
   */
  type?: BackoffType;
  /**
   * Delay before the first retry, in milliseconds (>= 0).
   * @default 100
   */
  initialDelay?: number;
  /**
   * Upper bound of every delay, in milliseconds (>= `initialDelay`).
   * @default 30000
   */
  maxDelay?: number;
  /**
   * Growth factor of the exponential backoff (>= 1). Unitless.
   * @default 2
   */
  multiplier?: number;
  /**
   * Randomisation applied to each delay.
   * @default 'full'
   */
  jitter?: JitterType;
}

/** Backoff options with every default applied. @publicApi */
export type ResolvedBackoffOptions = Required<BackoffOptions>;

/** A source of random numbers in `[0, 1)`, like `Math.random`. @publicApi */
export type RandomSource = () => number;
