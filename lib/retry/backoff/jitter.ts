import type { RandomSource } from './backoff.interface';

/** A random delay in `[0, delay]`. @publicApi */
export function fullJitter(delay: number, random: RandomSource): number {
  return random() * delay;
}

/** `delay / 2` plus a random delay in `[0, delay / 2]`. @publicApi */
export function equalJitter(delay: number, random: RandomSource): number {
  const half = delay / 2;
  return half + random() * half;
}

/**
 * A random delay between `initialDelay` and `previous * 3`, capped at `maxDelay`.
 * `previous` is the delay returned for the retry before (`initialDelay` for the first).
 * @publicApi
 */
export function decorrelatedJitter(
  previous: number,
  initialDelay: number,
  maxDelay: number,
  random: RandomSource,
): number {
  const upper = Math.max(initialDelay, previous * 3);
  return Math.min(maxDelay, initialDelay + random() * (upper - initialDelay));
}
