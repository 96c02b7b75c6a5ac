import { BadGatewayException, Injectable, NotFoundException } from '@nestjs/common';
import { catchError, from, mergeMap, Observable, throwError } from 'rxjs';
import { fromFetch } from 'rxjs/fetch';
import {
  Bulkhead,
  CircuitBreaker,
  currentSignal,
  DeadLetter,
  Fallback,
  RateLimit,
  Retry,
  Timeout,
  UsePolicy,
} from '../../../lib';
import type { DeadLetter as DeadLetterRecord } from '../../../lib';
import { FlakyGateway } from '../downstream/flaky-gateway';
import { countsAgainstGateway, isTransient } from './gateway-errors';
import type {
  ChargeRequest,
  ExchangeRate,
  Payment,
  PaymentEvent,
  PaymentStatus,
} from './payment.types';

/**
 * One breaker for the whole gateway: every method below names it, so they share it and
 * a gateway outage is detected whichever endpoint sees it first. Methods sharing a
 * breaker must give it the same options. `resetTimeout` is not set here: it comes from
 * `defaults.circuitBreaker` of `ResilienceModule.forRoot()` (see app.module.ts).
 */
export const GATEWAY_BREAKER = 'payments-gateway';
const gatewayBreaker = {
  failureThreshold: 3,
  successThreshold: 2,
  isFailure: countsAgainstGateway,
};

/** Statuses and rates kept for the fallbacks; the oldest entries are dropped first. */
const CACHE_SIZE = 1_000;

/**
 * Calls the payment gateway over HTTP. A plain provider: the decorators work on any
 * Nest provider, not only on controllers. Whatever order they are written in, a call
 * runs through Fallback(Retry(CircuitBreaker(RateLimit(Timeout(Bulkhead(method)))))).
 */
@Injectable()
export class PaymentsClient {
  private readonly statuses = new Map<string, PaymentStatus>();
  private readonly rates = new Map<string, ExchangeRate>();
  /**
   * Customer of each recent charge, by idempotency key: the dead letters carry a masked
   * customer id, and a replay restores it from here (a real service would read its own
   * database).
   */
  private readonly customers = new Map<string, string>();

  constructor(private readonly gateway: FlakyGateway) {}

  /**
   * Charges a customer.
   * - Retry: up to 3 calls with exponential backoff; safe because of the idempotency key.
   * - CircuitBreaker: stop calling a failing gateway; callers get a 503 with Retry-After.
   * - RateLimit: at most 50 charges per second leave this instance (429 beyond).
   * - Timeout: each attempt gets 1s; the fetch is aborted through `currentSignal()`.
   * - Bulkhead, keyed per customer: one customer's burst cannot take every connection;
   *   2 charges run at once per customer, 2 more may wait up to 2s (429 beyond).
   * - DeadLetter: a charge that finally failed is recorded, customer masked, for a later
   *   replay with the same idempotency key (`GET /resilience/dead-letters`).
   */
  @DeadLetter({ serializeArgs: redactCharge })
  @Retry({
    maxAttempts: 3,
    backoff: { type: 'exponential', initialDelay: 100, maxDelay: 1_000 },
    retryOn: isTransient,
  })
  @CircuitBreaker(GATEWAY_BREAKER, gatewayBreaker)
  @RateLimit('payments-outbound', { limit: 50, interval: 1_000 })
  @Timeout(1_000)
  @Bulkhead('payments-per-customer', {
    key: (request: ChargeRequest) => request.customerId,
    maxConcurrent: 2,
    maxQueue: 2,
    queueTimeout: 2_000,
  })
  async charge(request: ChargeRequest): Promise<Payment> {
    const { idempotencyKey, ...charge } = request;
    this.remember(this.customers, idempotencyKey, request.customerId);
    const payment = await this.call<Payment>('POST', '/charges', charge, {
      'idempotency-key': idempotencyKey,
    });
    this.remember(this.statuses, payment.id, {
      id: payment.id,
      status: payment.status,
      stale: false,
    });
    return payment;
  }

  /**
   * Reads a payment's status. When the gateway cannot answer (open breaker, timeouts,
   * 5xx after retries) the fallback serves the last status seen, marked `stale`.
   */
  @Fallback('lastKnownStatus')
  @Retry({ maxAttempts: 2, backoff: { type: 'fixed', initialDelay: 50 }, retryOn: isTransient })
  @CircuitBreaker(GATEWAY_BREAKER, gatewayBreaker)
  @Timeout(1_000)
  async getStatus(id: string): Promise<PaymentStatus> {
    const payment = await this.call<Payment>('GET', `/charges/${encodeURIComponent(id)}`);
    const status: PaymentStatus = { id: payment.id, status: payment.status, stale: false };
    this.remember(this.statuses, id, status);
    return status;
  }

  /** `@Fallback` handler: same `this`, the error first, then the method's arguments. */
  lastKnownStatus(error: unknown, id: string): PaymentStatus {
    const known = this.statuses.get(id);
    if (!known) throw error;
    return { ...known, stale: true };
  }

  /**
   * The history of a payment, one event at a time. Observable methods are protected per
   * subscription: a retry subscribes again. `fromFetch` aborts the request when the
   * subscription ends, which is how a `@Timeout` cancels an Observable.
   */
  @Retry({
    maxAttempts: 3,
    backoff: { type: 'exponential', initialDelay: 50 },
    retryOn: isTransient,
  })
  @CircuitBreaker(GATEWAY_BREAKER, gatewayBreaker)
  @Timeout(1_000)
  history(id: string): Observable<PaymentEvent> {
    return fromFetch(`${this.gateway.url}/charges/${encodeURIComponent(id)}/events`, {
      selector: (response) => readJson<PaymentEvent[]>(response, `payment ${id}`),
    }).pipe(
      catchError((error: unknown) => throwError(() => asGatewayError(error))),
      mergeMap((events) => from(events)),
    );
  }

  /**
   * An exchange rate. Its policies come from configuration: the `reference-data` set of
   * `ResilienceModule.forRoot({ policies })`, fallback included (see app.module.ts).
   */
  @UsePolicy('reference-data')
  async exchangeRate(currency: string): Promise<ExchangeRate> {
    const rate = await this.call<Omit<ExchangeRate, 'stale'>>(
      'GET',
      `/rates/${encodeURIComponent(currency)}`,
    );
    const fresh: ExchangeRate = { ...rate, stale: false };
    this.remember(this.rates, rate.currency, fresh);
    return fresh;
  }

  /** Fallback of the `reference-data` policy set, named there as `fallback: 'cachedRate'`. */
  cachedRate(error: unknown, currency: string): ExchangeRate {
    const known = this.rates.get(currency.toUpperCase());
    if (!known) throw error;
    return { ...known, stale: true };
  }

  /**
   * One request to the gateway. `currentSignal()` is the AbortSignal of the protected
   * call running now: when its `@Timeout` fires, fetch stops instead of running on.
   */
  private async call<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const signal = currentSignal();
    let response: Response;
    try {
      response = await fetch(`${this.gateway.url}${path}`, {
        method,
        signal,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (signal.aborted) throw error; // the timeout already answered the caller
      throw asGatewayError(error);
    }
    return readJson<T>(response, path);
  }

  /**
   * The arguments to replay a charge's dead letter with (`replayDeadLetters` option `args`):
   * the letter's own, with the masked customer id restored by idempotency key.
   */
  restoreCharge(letter: DeadLetterRecord): unknown[] {
    const [masked] = letter.args as [ChargeRequest];
    const customerId = this.customers.get(masked?.idempotencyKey);
    if (customerId === undefined) {
      throw new Error(
        `Cannot replay dead letter ${letter.id}: the customer of charge ` +
          `${String(masked?.idempotencyKey)} is no longer known.`,
      );
    }
    return [{ ...masked, customerId }];
  }

  private remember<V>(cache: Map<string, V>, key: string, value: V): void {
    cache.delete(key);
    cache.set(key, value);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  }
}

/**
 * `serializeArgs` of the charge's dead letters: keeps what a replay needs (amount, currency,
 * idempotency key) and masks the customer id, which should not travel with the letter.
 */
export function redactCharge([request]: unknown[]): unknown[] {
  const { customerId, ...rest } = request as ChargeRequest;
  return [{ ...rest, customerId: `${String(customerId).slice(0, 1)}***` }];
}

async function readJson<T>(response: Response, what: string): Promise<T> {
  if (response.status === 404) throw new NotFoundException(`Unknown ${what}`);
  if (!response.ok) {
    throw new BadGatewayException(`The payment gateway answered ${response.status}`);
  }
  return (await response.json()) as T;
}

function asGatewayError(error: unknown): unknown {
  if (!(error instanceof TypeError)) return error;
  return new BadGatewayException('The payment gateway is unreachable', { cause: error });
}
