import type { Attributes, AttributeValue, MeterProvider, TracerProvider } from '@opentelemetry/api';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { OTEL_INVALID_OPTION, OTEL_RESERVED_ATTRIBUTE } from './opentelemetry.messages';

/**
 * Options of `instrumentResilience()` and `ResilienceOpenTelemetryModule.forRoot()`.
 * @publicApi
 */
export interface ResilienceOpenTelemetryOptions {
  /**
   * Where the metrics go.
   * @default the global one (`metrics.getMeterProvider()`)
   */
  meterProvider?: MeterProvider;
  /**
   * Span events are added to the span that is active when a policy reports something, whoever
   * created it; this provider only tells whether tracing is on at all (a no-op provider turns
   * span events off).
   * @default the global one (`trace.getTracerProvider()`)
   */
  tracerProvider?: TracerProvider;
  /**
   * Name of the meter (the instrumentation scope of every instrument).
   * @default 'nestjs-fault-tolerance'
   */
  meterName?: string;
  /**
   * Constant attributes added to every measurement, to tell apart several applications
   * of one process that report to one meter (for example `{ app: 'billing' }`). May not
   * set `name`, `result`, `from` or `to`.
   * @default {}
   */
  attributes?: Attributes;
  /** Record the metrics. @default true */
  metrics?: boolean;
  /**
   * Record the call duration histogram (`resilience.circuit_breaker.call.duration`). It is
   * the one instrument fed on the call's path (an SDK `histogram.record()` per admitted
   * call); every other figure is read at collection time. `false` saves that cost.
   * @default true
   */
  callDuration?: boolean;
  /** Add span events to the active span. @default true */
  spanEvents?: boolean;
}

/** Options with defaults applied and checked. @internal */
export interface ResolvedOpenTelemetryOptions {
  meterProvider?: MeterProvider;
  tracerProvider?: TracerProvider;
  meterName: string;
  attributes: Readonly<Record<string, AttributeValue>>;
  metrics: boolean;
  callDuration: boolean;
  spanEvents: boolean;
}

/** The meter name used when none is given. @publicApi */
export const DEFAULT_METER_NAME = 'nestjs-fault-tolerance';

/** Attribute keys the exporter sets itself. @internal */
export const RESERVED_ATTRIBUTES = ['name', 'result', 'from', 'to'] as const;

const KNOWN_KEYS = [
  'meterProvider',
  'tracerProvider',
  'meterName',
  'attributes',
  'metrics',
  'callDuration',
  'spanEvents',
] as const;

/** Applies the defaults and checks every option; throws `ResilienceConfigError`. @internal */
export function resolveOpenTelemetryOptions(
  options: ResilienceOpenTelemetryOptions | undefined = {},
): ResolvedOpenTelemetryOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('options', options, 'an options object');
  }
  for (const key of Object.keys(options)) {
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      throw invalid(
        key,
        (options as Record<string, unknown>)[key],
        `one of ${KNOWN_KEYS.join(', ')}`,
      );
    }
  }
  const {
    meterProvider,
    tracerProvider,
    meterName,
    attributes,
    metrics,
    callDuration,
    spanEvents,
  } = options;
  if (meterProvider !== undefined && !hasMethod(meterProvider, 'getMeter')) {
    throw invalid('meterProvider', meterProvider, 'a MeterProvider (an object with getMeter())');
  }
  if (tracerProvider !== undefined && !hasMethod(tracerProvider, 'getTracer')) {
    throw invalid(
      'tracerProvider',
      tracerProvider,
      'a TracerProvider (an object with getTracer())',
    );
  }
  if (meterName !== undefined && (typeof meterName !== 'string' || meterName.trim() === '')) {
    throw invalid('meterName', meterName, 'a non-empty string');
  }
  for (const [key, value] of [
    ['metrics', metrics],
    ['callDuration', callDuration],
    ['spanEvents', spanEvents],
  ] as const) {
    if (value !== undefined && typeof value !== 'boolean')
      throw invalid(key, value, 'true or false');
  }
  return {
    meterProvider,
    tracerProvider,
    meterName: meterName ?? DEFAULT_METER_NAME,
    attributes: checkAttributes(attributes),
    metrics: metrics ?? true,
    callDuration: callDuration ?? true,
    spanEvents: spanEvents ?? true,
  };
}

function checkAttributes(attributes: unknown): Readonly<Record<string, AttributeValue>> {
  if (attributes === undefined) return {};
  if (
    typeof attributes !== 'object' ||
    attributes === null ||
    Array.isArray(attributes) ||
    ![Object.prototype, null].includes(Object.getPrototypeOf(attributes))
  ) {
    throw invalid('attributes', attributes, 'a plain object of attribute values');
  }
  const out: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if ((RESERVED_ATTRIBUTES as readonly string[]).includes(key)) {
      throw new ResilienceConfigError(
        OTEL_RESERVED_ATTRIBUTE(key, RESERVED_ATTRIBUTES),
        'ResilienceOpenTelemetry',
        'attributes',
        attributes,
      );
    }
    if (!isAttributeValue(value)) {
      throw invalid(
        `attributes.${key}`,
        value,
        'a string, number or boolean (or an array of one of them)',
      );
    }
    out[key] = value;
  }
  return Object.freeze(out);
}

function isAttributeValue(value: unknown): value is AttributeValue {
  const primitive = (v: unknown) =>
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    (typeof v === 'number' && Number.isFinite(v));
  if (Array.isArray(value))
    return value.every((v) => v === null || v === undefined || primitive(v));
  return primitive(value);
}

const hasMethod = (value: unknown, method: string): boolean =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Record<string, unknown>)[method] === 'function';

const invalid = (key: string, value: unknown, expected: string) =>
  new ResilienceConfigError(
    OTEL_INVALID_OPTION(key, value, expected),
    'ResilienceOpenTelemetry',
    key,
    value,
  );
