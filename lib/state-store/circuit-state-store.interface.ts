import type { CircuitSnapshot, CircuitTrialGate } from '../circuit-breaker/circuit-breaker.policy';
import type { ResolvedCircuitBreakerOptions } from '../circuit-breaker/circuit-breaker.options';
import type { Clock } from '../common/clock';
import type { CircuitState, StateChangeReason } from '../common/events';
import type { Scheduler } from '../common/scheduler';

/**
 * A circuit state decided somewhere else (another instance, an earlier run), as a store
 * hands it to a breaker. `state` is `'closed'` or `'open'` (a store may also give
 * `'half-open'`); an `'open'` state whose `openedAt + resetTimeout` has passed is adopted as
 * half-open. Times are epoch ms.
 * @publicApi
 */
export interface SharedCircuitState {
  state: CircuitState;
  /** When the breaker last opened (0 if never). */
  openedAt: number;
  /** When the state last changed. */
  stateChangedAt: number;
}

/**
 * Call counters of one breaker on this instance since it was created, for stores that
 * aggregate them across instances in batches (compare with the counters of the last batch).
 * @publicApi
 */
export interface SharedCircuitCounters {
  successfulCalls: number;
  failedCalls: number;
  slowCalls: number;
  /** Consecutive failures since the last success (what the consecutive rule counts). */
  failureCount: number;
}

/**
 * What a store sees of one shared circuit breaker.
 * @publicApi
 */
export interface SharedCircuit {
  readonly name: string;
  /** The breaker's options (`resetTimeout`, thresholds, window) with every default applied. */
  readonly options: ResolvedCircuitBreakerOptions;
  /** The breaker's current state (an open breaker whose timeout has passed reads half-open). */
  snapshot(): CircuitSnapshot;
  /** This instance's counters, for batched aggregation. */
  counters(): SharedCircuitCounters;
  /**
   * Adopts a state decided elsewhere. A change emits one `'state-change'` event with reason
   * `'shared-state'`; adopting the state the breaker is already in does nothing. Such
   * changes are not reported back through `CircuitLink.changed()`.
   */
  adopt(state: SharedCircuitState): void;
}

/**
 * What the module hands a store when it starts: the module's clock, its scheduler (every
 * timer started through it is cleared at shutdown) and the way to report availability.
 * @publicApi
 */
export interface CircuitStateStoreContext {
  clock: Clock;
  scheduler: Scheduler;
  /**
   * The store cannot be reached (or timed out). The module logs one warning and emits one
   * `'store-unavailable'` event per outage; calling it again during the outage does nothing.
   */
  reportUnavailable(error: unknown): void;
  /** The store answers again (after resynchronising): one `'store-available'` event. */
  reportAvailable(): void;
  /** Logs a warning (a corrupt file, an unexpected reply): never fatal. */
  warn(message: string): void;
}

/**
 * The link between one breaker and the store, returned by `CircuitStateStore.attach()`.
 * @publicApi
 */
export interface CircuitLink {
  /**
   * Settles once the stored state was loaded and adopted. Bootstrap waits for it (bounded by
   * the store's own timeouts); it must never reject.
   */
  readonly ready?: Promise<void>;
  /**
   * The breaker changed state by its own decision (threshold reached, timeout passed, trial
   * outcome, `open()` / `close()`). Called synchronously on the call path: do the I/O in the
   * background and never throw.
   */
  changed(snapshot: CircuitSnapshot, reason: StateChangeReason): void;
  /**
   * Optional: admits half-open trials across instances. Without it each instance applies
   * `halfOpenMaxCalls` on its own.
   */
  trialGate?: CircuitTrialGate;
  /** Stops following this breaker. */
  detach?(): void;
}

/**
 * Where shared circuit breakers keep their state: the module option `stateStore`. Breakers
 * still decide every call locally (the success path of a closed breaker never waits for the
 * store); the store carries state changes between instances (or across restarts), may
 * aggregate call counters, and may admit half-open trials across instances.
 *
 * One store object serves one application. The module calls `connect()` once when the
 * application's registry is created, `attach()` for every shared breaker (at bootstrap, or
 * when a breaker is first used), and `close()` at shutdown. A store must never make a call
 * fail or hang: when its backend is unreachable it reports it through the context and lets
 * the breakers run on local state.
 *
 * `FileCircuitStateStore` (single instance, state survives restarts) and
 * `RedisCircuitStateStore` (`nestjs-fault-tolerance/redis`, several instances) implement it.
 * @publicApi
 */
export interface CircuitStateStore {
  /** A short name for logs and for the `name` of the store's events. */
  readonly name: string;
  /** Called once, before any `attach()`. */
  connect(context: CircuitStateStoreContext): void | Promise<void>;
  /** Starts sharing one breaker's state. Called once per breaker name. */
  attach(circuit: SharedCircuit): CircuitLink;
  /** Shutdown: final writes, then stop timers and close the connections the store created. */
  close?(): Promise<void>;
}
