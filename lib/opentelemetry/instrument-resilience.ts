import type { Subscription } from 'rxjs';
import type { Disposable } from '../common/emitter';
import type { ResilienceEvent } from '../common/events';
import type { ResilienceRegistry } from '../registry/resilience.registry';
import {
  resolveOpenTelemetryOptions,
  type ResilienceOpenTelemetryOptions,
} from './opentelemetry.options';
import { createMetricsRecorder, type MetricsRecorder } from './otel-metrics';
import { liveMeter, tracingOn } from './otel-providers';
import { addSpanEvent } from './otel-span-events';

/**
 * What `instrumentResilience()` returns: what it turned on, and `dispose()` to stop.
 * @publicApi
 */
export interface ResilienceInstrumentation extends Disposable {
  /** True when metrics are recorded (metrics on, and a real MeterProvider found). */
  readonly metrics: boolean;
  /** True when span events are added (span events on, and a real TracerProvider found). */
  readonly spanEvents: boolean;
  /** Unsubscribes, removes the collection callback and the call observer. Idempotent. */
  dispose(): void;
}

/**
 * Reports one application's policies to OpenTelemetry: metrics read from
 * `registry.stats()` at collection time plus a call duration histogram, and span events
 * (retry, timeout, rejections, state changes) on the span active when they happen.
 *
 * Costs nothing without an SDK: when the meter provider is the API's no-op one, no
 * instrument, callback or call observer is created; when the tracer provider is the no-op
 * one, span events are off; when both are off, `events$` is not even subscribed. The
 * providers are checked once, here: register the SDK before calling this.
 *
 * Stops by itself when the registry shuts down (its `events$` completes) if it subscribed;
 * call `dispose()` otherwise.
 * @throws ResilienceConfigError on a bad option, or when another registry already reports
 * to the same meter with the same `attributes`.
 * @publicApi
 */
export function instrumentResilience(
  registry: ResilienceRegistry,
  options?: ResilienceOpenTelemetryOptions,
): ResilienceInstrumentation {
  const resolved = resolveOpenTelemetryOptions(options);
  const meter = resolved.metrics
    ? liveMeter(resolved.meterProvider, resolved.meterName)
    : undefined;
  const spanEvents = resolved.spanEvents && tracingOn(resolved.tracerProvider);

  const recorder: MetricsRecorder | undefined =
    meter === undefined
      ? undefined
      : createMetricsRecorder(
          registry,
          meter,
          resolved.meterName,
          resolved.attributes,
          resolved.callDuration,
        );
  let calls: Disposable | undefined;
  let subscription: Subscription | undefined;
  let disposed = false;

  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    subscription?.unsubscribe();
    calls?.dispose();
    recorder?.dispose();
  };

  if (recorder !== undefined || spanEvents) {
    const onEvent = listener(recorder, spanEvents);
    try {
      if (recorder?.observeCall !== undefined) calls = registry.observeCalls(recorder.observeCall);
      subscription = registry.events$.subscribe({ next: onEvent, complete: dispose });
    } catch (error) {
      dispose();
      throw error;
    }
  }

  return {
    metrics: recorder !== undefined,
    spanEvents,
    dispose,
  };
}

/** One listener for both consumers of the events. */
function listener(
  recorder: MetricsRecorder | undefined,
  spanEvents: boolean,
): (event: ResilienceEvent) => void {
  return (event) => {
    // a throwing SDK must not reach rxjs, which would rethrow it outside any call
    try {
      recorder?.onEvent(event);
      if (spanEvents) addSpanEvent(event);
    } catch {
      // the figure is lost, the call is not
    }
  };
}
