/**
 * Delay before every retry: `initialDelay`, capped at `maxDelay`.
 * @publicApi
 */
export function fixedDelay(initialDelay: number, maxDelay: number): number {
  return Math.min(maxDelay, initialDelay);
}
