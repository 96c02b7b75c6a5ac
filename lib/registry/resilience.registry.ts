import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleDestroy,
} from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { BulkheadPolicy } from '../bulkhead/bulkhead.policy';
import { KeyedBulkheadPolicy } from '../bulkhead/keyed-bulkhead.policy';
import { CircuitBreakerPolicy } from '../circuit-breaker/circuit-breaker.policy';
import { PolicySet } from '../common/compose';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { CallObserver, PolicyKind, ResilienceEvent } from '../common/events';
import type { Disposable } from '../common/emitter';
import type { Policy } from '../common/policy';
import {
  CALL_OBSERVER_NOT_A_FUNCTION,
  SHARED_NAME_CONFLICT,
  SLO_WITHOUT_BREAKER,
  UNKNOWN_SLO,
} from '../common/resilience.messages';
import { TrackedScheduler } from '../common/scheduler';
import { FallbackPolicy } from '../fallback/fallback.policy';
import type { ChaosOptions } from '../chaos/chaos.options';
import { ChaosPolicy } from '../chaos/chaos.policy';
import { mergeOptions, ResolvedModuleOptions } from '../module/resolve-options';
import { RESOLVED_OPTIONS } from '../module/resilience.constants';
import { CONTRACT_ORDER } from '../module/policy-spec';
import type { MethodPlan } from '../module/invoker';
import { RateLimiterPolicy } from '../rate-limit/rate-limiter.policy';
import { RetryPolicy } from '../retry/retry.policy';
import { CircuitStateSync, sharedBreakerOptions } from '../state-store/circuit-state-sync';
import { DeadLetterPolicy, withDeadLetter } from '../dead-letter/dead-letter.policy';
import { DeadLetterPublisher } from '../dead-letter/dead-letter.publisher';
import type { DeadLetterOptions } from '../dead-letter/dead-letter.options';
import { TimeoutPolicy } from '../timeout/timeout.policy';
import { SloPolicy } from '../slo/slo.policy';
import type { SloStats } from '../slo/slo.policy';
import type { ResilienceStats } from './resilience-stats.interface';

type Bulkhead = BulkheadPolicy | KeyedBulkheadPolicy;

/** A decorated method of a static provider, as `replayDeadLetters` re-runs it. @internal */
export interface ReplayTarget {
  instance: unknown;
  plan: MethodPlan;
  original: (...args: unknown[]) => unknown;
}
/** Why a target cannot be replayed through the registry. @internal */
export type ReplayTargetProblem = 'not-static' | 'ambiguous';
type StatefulKind = Exclude<PolicyKind, 'deadLetter' | 'slo'>;

/**
 * One per application: every policy of the app by kind and name, their live stats,
 * their events as one stream, and the shutdown gate.
 * @publicApi
 */
@Injectable()
export class ResilienceRegistry
  implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown
{
  private readonly logger = new Logger('Resilience');
  private readonly byKind: Record<StatefulKind, Map<string, Policy>> = {
    circuitBreaker: new Map(),
    retry: new Map(),
    timeout: new Map(),
    bulkhead: new Map(),
    rateLimiter: new Map(),
    fallback: new Map(),
    chaos: new Map(),
  };
  /** The options declared for each `kind:name`, to catch one name configured two ways. */
  private readonly declarations = new Map<string, unknown>();
  private readonly sets = new Map<string, PolicySet>();
  private readonly events = new Subject<ResilienceEvent>();
  /** Every timer the module's policies start, so shutdown can clear them all. @internal */
  readonly scheduler: TrackedScheduler;
  private inFlight = 0;
  private closing = false;
  private drained?: () => void;

  /** Every event of every policy of this application. */
  readonly events$: Observable<ResilienceEvent> = new Observable<ResilienceEvent>((subscriber) => {
    const subscription = this.events.subscribe(subscriber);
    if (++this.observers === 1) this.forwardAll();
    return () => {
      subscription.unsubscribe();
      if (--this.observers === 0) this.stopForwarding();
    };
  });
  /** Subscribers of `events$`: policies build events only while there is one. */
  private observers = 0;
  private readonly forwarding = new Map<Policy, Disposable>();
  private readonly forward = (event: ResilienceEvent): void => this.events.next(event);
  /** Publishes dead letters to `options.deadLetterQueue`, buffering what it refuses. */
  private readonly deadLetters: DeadLetterPublisher;
  private deadLetterForwarding?: Disposable;

  /** Shares circuit state through `options.stateStore`, when one is configured. */
  private readonly stateSync?: CircuitStateSync;

  constructor(@Inject(RESOLVED_OPTIONS) readonly options: ResolvedModuleOptions) {
    this.scheduler = new TrackedScheduler(options.scheduler);
    this.deadLetters = new DeadLetterPublisher(
      options.deadLetterQueue,
      options.deadLetterBuffer,
      options.clock,
      this.scheduler,
      this.logger,
    );
    if (options.stateStore) {
      this.stateSync = new CircuitStateSync(options.stateStore, {
        clock: options.clock,
        scheduler: this.scheduler,
        emit: this.forward,
        warn: (message) => this.logger.warn(message),
        log: (message) => this.logger.log(message),
      });
    }
    for (const [name, slo] of Object.entries(options.slo)) {
      const tracker = new SloPolicy(name, slo, { clock: options.clock });
      tracker.gate = this;
      if (slo.openCircuitBreaker) tracker.onViolation = () => this.openForSlo(name);
      this.slos.set(name, tracker);
    }
  }

  /** Waits (bounded) until shared breakers have adopted their stored state. */
  async onApplicationBootstrap(): Promise<void> {
    await this.stateSync?.ready();
  }

  /** The circuit breaker of that name, or undefined. */
  circuitBreaker(name: string): CircuitBreakerPolicy | undefined {
    return this.lookup('circuitBreaker', name) as CircuitBreakerPolicy | undefined;
  }
  /** The bulkhead (plain or keyed) of that name, or undefined. */
  bulkhead(name: string): Bulkhead | undefined {
    return this.lookup('bulkhead', name) as Bulkhead | undefined;
  }
  /** The retry policy of that name, or undefined. */
  retry(name: string): RetryPolicy | undefined {
    return this.lookup('retry', name) as RetryPolicy | undefined;
  }
  /** The timeout policy of that name, or undefined. */
  timeout(name: string): TimeoutPolicy | undefined {
    return this.lookup('timeout', name) as TimeoutPolicy | undefined;
  }
  /** The rate limiter of that name, or undefined. */
  rateLimiter(name: string): RateLimiterPolicy | undefined {
    return this.lookup('rateLimiter', name) as RateLimiterPolicy | undefined;
  }
  /**
   * The chaos (fault injection) policy of that name, to switch it at run time
   * (`enable()`, `disable()`, `setRate()`), or undefined: always undefined while the module
   * option `chaos.enabled` is not true.
   */
  chaos(name: string): ChaosPolicy | undefined {
    return this.lookup('chaos', name) as ChaosPolicy | undefined;
  }

  /**
   * The composed policies of `options.policies[name]`, in contract order, or undefined
   * when no such set is configured. The set's policies are the ones `@UsePolicy(name)`
   * methods use. A `fallback` given as a method name applies to `@UsePolicy` methods
   * only (there is no instance here to call it on); a function fallback applies here too.
   */
  policy(name: string): PolicySet | undefined {
    const existing = this.sets.get(name);
    if (existing) return existing;
    const config = this.options.policies[name];
    if (!config) return undefined;
    const policies: Policy[] = [];
    for (const kind of CONTRACT_ORDER) {
      if (kind === 'deadLetter' || kind === 'slo' || config[kind] === undefined) continue;
      if (kind === 'chaos' && !this.options.chaos.enabled) continue; // off: no step at all
      if (kind === 'fallback') {
        if (typeof config.fallback === 'function') {
          policies.push(this.getOrCreate('fallback', name, config.fallback));
        }
        continue;
      }
      policies.push(this.getOrCreate(kind, name, config[kind]));
    }
    const measured = this.withSlo(policies, name);
    const chain =
      config.deadLetter === undefined
        ? measured
        : this.withDeadLetter(measured, name, name, config.deadLetter);
    const set = new PolicySet(name, chain, this);
    this.sets.set(name, set);
    return set;
  }

  /**
   * Calls `observer` with the duration and outcome of every call that any circuit breaker of
   * this application admits, present or future (what metrics exporters build histograms
   * from). Durations are in ms of the module clock, never negative. Costs nothing while no
   * observer is registered. `dispose()` ends this registration (the same function registered
   * twice is called twice, until both are disposed).
   * @throws ResilienceConfigError when `observer` is not a function.
   */
  observeCalls(observer: CallObserver): Disposable {
    if (typeof observer !== 'function') {
      throw new ResilienceConfigError(
        CALL_OBSERVER_NOT_A_FUNCTION(observer),
        'ResilienceRegistry',
        'observer',
        observer,
      );
    }
    this.callObservers = [...this.callObservers, observer];
    this.applyCallObservers();
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        // this registration only: the same function may be registered more than once
        const index = this.callObservers.indexOf(observer);
        this.callObservers = this.callObservers.filter((_o, i) => i !== index);
        this.applyCallObservers();
      },
    };
  }

  private callObservers: CallObserver[] = [];

  /** The one function each breaker calls: undefined, the only observer, or a fan-out. */
  private combinedCallObserver(): CallObserver | undefined {
    const observers = this.callObservers;
    if (observers.length === 0) return undefined;
    if (observers.length === 1) return observers[0];
    return (name, duration, outcome) => {
      for (const observer of observers) {
        try {
          observer(name, duration, outcome);
        } catch {
          // one failing observer must not starve the others
        }
      }
    };
  }

  private applyCallObservers(): void {
    const combined = this.combinedCallObserver();
    for (const policy of this.byKind.circuitBreaker.values()) {
      (policy as CircuitBreakerPolicy).callObserver = combined;
    }
  }

  /** A plain-JSON snapshot of every policy's counters. */
  stats(): ResilienceStats {
    const collect = <T>(kind: StatefulKind) => {
      const out: Record<string, T> = {};
      for (const [name, policy] of this.byKind[kind]) out[name] = policy.stats() as T;
      return out;
    };
    return {
      circuitBreakers: collect('circuitBreaker'),
      retries: collect('retry'),
      timeouts: collect('timeout'),
      bulkheads: collect('bulkhead'),
      rateLimiters: collect('rateLimiter'),
      fallbacks: collect('fallback'),
      chaos: collect('chaos'),
      deadLetters: this.deadLetters.stats(),
      slo: this.sloStats(),
    };
  }

  private sloStats(): Record<string, SloStats> {
    const out: Record<string, SloStats> = {};
    for (const [name, tracker] of this.slos) out[name] = tracker.stats();
    return out;
  }

  /**
   * Returns the policy of that kind and name, creating it with the module defaults
   * merged under `options`. Two callers giving the same name share the policy; giving
   * it different settings is a configuration error.
   * @internal
   */
  getOrCreate(kind: StatefulKind, name: string, options: unknown): Policy {
    const map = this.byKind[kind];
    if (kind !== 'fallback') this.declare(kind, name, options);
    const existing = map.get(name);
    if (existing) return existing;
    const effective = kind === 'fallback' ? options : this.declarations.get(`${kind}:${name}`);
    const policy = this.create(kind, name, effective);
    map.set(name, policy);
    policy.gate = this;
    if (this.observers > 0) this.forwarding.set(policy, policy.onEvent(this.forward));
    return policy;
  }

  /**
   * Records the options one declaration gives a named policy. Declarations of one name
   * must agree; a declaration without options (`@CircuitBreaker('payments')`) uses the
   * options given elsewhere, wherever it stands. Functions compare by identity.
   * @internal
   */
  declare(kind: Exclude<StatefulKind, 'fallback'>, name: string, options: unknown): void {
    const key = `${kind}:${name}`;
    const prior = this.declarations.get(key);
    if (prior === undefined || isEmptyOptions(prior)) {
      if (prior !== undefined && !isEmptyOptions(options) && this.byKind[kind].has(name)) {
        throw new ResilienceConfigError(
          SHARED_NAME_CONFLICT(kind, name, describeOptions(prior), describeOptions(options)),
          name,
        );
      }
      this.declarations.set(key, options ?? {});
      return;
    }
    if (isEmptyOptions(options) || sameOptions(prior, options)) return;
    throw new ResilienceConfigError(
      SHARED_NAME_CONFLICT(kind, name, describeOptions(prior), describeOptions(options)),
      name,
    );
  }

  private create(kind: StatefulKind, name: string, options: unknown): Policy {
    const time = { clock: this.options.clock, scheduler: this.scheduler };
    const merged = <T extends object>() =>
      mergeOptions<T>(
        this.options.defaults[kind as keyof ResolvedModuleOptions['defaults']],
        options as object,
      );
    switch (kind) {
      case 'circuitBreaker': {
        const sync = this.stateSync;
        const breaker = new CircuitBreakerPolicy(
          name,
          sharedBreakerOptions(name, merged(), sync !== undefined),
          time,
        );
        sync?.attach(breaker);
        breaker.callObserver = this.combinedCallObserver();
        return breaker;
      }
      case 'retry':
        return new RetryPolicy(name, merged(), time);
      case 'timeout':
        return new TimeoutPolicy(name, merged(), time);
      case 'rateLimiter':
        return new RateLimiterPolicy(name, merged(), time);
      case 'bulkhead': {
        const o = merged<{ key?: unknown }>();
        return o.key === undefined
          ? new BulkheadPolicy(name, o as object, time)
          : new KeyedBulkheadPolicy(name, o as never, time);
      }
      case 'chaos':
        return new ChaosPolicy(name, options as ChaosOptions, time, this.options.chaos.random);
      case 'fallback':
        return new FallbackPolicy(
          name,
          options as (error: unknown, ...args: unknown[]) => unknown,
          time,
        );
    }
  }

  /**
   * Puts a dead-letter step in front of `policies` (outermost first; a leading fallback
   * stays outermost). Its letters carry the breaker's name as `policy` when the chain has
   * a breaker, else `name`.
   * @internal
   */
  withDeadLetter(
    policies: readonly Policy[],
    name: string,
    target: string,
    options: DeadLetterOptions | undefined,
  ): Policy[] {
    const outer = policies[0]?.kind === 'fallback' ? policies.slice(0, 1) : [];
    const inner = policies.slice(outer.length);
    const breaker = inner.find((policy) => policy.kind === 'circuitBreaker');
    const step = new DeadLetterPolicy(breaker?.name ?? name, {
      target,
      options,
      moduleSerializeArgs: this.options.serializeArgs,
      sink: this.deadLetters,
      clock: this.options.clock,
    });
    return [...outer, ...withDeadLetter(step, inner)];
  }

  private forwardAll(): void {
    this.deadLetterForwarding ??= this.deadLetters.onEvent(this.forward);
    for (const map of [...Object.values(this.byKind), this.slos]) {
      for (const policy of map.values()) {
        if (!this.forwarding.has(policy)) this.forwarding.set(policy, policy.onEvent(this.forward));
      }
    }
  }

  private stopForwarding(): void {
    this.deadLetterForwarding?.dispose();
    this.deadLetterForwarding = undefined;
    for (const listener of this.forwarding.values()) listener.dispose();
    this.forwarding.clear();
  }

  // ---- service level objectives (module option `slo`) ---------------------------------

  /** The SLO tracker of each name the module option `slo` configures. */
  private readonly slos = new Map<string, SloPolicy>();
  /** Every name a method or policy set is measured under, whether or not it has an SLO. */
  private readonly sloNames = new Set<string>();

  /** The SLO tracker of that name (module option `slo`), or undefined. */
  slo(name: string): SloPolicy | undefined {
    return this.slos.get(name);
  }

  /**
   * Puts the SLO step of `name` in front of `policies` (after a leading fallback) when the
   * module option `slo` configures one; otherwise returns `policies` as they are.
   * @internal
   */
  withSlo(policies: Policy[], name: string): Policy[] {
    this.sloNames.add(name);
    const tracker = this.slos.get(name);
    if (tracker === undefined) return policies;
    const at = policies[0]?.kind === 'fallback' ? 1 : 0;
    return [...policies.slice(0, at), tracker, ...policies.slice(at)];
  }

  /** Forces the breaker of an SLO that was just violated open, unless it is open already. */
  private openForSlo(name: string): void {
    const breaker = this.circuitBreaker(name);
    if (breaker !== undefined && breaker.state !== 'open') breaker.open('slo-violation');
  }

  /**
   * Every `slo` name must be a policy set's or the name some decorated method is measured
   * under, and `openCircuitBreaker` needs a breaker of that name. Called once every method
   * is wired (end of the explorer's `onModuleInit`), so that a bad name fails bootstrap
   * before any `onApplicationBootstrap` hook (metrics exporters) has registered anything.
   * @throws ResilienceConfigError naming `slo.<name>` or `slo.<name>.openCircuitBreaker`.
   * @internal
   */
  checkSloNames(): void {
    const sets = this.options.policies;
    for (const [name, tracker] of this.slos) {
      if (!this.sloNames.has(name) && sets[name] === undefined) {
        const known = [...new Set([...this.sloNames, ...Object.keys(sets)])].sort();
        throw new ResilienceConfigError(UNKNOWN_SLO(name, known), name, `slo.${name}`, {
          ...tracker.options,
        });
      }
      if (
        tracker.options.openCircuitBreaker &&
        !this.byKind.circuitBreaker.has(name) &&
        sets[name]?.circuitBreaker === undefined
      ) {
        throw new ResilienceConfigError(
          SLO_WITHOUT_BREAKER(name),
          name,
          `slo.${name}.openCircuitBreaker`,
          true,
        );
      }
    }
  }

  private lookup(kind: StatefulKind, name: string): Policy | undefined {
    const found = this.byKind[kind].get(name);
    if (found) return found;
    const config = this.options.policies[name];
    if (config && kind !== 'fallback' && config[kind] !== undefined) {
      this.policy(name);
      return this.byKind[kind].get(name);
    }
    return undefined;
  }

  // ---- replay targets (replayDeadLetters) -------------------------------------------

  /** `ClassName.methodName` → the decorated method to re-run letters of that target on. */
  private readonly replayTargets = new Map<string, ReplayTarget | ReplayTargetProblem>();

  /**
   * Records the method behind a dead letter's `target`. `undefined` marks a method that has
   * no single instance (request-scoped or transient provider). Two different instances
   * under one target make it ambiguous.
   * @internal
   */
  registerReplayTarget(target: string, entry: ReplayTarget | undefined): void {
    const prior = this.replayTargets.get(target);
    if (entry === undefined) {
      if (prior === undefined) this.replayTargets.set(target, 'not-static');
      return;
    }
    if (prior === undefined || prior === 'not-static') {
      this.replayTargets.set(target, entry);
    } else if (prior === 'ambiguous' || prior.instance !== entry.instance) {
      this.replayTargets.set(target, 'ambiguous');
    }
  }

  /** The method behind `target`, or why there is none. @internal */
  replayTarget(target: string): ReplayTarget | ReplayTargetProblem | undefined {
    return this.replayTargets.get(target);
  }

  // ---- shutdown gate (API §7) ------------------------------------------------------

  /** True once shutdown has begun: new calls are rejected. */
  get isShuttingDown(): boolean {
    return this.closing;
  }

  /** Calls running through policies right now. */
  get inFlightCalls(): number {
    return this.inFlight;
  }

  /** The error a call gets when it arrives during shutdown. @internal */
  shutdownError(name: string): BulkheadRejectedError {
    return new BulkheadRejectedError(name, 'shutdown');
  }

  /** Counts `call` as in flight until it settles. @internal */
  track<T>(call: Promise<T>): Promise<T> {
    this.inFlight++;
    return call.then(this.settledWith as (value: T) => T, this.failedWith);
  }

  private readonly settledWith = (value: unknown): unknown => {
    this.settled();
    return value;
  };

  private readonly failedWith = (error: unknown): never => {
    this.settled();
    throw error;
  };

  /** For callers that track completion themselves (Observables). @internal */
  enter(): void {
    this.inFlight++;
  }

  /** @internal */
  settled(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.drained) this.drained();
  }

  /**
   * Starts shutdown: new calls fail with `BulkheadRejectedError('shutdown')`, in-flight
   * calls get up to `shutdownTimeout` ms to finish.
   */
  async onModuleDestroy(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.inFlight > 0) {
      // on the module's scheduler, so a test clock drives the grace period too
      const scheduler = this.options.scheduler;
      let timer: unknown;
      const done = new Promise<void>((resolve) => (this.drained = resolve));
      const expired = new Promise<void>((resolve) => {
        timer = scheduler.setTimeout(resolve, this.options.shutdownTimeout);
      });
      await Promise.race([done, expired]);
      scheduler.clearTimeout(timer);
      if (this.inFlight > 0) {
        this.logger.warn(
          `${this.inFlight} call(s) still running after shutdownTimeout (${this.options.shutdownTimeout}ms); their timers are being cleared.`,
        );
      }
    }
    // the store's last writes and connections go before the timers are cleared
    await this.stateSync?.close();
    // letters still buffered go to the queue now, within shutdownTimeout; the rest is logged
    await this.deadLetters.close(this.options.shutdownTimeout);
    this.disposeAll();
  }

  /** Clears every timer the module owns, so the process can exit. */
  onApplicationShutdown(): void {
    this.closing = true;
    void this.stateSync?.close(); // done already when onModuleDestroy ran
    this.disposeAll();
  }

  private disposeAll(): void {
    for (const map of Object.values(this.byKind))
      for (const policy of map.values()) policy.dispose();
    this.scheduler.dispose();
    this.events.complete();
  }
}

/**
 * The policy set `registry.policy(name)` hands out: like the decorated methods, it
 * refuses new calls once shutdown has begun and counts its calls as in flight, so that
 * shutdown waits for them (API §7).
 */

const isEmptyOptions = (options: unknown): boolean =>
  options === undefined ||
  (typeof options === 'object' &&
    options !== null &&
    Object.values(options).every((value) => value === undefined));

/** Deep equality of option objects; functions and other objects compare by identity. */
function sameOptions(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isRecord(a) || !isRecord(b)) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if (!sameOptions(a[key], b[key])) return false;
  return true;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** Options as a message shows them (functions by name). */
function describeOptions(options: unknown): string {
  return JSON.stringify(options ?? {}, (_key, value: unknown) =>
    typeof value === 'function' ? `[function ${value.name || 'anonymous'}]` : value,
  );
}
