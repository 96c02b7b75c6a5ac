import { BadRequestException, Body, Controller, Get, Headers, Param, Post } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, toArray } from 'rxjs';
import type {
  ChargeRequest,
  ExchangeRate,
  Payment,
  PaymentEvent,
  PaymentStatus,
} from './payment.types';
import { PaymentsClient } from './payments.client';

/**
 * HTTP front of `PaymentsClient`. Resilience errors thrown by the client become HTTP
 * answers through `ResilienceExceptionFilter` (module option `httpErrors: true`):
 * open breaker → 503 with Retry-After, bulkhead or rate limit → 429, timeout → 504.
 */
@Controller()
export class PaymentsController {
  constructor(private readonly payments: PaymentsClient) {}

  /** `POST /payments { customerId, amount, currency }`, optional `Idempotency-Key` header. */
  @Post('payments')
  create(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<Payment> {
    return this.payments.charge({
      ...parseCharge(body),
      idempotencyKey: idempotencyKey || randomUUID(),
    });
  }

  @Get('payments/:id/status')
  status(@Param('id') id: string): Promise<PaymentStatus> {
    return this.payments.getStatus(id);
  }

  @Get('payments/:id/history')
  history(@Param('id') id: string): Observable<PaymentEvent[]> {
    return this.payments.history(id).pipe(toArray());
  }

  @Get('rates/:currency')
  rate(@Param('currency') currency: string): Promise<ExchangeRate> {
    return this.payments.exchangeRate(currency.toUpperCase());
  }
}

function parseCharge(body: unknown): Omit<ChargeRequest, 'idempotencyKey'> {
  const { customerId, amount, currency } = (body ?? {}) as Record<string, unknown>;
  if (typeof customerId !== 'string' || !/^[\w-]{1,64}$/.test(customerId)) {
    throw new BadRequestException('customerId must be 1 to 64 letters, digits, - or _');
  }
  if (typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) {
    throw new BadRequestException('amount must be a whole number of minor units (cents) > 0');
  }
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
    throw new BadRequestException('currency must be an ISO 4217 code such as EUR');
  }
  return { customerId, amount, currency: currency.toUpperCase() };
}
