import { trace, type Attributes } from '@opentelemetry/api';
import type { ResilienceEvent } from '../common/events';

/** Names of the span events, by the `ResilienceEvent` type they stand for. @publicApi */
export const SPAN_EVENTS = {
  retry: 'resilience.retry',
  timeout: 'resilience.timeout',
  callRejected: 'resilience.circuit_breaker.rejected',
  stateChange: 'resilience.circuit_breaker.state_change',
  bulkheadRejected: 'resilience.bulkhead.rejected',
  rateLimited: 'resilience.rate_limiter.rejected',
} as const;

/** Longest error message put on a span event (longer ones are cut). @internal */
const MAX_MESSAGE = 1024;

/**
 * Adds the event to the span active right now, when there is one and it records.
 * Events of other types are ignored.
 * @internal
 */
export function addSpanEvent(event: ResilienceEvent): void {
  const span = trace.getActiveSpan();
  if (span === undefined || !span.isRecording()) return;
  const described = describeEvent(event);
  if (described) span.addEvent(described[0], described[1]);
}

/** The span event's name and attributes for one resilience event. @internal */
export function describeEvent(event: ResilienceEvent): [string, Attributes] | undefined {
  switch (event.type) {
    case 'retry':
      return [
        SPAN_EVENTS.retry,
        {
          'resilience.policy': event.name,
          'resilience.attempt': event.attempt,
          'resilience.delay_ms': event.delay,
          'error.type': errorType(event.error),
          'error.message': errorMessage(event.error),
        },
      ];
    case 'timeout':
      return [
        SPAN_EVENTS.timeout,
        { 'resilience.policy': event.name, 'resilience.timeout_ms': event.timeout },
      ];
    case 'call-rejected':
      return [
        SPAN_EVENTS.callRejected,
        {
          'resilience.policy': event.name,
          'resilience.state': event.state,
          'resilience.retry_after_ms': event.retryAfter,
        },
      ];
    case 'state-change':
      return [
        SPAN_EVENTS.stateChange,
        {
          'resilience.policy': event.name,
          'resilience.from': event.from,
          'resilience.to': event.to,
          'resilience.reason': event.reason,
        },
      ];
    case 'bulkhead-rejected': {
      const attributes: Attributes = {
        'resilience.policy': event.name,
        'resilience.reason': event.reason,
      };
      if (event.key !== undefined) attributes['resilience.key'] = event.key;
      return [SPAN_EVENTS.bulkheadRejected, attributes];
    }
    case 'rate-limited':
      return [
        SPAN_EVENTS.rateLimited,
        { 'resilience.policy': event.name, 'resilience.retry_after_ms': event.retryAfter },
      ];
    default:
      return undefined;
  }
}

/** The error's class name (`error.type` of the semantic conventions). */
function errorType(error: unknown): string {
  if (error instanceof Error) {
    const ctor = (error as { constructor?: { name?: unknown } }).constructor;
    return typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : error.name;
  }
  return error === null ? 'null' : typeof error;
}

function errorMessage(error: unknown): string {
  let message: string;
  try {
    message =
      error instanceof Error
        ? error.message
        : typeof error === 'object' && error !== null
          ? String((error as { message?: unknown }).message ?? '')
          : String(error);
  } catch {
    message = '';
  }
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}
