import type { RandomSource, ResolvedBackoffOptions } from './backoff.interface';
import { exponentialDelay } from './exponential.backoff';
import { fixedDelay } from './fixed.backoff';
import { decorrelatedJitter, equalJitter, fullJitter } from './jitter';
import { linearDelay } from './linear.backoff';

/**
 * The delay of `options.type` before the retry that follows failed call `attempt`
 * (1-based), capped at `maxDelay`, before any jitter.
 * @publicApi
 */
export function baseDelay(options: ResolvedBackoffOptions, attempt: number): number {
  switch (options.type) {
    case 'fixed':
      return fixedDelay(options.initialDelay, options.maxDelay);
    case 'linear':
      return linearDelay(attempt, options.initialDelay, options.maxDelay);
    default:
      return exponentialDelay(attempt, options.initialDelay, options.multiplier, options.maxDelay);
  }
}

/**
 * The delay in ms to wait after failed call `attempt` (1-based), jitter included.
 * `previous` is the delay this function returned for the retry before within the same
 * call (`initialDelay` before the first retry); only `'decorrelated'` jitter reads it.
 * @publicApi
 */
export function computeDelay(
  options: ResolvedBackoffOptions,
  attempt: number,
  previous: number,
  random: RandomSource,
): number {
  switch (options.jitter) {
    case 'none':
      return baseDelay(options, attempt);
    case 'equal':
      return equalJitter(baseDelay(options, attempt), random);
    case 'decorrelated':
      return decorrelatedJitter(previous, options.initialDelay, options.maxDelay, random);
    default:
      return fullJitter(baseDelay(options, attempt), random);
  }
}
