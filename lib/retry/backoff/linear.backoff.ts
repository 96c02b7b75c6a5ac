/**
 * Delay before the retry that follows failed call `attempt` (1-based):
 * `initialDelay * attempt`, capped at `maxDelay`.
 * @publicApi
 */
export function linearDelay(attempt: number, initialDelay: number, maxDelay: number): number {
  return Math.min(maxDelay, initialDelay * attempt);
}
