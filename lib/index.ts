// Module
export { ResilienceModule } from './module/resilience.module';
export type { ResilienceModuleExtras } from './module/resilience.module-definition';
export { RESILIENCE_MODULE_OPTIONS } from './module/resilience.module-definition';
export type {
  FallbackHandler,
  PolicyConfig,
  PolicyDefaults,
  ResilienceModuleOptions,
} from './module/resilience-module-options.interface';
export type { ResilienceOptionsFactory } from './module/resilience-options-factory.interface';

// Decorators
export { CircuitBreaker } from './circuit-breaker/circuit-breaker.decorator';
export { Retry } from './retry/retry.decorator';
export { Timeout } from './timeout/timeout.decorator';
export { Bulkhead } from './bulkhead/bulkhead.decorator';
export { RateLimit } from './rate-limit/rate-limit.decorator';
export { Fallback } from './fallback/fallback.decorator';
export { UsePolicy } from './policy-set/use-policy.decorator';
export { Chaos } from './chaos/chaos.decorator';
export { DeadLetter, InjectDeadLetterQueue } from './dead-letter/dead-letter.decorator';
export { currentSignal } from './timeout/current-signal';

// Registry, stats, events
export { ResilienceRegistry } from './registry/resilience.registry';
export type * from './registry/resilience-stats.interface';
export type {
  BulkheadPressureEvent,
  BulkheadRejectedEvent,
  CallObserver,
  CallOutcome,
  CallRejectedEvent,
  ChaosEvent,
  ChaosOutcome,
  CircuitState,
  DeadLetterEvent,
  FallbackEvent,
  PolicyKind,
  RateLimitedEvent,
  ResilienceEvent,
  RetryEvent,
  SloRecoveredEvent,
  SloViolationEvent,
  StateChangeEvent,
  StateChangeReason,
  StoreAvailableEvent,
  StoreUnavailableEvent,
  TimeoutEvent,
} from './common/events';

// Circuit state stores (API §8): the interface, and state that survives a restart
export { FileCircuitStateStore } from './state-store/file-circuit-state-store';
export type { FileCircuitStateStoreOptions } from './state-store/file-circuit-state-store';
export type {
  CircuitLink,
  CircuitStateStore,
  CircuitStateStoreContext,
  SharedCircuit,
  SharedCircuitCounters,
  SharedCircuitState,
} from './state-store/circuit-state-store.interface';

// Live dashboard (off unless its module is imported; needs a token or a guard)
export { ResilienceDashboardFeed, ResilienceDashboardModule } from './dashboard';
export type {
  DashboardError,
  DashboardEvent,
  DashboardMessageType,
  DashboardSnapshot,
  LatencySummary,
  ResilienceDashboardAsyncOptions,
  ResilienceDashboardFactoryOptions,
  ResilienceDashboardOptions,
} from './dashboard';

// Health (Terminus indicator; @nestjs/terminus is loaded only when isHealthy() runs)
export { ResilienceHealthIndicator } from './health/resilience.health-indicator';
export type {
  BulkheadHealth,
  CircuitBreakerHealth,
  ResilienceHealthDetails,
  ResilienceHealthIndicatorResult,
  ResilienceHealthLevel,
  ResilienceHealthOptions,
  ResilienceHealthReport,
} from './health/resilience-health.interface';

// Dead-letter queue
export { DEAD_LETTER_QUEUE } from './dead-letter/dead-letter.interface';
export type {
  ConsumableDeadLetterQueue,
  DeadLetterHandler,
  DeadLetterQueue,
  DeadLetterSubscription,
  DrainableDeadLetterQueue,
} from './dead-letter/dead-letter.interface';
export { MalformedDeadLetterError } from './dead-letter/dead-letter.codec';
export { DeadLetterReplayError, replayDeadLetters } from './dead-letter/replay';
export type {
  DeadLetterReplayer,
  ReplayDeadLettersOptions,
  ReplayDeadLettersResult,
} from './dead-letter/replay';
export type { DeadLetterBufferOptions, DeadLetterOptions } from './dead-letter/dead-letter.options';
export { InMemoryDeadLetterQueue } from './dead-letter/in-memory-dead-letter-queue';
export { toJsonSafe } from './dead-letter/json-safe';

// Errors and HTTP
export {
  BulkheadRejectedError,
  CallAbortedError,
  CircuitOpenError,
  isResilienceError,
  RateLimitedError,
  ResilienceConfigError,
  ResilienceError,
  TimeoutError,
} from './common/errors';
export type { BulkheadRejectionReason } from './common/errors';
export { ResilienceExceptionFilter } from './http/resilience-exception.filter';

// Pure policies, usable without Nest
export { CallContext } from './common/call-context';
export { systemClock } from './common/clock';
export type { Clock } from './common/clock';
export { systemScheduler } from './common/scheduler';
export type { Scheduler } from './common/scheduler';
export type { Disposable } from './common/emitter';
export { Policy } from './common/policy';
export type { IPolicy, PolicyTime, Work } from './common/policy';
export { PolicySet, wrap } from './common/compose';
export { CircuitBreakerPolicy } from './circuit-breaker/circuit-breaker.policy';
export type {
  CircuitSnapshot,
  CircuitTrialGate,
  ForcedOpenReason,
  TrialOutcome,
} from './circuit-breaker/circuit-breaker.policy';
export type {
  CircuitBreakerOptions,
  SlidingWindowOptions,
} from './circuit-breaker/circuit-breaker.options';
export { RetryPolicy } from './retry/retry.policy';
export { defaultRetryOn } from './retry/retry.options';
export type { RetryOptions } from './retry/retry.options';
export type { BackoffOptions } from './retry/backoff';
export { TimeoutPolicy } from './timeout/timeout.policy';
export type { TimeoutOptions } from './timeout/timeout.options';
export { BulkheadPolicy } from './bulkhead/bulkhead.policy';
export { KeyedBulkheadPolicy } from './bulkhead/keyed-bulkhead.policy';
export type { BulkheadOptions, BulkheadOverflow } from './bulkhead/bulkhead.options';
export { RateLimiterPolicy } from './rate-limit/rate-limiter.policy';
export type { RateLimiterOptions } from './rate-limit/rate-limiter.options';
export { FallbackPolicy } from './fallback/fallback.policy';
export { ChaosPolicy } from './chaos/chaos.policy';
export { SloPolicy } from './slo/slo.policy';
export type { ResolvedSloOptions, SloOptions } from './slo/slo.options';
export type {
  ChaosModuleOptions,
  ChaosOptions,
  ChaosRandom,
  ResolvedChaosOptions,
} from './chaos/chaos.options';
