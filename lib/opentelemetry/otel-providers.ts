import {
  createNoopMeter,
  metrics,
  ProxyTracerProvider,
  trace,
  type Meter,
  type MeterProvider,
  type TracerProvider,
} from '@opentelemetry/api';

/**
 * Whether an SDK is behind the providers, told through the public API alone:
 *
 * - Metrics: with no SDK registered, `metrics.getMeterProvider()` is the API's no-op
 *   provider, whose every meter is the one no-op meter that `createNoopMeter()` returns.
 * - Traces: `trace.getTracerProvider()` is always a `ProxyTracerProvider`; with no SDK
 *   registered its `getDelegate()` is the API's no-op provider, the same object an unused
 *   `new ProxyTracerProvider()` delegates to.
 *
 * The check runs once, when an application is instrumented: register the SDK before the
 * application starts (as OpenTelemetry asks anyway).
 * @internal
 */
const NOOP_METER = createNoopMeter();
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/** The meter to record with, or undefined when the provider is the API's no-op one. @internal */
export function liveMeter(provider: MeterProvider | undefined, name: string): Meter | undefined {
  const meter = (provider ?? metrics.getMeterProvider()).getMeter(name);
  return meter === NOOP_METER || meter instanceof NOOP_METER.constructor ? undefined : meter;
}

/** Whether spans of `provider` (default: the global one) can record events. @internal */
export function tracingOn(provider: TracerProvider | undefined): boolean {
  let target = provider ?? trace.getTracerProvider();
  // a proxy (ours or another copy of the API) stands for its delegate
  const proxy = target as Partial<Pick<ProxyTracerProvider, 'getDelegate'>>;
  if (typeof proxy.getDelegate === 'function') target = proxy.getDelegate();
  return !(target === NOOP_TRACER_PROVIDER || target instanceof NOOP_TRACER_PROVIDER.constructor);
}
