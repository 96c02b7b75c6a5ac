import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import type { ResilienceStats } from '../../lib';
import { AppModule } from '../../sample/src/app.module';
import { DEFAULT_CONFIG, type DeadLetterBackend } from '../../sample/src/config';
import { describeWithService, NATS, RABBITMQ, REDIS, type ServiceSpec } from '../utils/services';
import { useApps, waitFor } from './utils/bootstrap';

const BACKENDS: Array<[Exclude<DeadLetterBackend, 'memory'>, ServiceSpec]> = [
  ['redis', REDIS],
  ['rabbitmq', RABBITMQ],
  ['nats', NATS],
];

for (const [backend, service] of BACKENDS) {
  describeWithService(service, `sample app with DEAD_LETTER_QUEUE=${backend}`, () => {
    const apps = useApps();
    let app: INestApplication;
    const http = () => request(app.getHttpServer());
    const stats = async (): Promise<ResilienceStats> =>
      (await http().get('/resilience/stats').expect(200)).body;

    it('sends the failed charge to the broker and replays it from there', async () => {
      app = await apps.start(
        'express',
        AppModule.forRoot({
          ...DEFAULT_CONFIG,
          failureRate: 1,
          latencyMs: 0,
          deadLetterQueue: backend,
        }),
      );
      // letters an earlier run left behind go first
      await http().put('/downstream').send({ failureRate: 0 }).expect(200);
      await http().post('/resilience/dead-letters/replay').expect(200);
      await http().put('/downstream').send({ failureRate: 1 }).expect(200);

      const key = `e2e-${backend}-${Date.now()}`;
      await http()
        .post('/payments')
        .set('Idempotency-Key', key)
        .send({ customerId: 'c7', amount: 990, currency: 'EUR' })
        .expect(502);
      await waitFor(async () => (await stats()).deadLetters.published === 1, {
        timeout: 5_000,
        what: 'the letter to reach the broker',
      });
      expect((await stats()).deadLetters).toMatchObject({ buffered: 0, failedToPublish: 0 });

      await http().put('/downstream').send({ failureRate: 0 }).expect(200);
      await http().post('/resilience/breakers/payments-gateway/close').expect(200);
      const { body } = await http().post('/resilience/dead-letters/replay').expect(200);
      expect(body).toMatchObject({ replayed: 1 });
      expect(body.failed).toBeUndefined();
      // the gateway holds the replayed charge, with the customer restored
      const stored = await http()
        .post('/payments')
        .set('Idempotency-Key', key)
        .send({ customerId: 'c7', amount: 990, currency: 'EUR' })
        .expect(201);
      expect(stored.body).toMatchObject({ customerId: 'c7', amount: 990 });
      // nothing left to replay
      const again = await http().post('/resilience/dead-letters/replay').expect(200);
      expect(again.body).toMatchObject({ replayed: 0 });
    });
  });
}
