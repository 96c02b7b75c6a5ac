import type { BulkheadRejectionReason } from './errors/bulkhead-rejected.error';

/** The three states of a circuit breaker. @publicApi */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** What caused a circuit breaker to change state. @publicApi */
export type StateChangeReason =
  | 'failure-threshold'
  | 'failure-rate'
  | 'slow-call-rate'
  | 'reset-timeout'
  | 'half-open-success'
  | 'half-open-failure'
  | 'manual'
  | 'shared-state'
  | 'slo-violation';

/** The kinds of policy. @publicApi */
export type PolicyKind =
  | 'circuitBreaker'
  | 'retry'
  | 'timeout'
  | 'bulkhead'
  | 'rateLimiter'
  | 'fallback'
  | 'deadLetter'
  | 'chaos'
  | 'slo';

interface EventBase {
  /** Name of the policy that emitted the event. */
  name: string;
  /** Epoch ms (from the module's clock). */
  at: number;
}

/** @publicApi */
export interface StateChangeEvent extends EventBase {
  type: 'state-change';
  from: CircuitState;
  to: CircuitState;
  reason: StateChangeReason;
}
/** A circuit breaker rejected a call (open, or half-open with every trial slot taken). @publicApi */
export interface CallRejectedEvent extends EventBase {
  type: 'call-rejected';
  state: CircuitState;
  retryAfter: number;
}
/** A retry is about to wait `delay` ms after call number `attempt` failed with `error`. @publicApi */
export interface RetryEvent extends EventBase {
  type: 'retry';
  attempt: number;
  delay: number;
  error: unknown;
}
/** @publicApi */
export interface TimeoutEvent extends EventBase {
  type: 'timeout';
  timeout: number;
}
/** @publicApi */
export interface BulkheadRejectedEvent extends EventBase {
  type: 'bulkhead-rejected';
  reason: BulkheadRejectionReason;
  key?: string;
}
/** The bulkhead queue crossed its `warningThreshold` (once per crossing). @publicApi */
export interface BulkheadPressureEvent extends EventBase {
  type: 'bulkhead-pressure';
  queued: number;
  maxQueue: number;
  ratio: number;
  key?: string;
}
/** @publicApi */
export interface RateLimitedEvent extends EventBase {
  type: 'rate-limited';
  retryAfter: number;
}
/** A fallback replaced a failure with a value. @publicApi */
export interface FallbackEvent extends EventBase {
  type: 'fallback';
  error: unknown;
}

/**
 * The circuit state store stopped answering (connection lost, a command timed out): shared
 * breakers run on local state until it returns. `name` is the store's name. Emitted once per
 * outage. @publicApi
 */
export interface StoreUnavailableEvent extends EventBase {
  type: 'store-unavailable';
  error: { name: string; message: string };
}
/** The circuit state store answers again and shared breakers were resynchronised. @publicApi */
export interface StoreAvailableEvent extends EventBase {
  type: 'store-available';
}

/**
 * A call finally failed and its dead letter was handed to the dead-letter queue (or to
 * the local buffer when the queue is failing). `name` is the letter's `policy`. @publicApi
 */
export interface DeadLetterEvent extends EventBase {
  type: 'dead-letter';
  letter: import('../dead-letter/dead-letter.interface').DeadLetter;
}

/** What an injected fault did: failed the call, answered it, or only delayed it. @publicApi */
export type ChaosOutcome = 'fault' | 'result' | 'latency';
/** A chaos policy injected a fault into a call (`latency`: ms added, 0 for none). @publicApi */
export interface ChaosEvent extends EventBase {
  type: 'chaos';
  outcome: ChaosOutcome;
  latency: number;
}

/** Figures of an SLO's window when its state changed (module option `slo`). */
interface SloEventBase extends EventBase {
  /** The success ratio to meet. */
  target: number;
  /** Success ratio of the window (0..1). */
  successRate: number;
  /** Calls in the window. */
  calls: number;
  /** Failed calls in the window. */
  failures: number;
  /** Length of the window in ms. */
  window: number;
}
/**
 * The SLO of policy `name` is violated: its window holds at least `minimumCalls` calls and
 * their success ratio fell below `target`. Emitted once per crossing. @publicApi
 */
export interface SloViolationEvent extends SloEventBase {
  type: 'slo-violation';
}
/** A violated SLO is met again (or its window no longer holds `minimumCalls` calls). @publicApi */
export interface SloRecoveredEvent extends SloEventBase {
  type: 'slo-recovered';
}

/** How an admitted circuit-breaker call ended. @publicApi */
export type CallOutcome = 'success' | 'failure';
/**
 * Told of every call a circuit breaker admitted, once it ends: the breaker's `name`, the
 * call's `duration` in ms (module clock) and its outcome (an error that `isFailure` ignores
 * is a success; a cancellation is not reported). Rejected calls are not calls here: see
 * `'call-rejected'` events and `rejectedCalls`. Runs synchronously on the call's path: keep
 * it cheap. @publicApi
 */
export type CallObserver = (name: string, duration: number, outcome: CallOutcome) => void;

/** Everything `ResilienceRegistry.events$` emits, discriminated on `type`. @publicApi */
export type ResilienceEvent =
  | StateChangeEvent
  | CallRejectedEvent
  | RetryEvent
  | TimeoutEvent
  | BulkheadRejectedEvent
  | BulkheadPressureEvent
  | RateLimitedEvent
  | FallbackEvent
  | DeadLetterEvent
  | StoreUnavailableEvent
  | StoreAvailableEvent
  | ChaosEvent
  | SloViolationEvent
  | SloRecoveredEvent;
