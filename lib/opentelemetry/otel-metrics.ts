import type {
  AttributeValue,
  Attributes,
  BatchObservableCallback,
  Counter,
  Histogram,
  Meter,
  Observable,
} from '@opentelemetry/api';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { CallObserver, CallOutcome, ResilienceEvent } from '../common/events';
import {
  CALL_RESULTS,
  CIRCUIT_STATE_VALUES,
  DEFAULT_DURATION_BUCKETS,
  RETRY_RESULTS,
} from '../common/metrics-defaults';
import type { ResilienceRegistry } from '../registry/resilience.registry';
import { OTEL_DUPLICATE_METER } from './opentelemetry.messages';

/**
 * The instruments, by name. Each has the attribute `name` (the policy's name), except the
 * dead-letter queue figures, which belong to the whole application. An OpenTelemetry
 * Prometheus exporter turns them into Prometheus names (dots become underscores, `_total` is
 * added to counters, the unit `s` becomes `_seconds` and the unit `1` `_ratio`): most match the
 * API §8 names with a `resilience_` prefix; the README lists the ones that differ. SLO
 * instruments have series for the names of the module option `slo` only.
 * @publicApi
 */
export const INSTRUMENTS = {
  /** Observable gauge, `{state}`: 0 closed, 1 open, 2 half-open. */
  circuitBreakerState: 'resilience.circuit_breaker.state',
  /** Observable counter, `{call}`, `result` = success | failure | rejected. */
  circuitBreakerCalls: 'resilience.circuit_breaker.calls',
  /** Counter, `{transition}`, `from` and `to` = closed | open | half-open. */
  circuitBreakerStateTransitions: 'resilience.circuit_breaker.state_transitions',
  /** Histogram, `s`, `result` = success | failure: calls the breaker admitted. */
  circuitBreakerCallDuration: 'resilience.circuit_breaker.call.duration',
  /** Observable counter, `{call}`, `result` = success_without_retry | success_with_retry | failed_with_retry | failed_without_retry. */
  retryCalls: 'resilience.retry.calls',
  /** Observable counter, `{timeout}`. */
  timeouts: 'resilience.timeouts',
  /** Observable up-down counter, `{call}`: calls running in the bulkhead now. */
  bulkheadActive: 'resilience.bulkhead.active',
  /** Observable up-down counter, `{call}`: calls waiting for a slot now. */
  bulkheadQueued: 'resilience.bulkhead.queued',
  /** Observable counter, `{call}`: every call a bulkhead rejected, whatever the reason. */
  bulkheadRejections: 'resilience.bulkhead.rejections',
  /** Counter, `{letter}`: dead letters produced, `name` = the letter's `policy`. */
  deadLetters: 'resilience.dead_letter.produced',
  /** Observable counter, `{letter}`, no `name`: letters the dead-letter queue accepted. */
  deadLettersPublished: 'resilience.dead_letter.published',
  /** Observable counter, `{failure}`, no `name`: publish attempts that failed or timed out. */
  deadLetterPublishFailures: 'resilience.dead_letter.publish_failures',
  /** Observable counter, `{letter}`, no `name`: letters lost (full buffer, shutdown). */
  deadLettersDropped: 'resilience.dead_letter.dropped',
  /** Observable up-down counter, `{letter}`, no `name`: letters waiting in the local buffer. */
  deadLettersBuffered: 'resilience.dead_letter.buffered',
  /** Observable gauge, `1`: share of the calls in the SLO window that succeeded (1 with none). */
  sloSuccessRatio: 'resilience.slo.success_ratio',
  /** Observable gauge, `1`: share of the SLO's error budget left in the window (0 once spent). */
  sloErrorBudgetRemaining: 'resilience.slo.error_budget_remaining',
  /** Observable gauge, `1`: the success ratio the SLO must meet. */
  sloTarget: 'resilience.slo.target',
  /** Observable gauge, `{violated}`: 1 while the SLO is violated, else 0. */
  sloViolated: 'resilience.slo.violated',
  /** Observable counter, `{violation}`: times the SLO became violated (once per crossing). */
  sloViolations: 'resilience.slo.violations',
} as const;

type InstrumentKey = keyof typeof INSTRUMENTS;
/** The synchronous counters, fed from events (the histogram: on the call path). */
type CounterKey = 'circuitBreakerStateTransitions' | 'deadLetters';
type ObservedKey = Exclude<InstrumentKey, CounterKey | 'circuitBreakerCallDuration'>;

type InstrumentKind =
  'counter' | 'histogram' | 'observableGauge' | 'observableCounter' | 'observableUpDownCounter';

/**
 * How each instrument is made: [kind, unit, description], in the order they are created.
 * The `counter` ones are the `CounterKey`s, the `histogram` the call duration.
 */
const DEFINITIONS: Readonly<Record<InstrumentKey, readonly [InstrumentKind, string, string]>> = {
  circuitBreakerState: [
    'observableGauge',
    '{state}',
    'State of the circuit breaker: 0 closed, 1 open, 2 half-open.',
  ],
  circuitBreakerCalls: [
    'observableCounter',
    '{call}',
    'Calls through the circuit breaker, by result (success, failure, rejected).',
  ],
  circuitBreakerStateTransitions: [
    'counter',
    '{transition}',
    'State changes of the circuit breaker, by from and to state.',
  ],
  circuitBreakerCallDuration: [
    'histogram',
    's',
    'Duration of the calls the circuit breaker admitted.',
  ],
  retryCalls: ['observableCounter', '{call}', 'Calls through the retry policy, by result.'],
  timeouts: ['observableCounter', '{timeout}', 'Calls that ran out of time.'],
  bulkheadActive: ['observableUpDownCounter', '{call}', 'Calls running in the bulkhead now.'],
  bulkheadQueued: ['observableUpDownCounter', '{call}', 'Calls waiting in the bulkhead queue now.'],
  bulkheadRejections: ['observableCounter', '{call}', 'Calls the bulkhead rejected.'],
  deadLetters: ['counter', '{letter}', 'Dead letters produced by calls that finally failed.'],
  deadLettersPublished: [
    'observableCounter',
    '{letter}',
    'Dead letters the dead-letter queue accepted.',
  ],
  deadLetterPublishFailures: [
    'observableCounter',
    '{failure}',
    'Publish attempts to the dead-letter queue that failed or timed out (the letter is buffered and retried).',
  ],
  deadLettersDropped: [
    'observableCounter',
    '{letter}',
    'Dead letters lost: dropped from the full local buffer, not delivered at shutdown, or dropped by the queue itself when full.',
  ],
  deadLettersBuffered: [
    'observableUpDownCounter',
    '{letter}',
    'Dead letters waiting in the local buffer to be published again.',
  ],
  sloSuccessRatio: [
    'observableGauge',
    '1',
    'Share of the calls in the SLO window that succeeded, 0..1 (1 with no calls).',
  ],
  sloErrorBudgetRemaining: [
    'observableGauge',
    '1',
    'Share of the SLO error budget left in the window, 0..1 (0 once spent).',
  ],
  sloTarget: ['observableGauge', '1', 'The success ratio the SLO must meet over its window.'],
  sloViolated: [
    'observableGauge',
    '{violated}',
    'Whether the SLO is violated now: 1 violated, 0 met (or too few calls).',
  ],
  sloViolations: [
    'observableCounter',
    '{violation}',
    'Times the SLO became violated (each crossing below its target counts once).',
  ],
};

/** The bulkhead instruments, by the field of `stats().bulkheads[name]` they observe. */
const BULKHEAD_FIELDS = [
  ['bulkheadActive', 'active'],
  ['bulkheadQueued', 'queued'],
  ['bulkheadRejections', 'rejected'],
] as const;
/** The dead-letter queue instruments, by the field of `stats().deadLetters`. */
const DEAD_LETTER_FIELDS = [
  ['deadLettersPublished', 'published'],
  ['deadLetterPublishFailures', 'failedToPublish'],
  ['deadLettersDropped', 'dropped'],
  ['deadLettersBuffered', 'buffered'],
] as const;
/** The SLO gauges, by the field of `stats().slo[name]` (a boolean counts as 1 or 0). */
const SLO_FIELDS = [
  ['sloSuccessRatio', 'successRate'],
  ['sloErrorBudgetRemaining', 'errorBudgetRemaining'],
  ['sloTarget', 'target'],
  ['sloViolated', 'violated'],
] as const;

/** The instruments of one recorder. */
interface Instruments {
  readonly observed: Readonly<Record<ObservedKey, Observable>>;
  readonly counters: Readonly<Record<CounterKey, Counter>>;
  /** Undefined when the call duration histogram is off. */
  readonly duration: Histogram | undefined;
}

/** Creates every instrument on `meter`, in `DEFINITIONS` order. */
function createInstruments(meter: Meter, callDuration: boolean): Instruments {
  const observed = {} as Record<ObservedKey, Observable>;
  const counters = {} as Record<CounterKey, Counter>;
  let duration: Histogram | undefined;
  for (const key of Object.keys(DEFINITIONS) as InstrumentKey[]) {
    const [kind, unit, description] = DEFINITIONS[key];
    const name = INSTRUMENTS[key];
    const options = { description, unit };
    if (kind === 'counter') counters[key as CounterKey] = meter.createCounter(name, options);
    else if (kind === 'histogram') {
      if (callDuration) {
        const advice = { explicitBucketBoundaries: [...DEFAULT_DURATION_BUCKETS] };
        duration = meter.createHistogram(name, { ...options, advice });
      }
    } else if (kind === 'observableGauge') {
      observed[key as ObservedKey] = meter.createObservableGauge(name, options);
    } else if (kind === 'observableCounter') {
      observed[key as ObservedKey] = meter.createObservableCounter(name, options);
    } else {
      observed[key as ObservedKey] = meter.createObservableUpDownCounter(name, options);
    }
  }
  return { observed, counters, duration };
}

/**
 * The (meter, attributes) pairs in use: two registries writing the same series of one
 * meter would corrupt each other's figures, so the second is refused.
 */
const claimed = new WeakMap<Meter, Set<string>>();

/** What the metrics side of an instrumentation hands back. @internal */
export interface MetricsRecorder {
  /** Feeds the counters that come from events (transitions, dead letters, SLO violations). */
  onEvent(event: ResilienceEvent): void;
  /** Feeds the duration histogram; undefined when it is off. */
  readonly observeCall: CallObserver | undefined;
  /** Removes the collection callback and releases the meter claim. */
  dispose(): void;
}

/**
 * Creates the instruments on `meter` and registers one batch callback reading
 * `registry.stats()` at collection time. Throws when another registry already reports to
 * this meter with the same constant attributes.
 * @internal
 */
export function createMetricsRecorder(
  registry: ResilienceRegistry,
  meter: Meter,
  meterName: string,
  constant: Readonly<Record<string, AttributeValue>>,
  callDuration: boolean,
): MetricsRecorder {
  const claimKey = stableKey(constant);
  const claims = claimed.get(meter) ?? new Set<string>();
  if (claims.has(claimKey)) {
    throw new ResilienceConfigError(
      OTEL_DUPLICATE_METER(meterName, claimKey),
      'ResilienceOpenTelemetry',
      'attributes',
      constant,
    );
  }
  claims.add(claimKey);
  claimed.set(meter, claims);

  const { observed: o, counters, duration } = createInstruments(meter, callDuration);
  /**
   * SLO violations seen on `events$`, by policy. Observed (not a synchronous counter) so
   * that every SLO reports from 0, and a violation found by the collection's own
   * `stats()` read is in the same collection.
   */
  const violations = new Map<string, number>();

  /** Attribute sets, built once per policy name and result. */
  const cache = new Map<string, Attributes>();
  const attrs = (name: string, extra?: Record<string, string>): Attributes => {
    const key = extra === undefined ? name : `${name}\u0000${JSON.stringify(extra)}`;
    let found = cache.get(key);
    if (found === undefined) {
      found = Object.freeze({ ...constant, ...extra, name });
      cache.set(key, found);
    }
    return found;
  };

  /** The histogram's attribute sets, by policy name: the one allocation-free hot path. */
  const byOutcome = new Map<string, Record<CallOutcome, Attributes>>();
  const outcomeAttrs = (name: string, outcome: CallOutcome): Attributes => {
    let found = byOutcome.get(name);
    if (found === undefined) {
      found = {
        success: attrs(name, { result: 'success' }),
        failure: attrs(name, { result: 'failure' }),
      };
      byOutcome.set(name, found);
    }
    return found[outcome];
  };

  const observables = Object.values(o);
  const collect: BatchObservableCallback = (result) => {
    const stats = registry.stats();
    for (const [name, s] of Object.entries(stats.circuitBreakers)) {
      result.observe(o.circuitBreakerState, CIRCUIT_STATE_VALUES[s.state], attrs(name));
      for (const [key, v] of CALL_RESULTS) {
        result.observe(o.circuitBreakerCalls, s[key], attrs(name, { result: v }));
      }
    }
    for (const [name, s] of Object.entries(stats.retries)) {
      for (const [key, v] of RETRY_RESULTS) {
        result.observe(o.retryCalls, s[key], attrs(name, { result: v }));
      }
    }
    for (const [name, s] of Object.entries(stats.timeouts)) {
      result.observe(o.timeouts, s.timeouts, attrs(name));
    }
    for (const [name, s] of Object.entries(stats.bulkheads)) {
      for (const [key, field] of BULKHEAD_FIELDS) result.observe(o[key], s[field], attrs(name));
    }
    for (const [key, field] of DEAD_LETTER_FIELDS) {
      result.observe(o[key], stats.deadLetters[field], constant);
    }
    for (const [name, s] of Object.entries(stats.slo)) {
      const a = attrs(name);
      for (const [key, field] of SLO_FIELDS) result.observe(o[key], Number(s[field]), a);
      result.observe(o.sloViolations, violations.get(name) ?? 0, a);
    }
  };
  meter.addBatchObservableCallback(collect, observables);

  let disposed = false;
  return {
    onEvent(event) {
      if (disposed) return;
      if (event.type === 'state-change') {
        counters.circuitBreakerStateTransitions.add(
          1,
          attrs(event.name, { from: event.from, to: event.to }),
        );
      } else if (event.type === 'dead-letter') {
        counters.deadLetters.add(1, attrs(event.name));
      } else if (event.type === 'slo-violation') {
        violations.set(event.name, (violations.get(event.name) ?? 0) + 1);
      }
    },
    observeCall:
      duration === undefined
        ? undefined
        : (name, ms, outcome) => {
            if (disposed) return;
            try {
              duration.record(ms / 1000, outcomeAttrs(name, outcome));
            } catch {
              // runs on the call's path: a throwing SDK loses the figure, never the call
            }
          },
    dispose() {
      if (disposed) return;
      disposed = true;
      meter.removeBatchObservableCallback(collect, observables);
      claims.delete(claimKey);
      cache.clear();
      byOutcome.clear();
      violations.clear();
    },
  };
}

/** The attributes as sorted JSON, so that key order does not matter. */
function stableKey(attributes: Readonly<Record<string, AttributeValue>>): string {
  const sorted = Object.keys(attributes)
    .sort()
    .map((key) => [key, attributes[key]]);
  return JSON.stringify(Object.fromEntries(sorted));
}
