import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { throwError } from 'rxjs';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { RateLimitedError } from '../common/errors/rate-limited.error';
import { TimeoutError } from '../common/errors/timeout.error';

interface Mapping {
  status: number;
  error: string;
  retryAfter?: number;
}

/**
 * Maps resilience errors to HTTP answers: `CircuitOpenError` → 503 with `Retry-After`
 * (whole seconds, rounded up), `BulkheadRejectedError` and `RateLimitedError` → 429
 * (with `Retry-After` when known), `TimeoutError` → 504. Works with Express and
 * Fastify. Register it with the module option `httpErrors: true`,
 * `app.useGlobalFilters(new ResilienceExceptionFilter())` or `@UseFilters(…)`.
 * Other error types are left to the next handler; in microservice (RPC) handlers the
 * error is handed back unchanged to the transport.
 * @publicApi
 */
@Catch(CircuitOpenError, BulkheadRejectedError, RateLimitedError, TimeoutError)
export class ResilienceExceptionFilter implements ExceptionFilter {
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(exception: Error, host: ArgumentsHost): unknown {
    // microservice handlers expect an Observable error; the transport answers with it
    if (host.getType() === 'rpc') return throwError(() => exception);
    if (host.getType() !== 'http') throw exception;
    const mapping = ResilienceExceptionFilter.map(exception);
    const response = host.switchToHttp().getResponse();
    const body = {
      statusCode: mapping.status,
      error: mapping.error,
      message: exception.message,
      policy: (exception as { policyName?: string }).policyName,
    };
    const retryAfter =
      mapping.retryAfter === undefined ? undefined : String(Math.ceil(mapping.retryAfter / 1000));
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter) {
      if (retryAfter !== undefined) adapter.setHeader(response, 'Retry-After', retryAfter);
      return adapter.reply(response, body, mapping.status);
    }
    return replyDirectly(response, mapping.status, body, retryAfter);
  }

  /** The HTTP status, reason phrase and retry delay (ms) for an error. */
  static map(exception: Error): Mapping {
    if (exception instanceof CircuitOpenError) {
      return {
        status: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'Service Unavailable',
        retryAfter: exception.retryAfter,
      };
    }
    if (exception instanceof RateLimitedError) {
      return {
        status: HttpStatus.TOO_MANY_REQUESTS,
        error: 'Too Many Requests',
        retryAfter: exception.retryAfter,
      };
    }
    if (exception instanceof BulkheadRejectedError) {
      return { status: HttpStatus.TOO_MANY_REQUESTS, error: 'Too Many Requests' };
    }
    return { status: HttpStatus.GATEWAY_TIMEOUT, error: 'Gateway Timeout' };
  }
}

/** Express (`status().json()`) or Fastify (`code().send()`) response objects. */
function replyDirectly(response: any, status: number, body: object, retryAfter?: string): unknown {
  if (
    typeof response.code === 'function' &&
    typeof response.send === 'function' &&
    !response.json
  ) {
    if (retryAfter !== undefined) response.header('Retry-After', retryAfter);
    return response.code(status).send(body);
  }
  if (retryAfter !== undefined) response.setHeader('Retry-After', retryAfter);
  return response.status(status).json(body);
}
