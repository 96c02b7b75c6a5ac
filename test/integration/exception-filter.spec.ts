import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import {
  CircuitBreakerPolicy,
  CircuitOpenError,
  RateLimitedError,
  ResilienceExceptionFilter,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import { rejectionOf } from '../fixtures/testing-app';

/** An Express-like response that records what the filter did to it. */
class FakeResponse {
  readonly headers: Record<string, string> = {};
  statusCode?: number;
  body?: unknown;

  setHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  json(body: unknown): this {
    this.body = body;
    return this;
  }
}

const httpHost = (response: FakeResponse): ArgumentsHost =>
  ({
    getType: () => 'http',
    getArgs: () => [{}, response],
    getArgByIndex: (i: number) => [{}, response][i],
    switchToHttp: () => ({
      getRequest: () => ({}),
      getResponse: () => response,
      getNext: () => undefined,
    }),
    switchToRpc: () => {
      throw new Error('not rpc');
    },
    switchToWs: () => {
      throw new Error('not ws');
    },
  }) as unknown as ArgumentsHost;

/** An HttpAdapterHost whose adapter writes to the FakeResponse like the Express adapter. */
const fakeAdapterHost = (): HttpAdapterHost =>
  ({
    httpAdapter: {
      setHeader: (response: FakeResponse, name: string, value: string) =>
        response.setHeader(name, value),
      reply: (response: FakeResponse, body: unknown, status?: number) => {
        if (status !== undefined) response.status(status);
        return response.json(body);
      },
    },
  }) as unknown as HttpAdapterHost;

const filters: [string, () => ResilienceExceptionFilter][] = [
  ['without an HttpAdapterHost', () => new ResilienceExceptionFilter()],
  ['with an HttpAdapterHost', () => new ResilienceExceptionFilter(fakeAdapterHost())],
];

/** Runs one error through the filter and returns the response it wrote. */
const answer = (filter: ResilienceExceptionFilter, error: Error): FakeResponse => {
  const response = new FakeResponse();
  filter.catch(error, httpHost(response));
  return response;
};

describe('ResilienceExceptionFilter', () => {
  describe.each(filters)('%s', (_case, makeFilter) => {
    it.each([
      [0, '0'],
      [1, '1'],
      [999, '1'],
      [1000, '1'],
      [1001, '2'],
      [59_500, '60'],
    ])(
      'answers a CircuitOpenError with retryAfter %pms with 503 and Retry-After: %s (whole seconds, rounded up)',
      (retryAfter, header) => {
        const response = answer(makeFilter(), new CircuitOpenError('payments', retryAfter));
        expect(response.statusCode).toBe(503);
        expect(response.headers).toEqual({ 'Retry-After': header });
        expect(response.body).toMatchObject({
          statusCode: 503,
          error: 'Service Unavailable',
          policy: 'payments',
        });
      },
    );

    it('answers a half-open breaker whose trial slots are all taken with Retry-After: 0', async () => {
      const clock = new FakeClock();
      const breaker = new CircuitBreakerPolicy(
        'payments',
        { failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 1 },
        { clock, scheduler: clock },
      );
      try {
        await expect(
          breaker.execute(async () => {
            throw new UpstreamError('down');
          }),
        ).rejects.toThrow('down');
        await clock.advance(1000);
        expect(breaker.state).toBe('half-open');
        breaker.execute(() => new Promise<never>(() => undefined)).catch(() => undefined); // the trial
        const error = await rejectionOf(breaker.execute(async () => 'second'));
        expect(error).toBeInstanceOf(CircuitOpenError);
        expect(error.retryAfter).toBe(0);

        const response = answer(makeFilter(), error);
        expect(response.statusCode).toBe(503);
        expect(response.headers).toEqual({ 'Retry-After': '0' });
      } finally {
        breaker.dispose();
      }
    });

    it.each([
      [0, '0'],
      [1, '1'],
      [1000, '1'],
      [1001, '2'],
    ])(
      'answers a RateLimitedError with retryAfter %pms with 429 and Retry-After: %s',
      (retryAfter, header) => {
        const response = answer(makeFilter(), new RateLimitedError('limiter', retryAfter));
        expect(response.statusCode).toBe(429);
        expect(response.headers).toEqual({ 'Retry-After': header });
      },
    );
  });
});
