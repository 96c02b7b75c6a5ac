/**
 * Delay before the retry that follows failed call `attempt` (1-based):
 * `initialDelay * multiplier^(attempt - 1)`, capped at `maxDelay`.
 * @publicApi
 */
export function exponentialDelay(
  attempt: number,
  initialDelay: number,
  multiplier: number,
  maxDelay: number,
): number {
  if (initialDelay === 0) return 0; // 0 * Infinity would be NaN for very large attempts
  return Math.min(maxDelay, initialDelay * multiplier ** (attempt - 1));
}
