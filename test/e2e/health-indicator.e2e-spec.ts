import { Controller, Get, INestApplication, Injectable, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import {
  Bulkhead,
  CircuitBreaker,
  ResilienceHealthIndicator,
  ResilienceModule,
  ResilienceRegistry,
} from '../../lib';
import { deferred } from '../utils/promises';
import { FakeClock } from '../utils/fake-clock';
import { ADAPTERS, useApps } from './utils/bootstrap';

const RESET = 30_000;

@Injectable()
class Upstreams {
  readonly gate = deferred<void>();

  @CircuitBreaker('billing', { failureThreshold: 1, resetTimeout: RESET })
  async bill(): Promise<string> {
    throw new Error('billing is down');
  }

  @CircuitBreaker('search', { failureThreshold: 1, resetTimeout: RESET })
  async search(): Promise<string> {
    return 'found';
  }

  @Bulkhead('reports', { maxConcurrent: 1, maxQueue: 2, warningThreshold: 0.5 })
  async report(): Promise<void> {
    await this.gate.promise;
  }
}

/** What a Nest app with Terminus writes: HealthCheckService over our indicator. */
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly resilience: ResilienceHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.resilience.isHealthy()]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.resilience.isHealthy('billing', { circuitBreakers: ['billing'] }),
    ]);
  }
}

function appModule(clock: FakeClock) {
  @Module({
    imports: [ResilienceModule.forRoot({ clock }), TerminusModule.forRoot({ logger: false })],
    controllers: [HealthController],
    providers: [Upstreams],
  })
  class HealthAppModule {}
  return HealthAppModule;
}

describe.each(ADAPTERS)('ResilienceHealthIndicator with Terminus 11 (%s)', (adapter) => {
  const apps = useApps();
  let app: INestApplication;
  let clock: FakeClock;
  let upstreams: Upstreams;
  const breaker = (name: string) => app.get(ResilienceRegistry).circuitBreaker(name)!;
  const http = () => request(app.getHttpServer());

  beforeEach(async () => {
    clock = new FakeClock();
    app = await apps.start(adapter, appModule(clock));
    upstreams = app.get(Upstreams);
  });

  it('answers 200 up while every breaker is closed', async () => {
    const { body } = await http().get('/health').expect(200);
    expect(body.status).toBe('ok');
    expect(body.info.resilience).toMatchObject({
      status: 'up',
      health: 'up',
      circuitBreakers: {
        billing: { state: 'closed', failureRate: 0, retryAfter: null },
        search: { state: 'closed', failureRate: 0, retryAfter: null },
      },
    });
  });

  it('answers 503 with the details while a breaker is open', async () => {
    await expect(upstreams.bill()).rejects.toThrow('billing is down');
    await clock.advance(1_000);

    const { body } = await http().get('/health').expect(503);
    expect(body.status).toBe('error');
    expect(body.error.resilience).toMatchObject({
      status: 'down',
      health: 'down',
      open: ['billing'],
      circuitBreakers: {
        billing: { state: 'open', failureRate: 100, retryAfter: RESET - 1_000 },
        search: { state: 'closed' },
      },
    });
    expect(body.details.resilience.status).toBe('down');
  });

  it('answers 200 with the half-open breaker listed (Terminus 11 has no degraded status)', async () => {
    breaker('billing').open();
    await clock.advance(RESET);

    const { body } = await http().get('/health').expect(200);
    expect(body.status).toBe('ok');
    expect(body.info.resilience).toMatchObject({
      status: 'up',
      health: 'degraded',
      halfOpen: ['billing'],
      circuitBreakers: { billing: { state: 'half-open', retryAfter: null } },
    });
  });

  it('answers 200 again once the breaker closes', async () => {
    breaker('billing').open();
    await http().get('/health').expect(503);
    breaker('billing').close();
    const { body } = await http().get('/health').expect(200);
    expect(body.info.resilience.health).toBe('up');
  });

  it('lists a bulkhead under pressure as degraded', async () => {
    // queued: 1 of 2 = warningThreshold 0.5
    const calls = [upstreams.report(), upstreams.report()];
    try {
      await clock.advance(0);
      const { body } = await http().get('/health').expect(200);
      expect(body.info.resilience).toMatchObject({
        status: 'up',
        health: 'degraded',
        underPressure: ['reports'],
        bulkheads: { reports: { active: 1, queued: 1, queueFill: 0.5, underPressure: true } },
      });
    } finally {
      upstreams.gate.resolve(); // or app.close() would wait for the calls
      await Promise.all(calls);
    }
    const { body } = await http().get('/health').expect(200);
    expect(body.info.resilience.underPressure).toEqual([]);
  });

  it('a readiness check watching one breaker ignores the others', async () => {
    breaker('search').open();
    const ready = await http().get('/health/ready').expect(200);
    expect(Object.keys(ready.body.details.billing.circuitBreakers)).toEqual(['billing']);

    breaker('billing').open();
    await http().get('/health/ready').expect(503);
  });
});
