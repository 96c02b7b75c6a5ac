import { HttpException } from '@nestjs/common';
import { BulkheadRejectedError, CircuitOpenError, RateLimitedError } from '../../../lib';

/** A 4xx answer is the caller's mistake, not a sign that the gateway is unwell. */
export function isCallerError(error: unknown): boolean {
  return error instanceof HttpException && error.getStatus() < 500;
}

/** Turned away by our own bulkhead or rate limiter: the gateway was never asked. */
export function isLocalRejection(error: unknown): boolean {
  return error instanceof BulkheadRejectedError || error instanceof RateLimitedError;
}

/**
 * `isFailure` of the gateway's circuit breaker: only the gateway's own failures (5xx,
 * network errors, timeouts) count. A 404, or one busy customer hitting their bulkhead,
 * must not cut every customer off.
 */
export function countsAgainstGateway(error: unknown): boolean {
  return !isCallerError(error) && !isLocalRejection(error);
}

/**
 * `retryOn` of the gateway calls: retry 5xx answers, network errors and timeouts; never
 * the caller's mistakes, and never the resilience rejections (retrying them adds load).
 */
export function isTransient(error: unknown): boolean {
  return !(isCallerError(error) || isLocalRejection(error) || error instanceof CircuitOpenError);
}
