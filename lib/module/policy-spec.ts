import type { PolicyKind } from '../common/events';

/** What one decorator records on a method. @internal */
export interface PolicySpec {
  kind: Exclude<PolicyKind, 'slo'> | 'usePolicy';
  /** Explicit policy name (shared by every method that gives the same one). */
  name?: string;
  options: unknown;
}

/**
 * The fixed composition order of API §2.1, outermost first:
 * Fallback(DeadLetter(Retry(CircuitBreaker(RateLimit(Timeout(Bulkhead(method))))))).
 * Fault injection (`chaos`) sits innermost, next to the method, so that every other
 * policy handles an injected fault like a real one. The SLO step (`slo`, module option, no
 * decorator) sits just outside the retry, so it sees each call's final outcome before a
 * dead-letter step or a fallback changes it.
 * @internal
 */
export const CONTRACT_ORDER: readonly PolicyKind[] = [
  'fallback',
  'deadLetter',
  'slo',
  'retry',
  'circuitBreaker',
  'rateLimiter',
  'timeout',
  'bulkhead',
  'chaos',
];

/** Sorts specs into contract order, whatever order the decorators were written in. @internal */
export function byContractOrder<T extends { kind: PolicyKind }>(specs: readonly T[]): T[] {
  return [...specs].sort((a, b) => CONTRACT_ORDER.indexOf(a.kind) - CONTRACT_ORDER.indexOf(b.kind));
}
