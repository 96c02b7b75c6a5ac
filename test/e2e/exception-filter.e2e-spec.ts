import {
  Controller,
  DynamicModule,
  Get,
  INestApplication,
  Injectable,
  Module,
  NotFoundException,
  Query,
} from '@nestjs/common';
import request from 'supertest';
import {
  Bulkhead,
  BulkheadRejectedError,
  CircuitBreaker,
  CircuitOpenError,
  currentSignal,
  RateLimit,
  RateLimitedError,
  ResilienceExceptionFilter,
  ResilienceModule,
  ResilienceRegistry,
  Timeout,
  TimeoutError,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { ADAPTERS, BootstrapOptions, useApps, waitFor } from './utils/bootstrap';

/** Throws each error class directly, to pin the mapping. */
@Controller('errors')
class ErrorsController {
  @Get('circuit-open')
  circuitOpen(@Query('retryAfter') retryAfter: string): never {
    throw new CircuitOpenError('payments', Number(retryAfter));
  }

  @Get('bulkhead')
  bulkhead(): never {
    throw new BulkheadRejectedError('pool', 'full');
  }

  @Get('rate-limited')
  rateLimited(@Query('retryAfter') retryAfter: string): never {
    throw new RateLimitedError('limiter', Number(retryAfter));
  }

  @Get('timeout')
  timeout(): never {
    throw new TimeoutError('slow-call', 100);
  }

  @Get('plain')
  plain(): never {
    throw new Error('not a resilience error');
  }

  @Get('http')
  http(): never {
    throw new NotFoundException('no such thing');
  }
}

/** Lets a test hold a call inside the bulkhead. */
@Injectable()
class Gate {
  running = 0;
  private release?: () => void;
  private opened = new Promise<void>((resolve) => (this.release = resolve));

  async pass(): Promise<void> {
    this.running++;
    await this.opened;
  }

  open(): void {
    this.release?.();
  }
}

/** The same errors, produced by real policies on handlers. */
@Controller('policies')
class PoliciesController {
  constructor(private readonly gate: Gate) {}

  @Get('timeout')
  @Timeout(30)
  async timeout(): Promise<string> {
    const signal = currentSignal();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return 'late';
  }

  @Get('bulkhead')
  @Bulkhead({ maxConcurrent: 1 })
  async bulkhead(): Promise<string> {
    await this.gate.pass();
    return 'done';
  }

  @Get('rate-limit')
  @RateLimit({ limit: 1, interval: 60_000 })
  async rateLimit(): Promise<string> {
    return 'permitted';
  }

  @Get('breaker')
  @CircuitBreaker('e2e-breaker', { resetTimeout: 1_500 })
  async breaker(): Promise<string> {
    return 'closed';
  }
}

/** The test app; with `clock`, the resilience module runs on it instead of real time. */
const appModule = (httpErrors: boolean, clock?: FakeClock): DynamicModule => {
  @Module({
    imports: [ResilienceModule.forRoot({ httpErrors, ...(clock ? { clock } : {}) })],
    controllers: [ErrorsController, PoliciesController],
    providers: [Gate],
  })
  class FilterModule {}
  return { module: FilterModule };
};

const registrations: [string, boolean, BootstrapOptions][] = [
  ['module option httpErrors: true', true, {}],
  [
    'app.useGlobalFilters(new ResilienceExceptionFilter())',
    false,
    { configure: (app) => app.useGlobalFilters(new ResilienceExceptionFilter()) },
  ],
];

describe.each(ADAPTERS)('ResilienceExceptionFilter (%s)', (adapter) => {
  const apps = useApps();

  describe.each(registrations)('registered with %s', (_label, httpErrors, options) => {
    let app: INestApplication;
    const http = () => request(app.getHttpServer());

    beforeEach(async () => {
      app = await apps.start(adapter, appModule(httpErrors), options);
    });

    it.each([
      [1_500, '2'],
      [1_000, '1'],
      [1, '1'],
      [60_001, '61'],
    ])('maps CircuitOpenError (retryAfter %ims) to 503, Retry-After %s', async (ms, header) => {
      const res = await http().get(`/errors/circuit-open?retryAfter=${ms}`).expect(503);

      expect(res.headers['retry-after']).toBe(header);
      expect(res.body).toMatchObject({
        statusCode: 503,
        error: 'Service Unavailable',
        policy: 'payments',
      });
    });

    it('maps BulkheadRejectedError to 429 without Retry-After', async () => {
      const res = await http().get('/errors/bulkhead').expect(429);

      expect(res.headers['retry-after']).toBeUndefined();
      expect(res.body).toMatchObject({ statusCode: 429, policy: 'pool' });
    });

    it('maps RateLimitedError to 429 with Retry-After', async () => {
      const res = await http().get('/errors/rate-limited?retryAfter=2500').expect(429);

      expect(res.headers['retry-after']).toBe('3');
      expect(res.body).toMatchObject({ statusCode: 429, policy: 'limiter' });
    });

    it('maps TimeoutError to 504', async () => {
      const res = await http().get('/errors/timeout').expect(504);

      expect(res.headers['retry-after']).toBeUndefined();
      expect(res.body).toMatchObject({
        statusCode: 504,
        error: 'Gateway Timeout',
        policy: 'slow-call',
      });
    });

    it("leaves other errors to Nest's default handling", async () => {
      const plain = await http().get('/errors/plain').expect(500);
      expect(plain.body).toEqual({ statusCode: 500, message: 'Internal server error' });

      const notFound = await http().get('/errors/http').expect(404);
      expect(notFound.body).toMatchObject({ statusCode: 404, message: 'no such thing' });
    });

    it('answers 504 when a @Timeout fires', async () => {
      const res = await http().get('/policies/timeout').expect(504);

      expect(res.body).toMatchObject({ policy: 'PoliciesController.timeout' });
    });

    it('answers 429 when the @Bulkhead is full', async () => {
      const gate = app.get(Gate);
      const first = http()
        .get('/policies/bulkhead')
        .then((res) => res);
      await waitFor(() => gate.running === 1, { what: 'the first call to enter the bulkhead' });

      try {
        const rejected = await http().get('/policies/bulkhead').expect(429);
        expect(rejected.body).toMatchObject({ policy: 'PoliciesController.bulkhead' });
      } finally {
        gate.open(); // never leave the first request hanging, or closing the app would wait
      }
      expect((await first).status).toBe(200);
    });

    it('answers 429 with Retry-After once the @RateLimit is used up', async () => {
      await http().get('/policies/rate-limit').expect(200);
      const res = await http().get('/policies/rate-limit').expect(429);

      // the permit frees up within the 60s interval
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(59);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    });

    it('answers 503 with Retry-After while a @CircuitBreaker is open', async () => {
      // an app of its own whose module time stands still unless the test moves it, so the
      // header is exact (the shared app keeps real time, which the @Timeout test needs)
      const clock = new FakeClock();
      app = await apps.start(adapter, appModule(httpErrors, clock), options);
      await http().get('/policies/breaker').expect(200);
      app.get(ResilienceRegistry).circuitBreaker('e2e-breaker')?.open();

      const res = await http().get('/policies/breaker').expect(503);

      // all 1500ms of the reset timeout left: rounded up to 2s
      expect(res.headers['retry-after']).toBe('2');
      expect(res.body).toMatchObject({ policy: 'e2e-breaker' });

      await clock.advance(600);
      const later = await http().get('/policies/breaker').expect(503);
      expect(later.headers['retry-after']).toBe('1'); // 900ms left
    });
  });

  describe('without the filter', () => {
    it('leaves resilience errors to the default 500', async () => {
      const app = await apps.start(adapter, appModule(false));

      const res = await request(app.getHttpServer()).get('/errors/circuit-open?retryAfter=1500');

      expect(res.status).toBe(500);
      expect(res.headers['retry-after']).toBeUndefined();
    });
  });
});
