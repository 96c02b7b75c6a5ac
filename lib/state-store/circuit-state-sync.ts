import type { CircuitBreakerOptions } from '../circuit-breaker/circuit-breaker.options';
import type {
  CircuitBreakerPolicy,
  CircuitSnapshot,
} from '../circuit-breaker/circuit-breaker.policy';
import type { Clock } from '../common/clock';
import type { Disposable } from '../common/emitter';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { ResilienceEvent } from '../common/events';
import type { Scheduler } from '../common/scheduler';
import { invalid } from '../common/validate';
import type {
  CircuitLink,
  CircuitStateStore,
  CircuitStateStoreContext,
  SharedCircuit,
  SharedCircuitState,
} from './circuit-state-store.interface';

/** What the registry gives the sync: time, timers, events and logs. @internal */
export interface StateSyncEnvironment {
  clock: Clock;
  /** The module's tracked scheduler: its timers are cleared at shutdown. */
  scheduler: Scheduler;
  emit(event: ResilienceEvent): void;
  warn(message: string): void;
  log(message: string): void;
}

/** How long bootstrap waits at most for the stores to load the shared states. */
const READY_LIMIT_MS = 5_000;

/** Stores already serving an application: one store object serves one application. */
const claimed = new WeakSet<object>();

/**
 * Checks a `stateStore` module option: an object with `connect()` and `attach()`.
 * @internal
 */
export function checkStateStore(store: unknown): CircuitStateStore | undefined {
  if (store === undefined) return undefined;
  const s = store as Partial<CircuitStateStore> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.attach !== 'function' ||
    typeof s.connect !== 'function'
  ) {
    invalid(
      'ResilienceModule',
      'stateStore',
      store,
      'a CircuitStateStore (an object with connect() and attach(), e.g. new FileCircuitStateStore(path))',
    );
  }
  return s as CircuitStateStore;
}

/**
 * The options a circuit breaker is created with: with a state store, `shared` defaults to
 * true; without one, `shared: true` is a configuration error.
 * @internal
 */
export function sharedBreakerOptions(
  name: string,
  options: Partial<CircuitBreakerOptions>,
  hasStore: boolean,
): Partial<CircuitBreakerOptions> {
  if (hasStore) return options.shared === undefined ? { ...options, shared: true } : options;
  if (options.shared === true) {
    invalid(
      name,
      'shared',
      true,
      'false or no value: sharing a circuit breaker needs the module option stateStore ' +
        '(e.g. new RedisCircuitStateStore(...) from nestjs-fault-tolerance/redis)',
    );
  }
  return options;
}

/**
 * Without a state store, no configured breaker may ask for `shared: true` (checked when the
 * module options are resolved, before any breaker exists).
 * @internal
 */
export function checkNothingShared(
  defaults: { circuitBreaker?: Partial<CircuitBreakerOptions> },
  policies: Record<string, { circuitBreaker?: Partial<CircuitBreakerOptions> }>,
): void {
  sharedBreakerOptions('defaults.circuitBreaker', defaults.circuitBreaker ?? {}, false);
  for (const [name, config] of Object.entries(policies)) {
    sharedBreakerOptions(name, config.circuitBreaker ?? {}, false);
  }
}

interface Attached {
  breaker: CircuitBreakerPolicy;
  link: CircuitLink;
  listener: Disposable;
}

/**
 * Connects one application's shared circuit breakers to its `CircuitStateStore`: reports
 * their own state changes to the store, lets the store adopt states decided elsewhere,
 * installs the store's trial gate, and turns availability reports into one warning and one
 * event per outage.
 * @internal
 */
export class CircuitStateSync {
  private readonly attached = new Map<string, Attached>();
  private readonly connecting: Promise<void>;
  private unavailable = false;
  private closed = false;

  constructor(
    private readonly store: CircuitStateStore,
    private readonly env: StateSyncEnvironment,
  ) {
    if (claimed.has(store)) {
      throw new ResilienceConfigError(
        `Invalid resilience option for policy "ResilienceModule": this "stateStore" (${store.name}) ` +
          'already serves another application; create one store object per application.',
        'ResilienceModule',
        'stateStore',
      );
    }
    claimed.add(store);
    const context: CircuitStateStoreContext = {
      clock: env.clock,
      scheduler: env.scheduler,
      reportUnavailable: (error) => this.reportUnavailable(error),
      reportAvailable: () => this.reportAvailable(),
      warn: (message) => env.warn(message),
    };
    let connecting: Promise<void>;
    try {
      connecting = Promise.resolve(store.connect(context));
    } catch (error) {
      connecting = Promise.reject(error);
    }
    this.connecting = connecting.catch((error: unknown) => this.reportUnavailable(error));
  }

  /** True while the store is reported unavailable. */
  get isUnavailable(): boolean {
    return this.unavailable;
  }

  /** Starts sharing `breaker` when its options say so. */
  attach(breaker: CircuitBreakerPolicy): void {
    if (!breaker.options.shared || this.closed || this.attached.has(breaker.name)) return;
    let adopting = false;
    const view: SharedCircuit = {
      name: breaker.name,
      options: breaker.options,
      snapshot: () => breaker.snapshot(),
      counters: () => {
        const s = breaker.stats();
        return {
          successfulCalls: s.successfulCalls,
          failedCalls: s.failedCalls,
          slowCalls: s.slowCalls,
          failureCount: s.failureCount,
        };
      },
      adopt: (state) => {
        if (this.closed) return;
        adopting = true;
        try {
          adopt(breaker, state, this.env.clock.now());
        } catch (error) {
          this.env.warn(
            `Circuit state store "${this.store.name}" gave circuit "${breaker.name}" a state it cannot adopt: ${messageOf(error)}`,
          );
        } finally {
          adopting = false;
        }
      },
    };
    const link = this.store.attach(view);
    const listener = breaker.onEvent((event) => {
      if (event.type !== 'state-change' || adopting || event.reason === 'shared-state') return;
      try {
        link.changed(breaker.snapshot(), event.reason);
      } catch (error) {
        this.env.warn(
          `Circuit state store "${this.store.name}" failed to take the state of circuit "${breaker.name}": ${messageOf(error)}`,
        );
      }
    });
    if (link.trialGate) breaker.setTrialGate(link.trialGate);
    this.attached.set(breaker.name, { breaker, link, listener });
  }

  /**
   * Settles when the store is connected and every attached breaker has adopted its stored
   * state, or after a few seconds at most: bootstrap never waits on an unreachable store.
   */
  async ready(): Promise<void> {
    const loads: Promise<void>[] = [this.connecting];
    for (const { link } of this.attached.values()) if (link.ready) loads.push(link.ready);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, READY_LIMIT_MS);
      timer.unref();
    });
    await Promise.race([Promise.allSettled(loads), limit]);
    clearTimeout(timer);
  }

  /** Shutdown: stops following the breakers, then lets the store close its connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { breaker, link, listener } of this.attached.values()) {
      listener.dispose();
      breaker.setTrialGate(undefined);
      try {
        link.detach?.();
      } catch {
        // detaching is best effort; close() below releases the rest
      }
    }
    this.attached.clear();
    await this.connecting;
    try {
      await this.store.close?.();
    } catch (error) {
      this.env.warn(
        `Circuit state store "${this.store.name}" failed to close: ${messageOf(error)}`,
      );
    }
  }

  private reportUnavailable(error: unknown): void {
    if (this.unavailable || this.closed) return;
    this.unavailable = true;
    this.env.warn(
      `Circuit state store "${this.store.name}" is unavailable (${messageOf(error)}); ` +
        'shared circuit breakers run on local state until it returns.',
    );
    this.env.emit({
      type: 'store-unavailable',
      name: this.store.name,
      at: this.env.clock.now(),
      error: describeError(error),
    });
  }

  private reportAvailable(): void {
    if (!this.unavailable || this.closed) return;
    this.unavailable = false;
    this.env.log(
      `Circuit state store "${this.store.name}" is available again; shared circuit breakers resynchronised.`,
    );
    this.env.emit({ type: 'store-available', name: this.store.name, at: this.env.clock.now() });
  }
}

/**
 * Makes `breaker` take a state decided elsewhere, keeping what the state does not say (the
 * local consecutive failures of an open breaker). Adopting the state the breaker is in
 * (the same opening, for an open one) changes nothing, so a half-open breaker keeps its
 * trial progress.
 */
function adopt(breaker: CircuitBreakerPolicy, shared: SharedCircuitState, now: number): void {
  const local = breaker.snapshot();
  const lapsed = shared.state === 'open' && now >= shared.openedAt + breaker.options.resetTimeout;
  const effective = lapsed ? 'half-open' : shared.state;
  if (effective === local.state && (effective !== 'open' || shared.openedAt === local.openedAt)) {
    return;
  }
  const snapshot: CircuitSnapshot = {
    state: shared.state,
    openedAt: shared.openedAt,
    stateChangedAt: shared.stateChangedAt,
    failureCount: shared.state === 'open' ? local.failureCount : 0,
    successCount: 0,
  };
  breaker.restore(snapshot);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeError(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}
