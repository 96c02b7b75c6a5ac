import { Controller, Get, Header, HttpCode, Injectable, Module, Post } from '@nestjs/common';
import { defer, Observable, of, throwError } from 'rxjs';
import request from 'supertest';
import {
  CircuitBreaker,
  currentSignal,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  Timeout,
} from '../../lib';
import { ADAPTERS, useApps } from './utils/bootstrap';

const quickRetry = {
  maxAttempts: 3,
  backoff: { type: 'fixed', initialDelay: 1, jitter: 'none' },
} as const;

/** Counts what really reached the handlers (the app's own instance). */
@Injectable()
class Calls {
  retried = 0;
  stream = 0;
  broken = 0;
  decoratedFirst = 0;
  decoratedLast = 0;
  slowAborted = false;
}

@Controller('handlers')
class HandlersController {
  constructor(private readonly calls: Calls) {}

  @Get('retry')
  @Retry(quickRetry)
  async retried(): Promise<{ calls: number }> {
    if (++this.calls.retried < 3) throw new Error('transient failure');
    return { calls: this.calls.retried };
  }

  @Get('stream')
  @Retry(quickRetry)
  stream(): Observable<{ subscriptions: number }> {
    return defer(() =>
      ++this.calls.stream < 3
        ? throwError(() => new Error('stream failed'))
        : of({ subscriptions: this.calls.stream }),
    );
  }

  @Get('broken')
  @CircuitBreaker('handler-breaker', { failureThreshold: 2, resetTimeout: 60_000 })
  async broken(): Promise<never> {
    this.calls.broken++;
    throw new Error('always fails');
  }

  @Get('slow')
  @Timeout(50)
  async slow(): Promise<string> {
    const signal = currentSignal();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        this.calls.slowAborted = true;
        resolve();
      });
    });
    return 'finished';
  }

  // resilience decorator written above the route decorators (applied last)...
  @Retry(quickRetry)
  @Post('first')
  @HttpCode(202)
  @Header('x-route', 'first')
  async decoratedFirst(): Promise<string> {
    if (++this.calls.decoratedFirst < 2) throw new Error('once');
    return 'accepted';
  }

  // ...and below them (applied first): route metadata survives either way
  @Post('last')
  @HttpCode(202)
  @Header('x-route', 'last')
  @Retry(quickRetry)
  async decoratedLast(): Promise<string> {
    if (++this.calls.decoratedLast < 2) throw new Error('once');
    return 'accepted';
  }
}

@Module({
  imports: [ResilienceModule.forRoot({ httpErrors: true })],
  controllers: [HandlersController],
  providers: [Calls],
})
class HandlersModule {}

describe.each(ADAPTERS)('decorated controller handlers (%s)', (adapter) => {
  const apps = useApps();

  // the router binds handlers before onModuleInit wraps them: each test checks that
  // requests still reach the protected version
  it('retries a handler until it succeeds', async () => {
    const app = await apps.start(adapter, HandlersModule);

    const res = await request(app.getHttpServer()).get('/handlers/retry').expect(200);

    expect(res.body).toEqual({ calls: 3 });
    expect(app.get(ResilienceRegistry).stats().retries['HandlersController.retried']).toMatchObject(
      {
        calls: 1,
        successWithRetry: 1,
        attempts: 3,
      },
    );
  });

  it('re-subscribes an Observable handler on retry', async () => {
    const app = await apps.start(adapter, HandlersModule);

    const res = await request(app.getHttpServer()).get('/handlers/stream').expect(200);

    expect(res.body).toEqual({ subscriptions: 3 });
  });

  it('opens a breaker on a handler and then rejects without running it', async () => {
    const app = await apps.start(adapter, HandlersModule);
    const http = app.getHttpServer();

    await request(http).get('/handlers/broken').expect(500);
    await request(http).get('/handlers/broken').expect(500);
    const rejected = await request(http).get('/handlers/broken').expect(503);

    expect(rejected.headers['retry-after']).toBe('60');
    expect(rejected.body).toMatchObject({ statusCode: 503, policy: 'handler-breaker' });
    expect(app.get(Calls).broken).toBe(2);
    expect(app.get(ResilienceRegistry).circuitBreaker('handler-breaker')?.state).toBe('open');
  });

  it('answers 504 when a handler times out and aborts its signal', async () => {
    const app = await apps.start(adapter, HandlersModule);

    const res = await request(app.getHttpServer()).get('/handlers/slow').expect(504);

    expect(res.body).toMatchObject({ statusCode: 504, policy: 'HandlersController.slow' });
    expect(app.get(Calls).slowAborted).toBe(true);
  });

  it.each(['first', 'last'])(
    'keeps HttpCode and Header of a handler with @Retry written %s',
    async (route) => {
      const app = await apps.start(adapter, HandlersModule);

      const res = await request(app.getHttpServer()).post(`/handlers/${route}`).expect(202);

      expect(res.headers['x-route']).toBe(route);
      expect(res.text).toBe('accepted');
    },
  );
});
