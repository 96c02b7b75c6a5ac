import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppModule } from '../../sample/src/app.module';
import { DEFAULT_CONFIG } from '../../sample/src/config';
import { ADAPTERS, useApps } from './utils/bootstrap';

describe.each(ADAPTERS)('sample chaos demo (%s)', (adapter) => {
  const apps = useApps();
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const start = async (chaos: boolean) => {
    app = await apps.start(
      adapter,
      AppModule.forRoot({ ...DEFAULT_CONFIG, failureRate: 0, latencyMs: 0, chaos }),
    );
  };

  it('without CHAOS the demo methods answer for real and nothing can be switched', async () => {
    await start(false);
    for (const scenario of ['retry', 'breaker', 'timeout', 'fallback']) {
      await http().get(`/chaos-demo/${scenario}`).expect(200, { scenario, source: 'real' });
    }
    await http().get('/chaos-demo').expect(200, {});
    await http().put('/chaos-demo/chaos-demo.breaker').send({ enabled: false }).expect(404);
  });

  it('with CHAOS each policy handles the injected fault', async () => {
    await start(true);
    await http()
      .get('/chaos-demo/fallback')
      .expect(200, { scenario: 'fallback', source: 'fallback' });
    for (let i = 0; i < 3; i++) await http().get('/chaos-demo/breaker').expect(503);
    const open = await http().get('/chaos-demo/breaker').expect(503);
    expect(open.headers['retry-after']).toBe('5');
    const started = Date.now();
    await http().get('/chaos-demo/timeout').expect(504);
    expect(Date.now() - started).toBeLessThan(900); // the 200ms timeout, not the 1s delay
    const { body } = await http().get('/chaos-demo').expect(200);
    expect(body['chaos-demo.breaker']).toMatchObject({ calls: 3, faults: 3 });
    expect(body['chaos-demo.timeout']).toMatchObject({ delayed: 1 });
  });

  it('switches a chaos policy at run time', async () => {
    await start(true);
    await http()
      .put('/chaos-demo/chaos-demo.fallback')
      .send({ enabled: false })
      .expect(200)
      .expect((res) => expect(res.body).toMatchObject({ enabled: false }));
    await http().get('/chaos-demo/fallback').expect(200, { scenario: 'fallback', source: 'real' });
    await http().put('/chaos-demo/chaos-demo.fallback').send({ rate: 2 }).expect(400);
  });
});
