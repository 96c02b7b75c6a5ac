import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { RESILIENCE_MODULE_OPTIONS, type ResilienceModuleOptions } from '../../lib';
import { AppModule, resilienceOptions } from '../../sample/src/app.module';
import { DEFAULT_CONFIG, SampleConfig } from '../../sample/src/config';
import { FakeClock } from '../utils/fake-clock';
import { ADAPTERS, useApps } from './utils/bootstrap';

const GATEWAY = 'payments-gateway';

describe.each(ADAPTERS)('sample health probes (%s)', (adapter) => {
  const apps = useApps();
  let app: INestApplication;
  let clock: FakeClock;
  const config: SampleConfig = { ...DEFAULT_CONFIG, failureRate: 0, latencyMs: 0 };
  const http = () => request(app.getHttpServer());

  beforeEach(async () => {
    clock = new FakeClock();
    // the sample's own module options, on a clock the test moves
    const { httpErrors: _registration, ...options } = resilienceOptions(config);
    const value: ResilienceModuleOptions = { ...options, clock };
    app = await apps.start(adapter, AppModule.forRoot(config), {
      override: (builder) => builder.overrideProvider(RESILIENCE_MODULE_OPTIONS).useValue(value),
    });
  });

  const openBreaker = () => http().post(`/resilience/breakers/${GATEWAY}/open`).expect(200);

  it('answers 200 on all three probes while the gateway breaker is closed', async () => {
    const live = await http().get('/health/live').expect(200);
    expect(live.body.details.process.status).toBe('up');

    const ready = await http().get('/health/ready').expect(200);
    expect(ready.body.details.payments).toMatchObject({
      status: 'up',
      circuitBreakers: { [GATEWAY]: { state: 'closed', retryAfter: null } },
    });

    const all = await http().get('/health').expect(200);
    expect(all.body.details.resilience).toMatchObject({
      status: 'up',
      health: 'up',
      circuitBreakers: { [GATEWAY]: { state: 'closed' } },
      bulkheads: { 'payments-per-customer': { maxQueue: 2, underPressure: false } },
    });
  });

  it('takes the instance out of rotation while the gateway breaker is open, but stays live', async () => {
    await openBreaker();

    const ready = await http().get('/health/ready').expect(503);
    expect(ready.body.status).toBe('error');
    expect(ready.body.error.payments).toMatchObject({
      status: 'down',
      open: [GATEWAY],
      circuitBreakers: {
        [GATEWAY]: { state: 'open', retryAfter: config.breakerResetTimeout },
      },
    });
    await http().get('/health').expect(503);
    await http().get('/health/live').expect(200);

    await http().post(`/resilience/breakers/${GATEWAY}/close`).expect(200);
    await http().get('/health/ready').expect(200);
  });

  it('is ready again once the breaker is half-open, listing it (Terminus 11)', async () => {
    await openBreaker();
    await clock.advance(config.breakerResetTimeout);

    const ready = await http().get('/health/ready').expect(200);
    expect(ready.body.details.payments).toMatchObject({
      status: 'up',
      health: 'degraded',
      halfOpen: [GATEWAY],
    });
  });
});
