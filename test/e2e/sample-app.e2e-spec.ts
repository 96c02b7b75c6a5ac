import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  RESILIENCE_MODULE_OPTIONS,
  type ResilienceEvent,
  type ResilienceModuleOptions,
  type ResilienceStats,
} from '../../lib';
import { AppModule, resilienceOptions } from '../../sample/src/app.module';
import { DEFAULT_CONFIG, SampleConfig } from '../../sample/src/config';
import type { DownstreamState } from '../../sample/src/downstream/flaky-gateway';
import { FakeClock } from '../utils/fake-clock';
import { ADAPTERS, BootstrapOptions, useApps, waitFor } from './utils/bootstrap';

const GATEWAY = 'payments-gateway';
const charge = { customerId: 'c1', amount: 1250, currency: 'EUR' };

/**
 * Replaces the options the sample gives `ResilienceModule.forRoot()` with the same
 * options plus `clock`, so the module's time (timeouts, queue timeouts, rate-limit
 * windows) only moves when the test says so.
 */
function withModuleClock(config: SampleConfig, clock: FakeClock): BootstrapOptions {
  // httpErrors is read when the module is registered; the options provider never holds it
  const { httpErrors: _registration, ...options } = resilienceOptions(config);
  const value: ResilienceModuleOptions = { ...options, clock };
  return {
    override: (builder) => builder.overrideProvider(RESILIENCE_MODULE_OPTIONS).useValue(value),
  };
}

/**
 * Holds every `POST /charges` the sample's client sends to the gateway until `open()`,
 * so calls stay inside the bulkhead for as long as the test needs; other requests pass.
 * `restore()` opens the gate and puts the real fetch back.
 */
function holdCharges() {
  const realFetch = globalThis.fetch;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const spy = jest
    .spyOn(globalThis, 'fetch')
    .mockImplementation(async (input: string | URL | Request, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (init?.method === 'POST' && new URL(url).pathname === '/charges') await opened;
      return realFetch(input, init);
    });
  return {
    open: () => open(),
    restore: () => {
      open();
      spy.mockRestore();
    },
  };
}

describe.each(ADAPTERS)('sample app (%s)', (adapter) => {
  const apps = useApps();
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  /**
   * Boots the sample's AppModule, flaky gateway included, reliable unless told otherwise.
   * With `clock`, the resilience module runs on that clock instead of real time.
   */
  async function start(config: Partial<SampleConfig> = {}, clock?: FakeClock): Promise<void> {
    const full: SampleConfig = { ...DEFAULT_CONFIG, failureRate: 0, latencyMs: 0, ...config };
    app = await apps.start(
      adapter,
      AppModule.forRoot(full),
      clock ? withModuleClock(full, clock) : {},
    );
  }
  const stats = async (): Promise<ResilienceStats> =>
    (await http().get('/resilience/stats').expect(200)).body;
  const downstream = async (): Promise<DownstreamState> =>
    (await http().get('/downstream').expect(200)).body;
  const breakerState = async () => (await stats()).circuitBreakers[GATEWAY].state;

  it('serves payments through the protected client', async () => {
    await start();

    const created = await http()
      .post('/payments')
      .set('Idempotency-Key', 'order-1')
      .send(charge)
      .expect(201);
    expect(created.body).toMatchObject({
      ...charge,
      id: expect.stringMatching(/^ch_/),
      status: 'authorized',
    });
    const { id } = created.body as { id: string };

    const again = await http().post('/payments').set('Idempotency-Key', 'order-1').send(charge);
    expect(again.body).toMatchObject({ id });

    const status = await http().get(`/payments/${id}/status`).expect(200);
    expect(status.body).toEqual({ id, status: 'authorized', stale: false });

    const history = await http().get(`/payments/${id}/history`).expect(200);
    expect(history.body).toMatchObject([{ status: 'created' }, { status: 'authorized' }]);

    const rate = await http().get('/rates/eur').expect(200);
    expect(rate.body).toMatchObject({ currency: 'EUR', rate: 0.92, stale: false });

    await http().get('/payments/ch_unknown/status').expect(404);
    await http()
      .post('/payments')
      .send({ ...charge, amount: -1 })
      .expect(400);

    const { circuitBreakers, retries, bulkheads, rateLimiters, timeouts } = await stats();
    // the 404 reached the gateway but does not count against it
    expect(circuitBreakers[GATEWAY]).toMatchObject({
      state: 'closed',
      failedCalls: 0,
      successfulCalls: 5,
    });
    expect(retries['PaymentsClient.charge']).toMatchObject({ calls: 2, successWithoutRetry: 2 });
    expect(bulkheads['payments-per-customer']).toMatchObject({ accepted: 2, keys: 1 });
    expect(rateLimiters['payments-outbound']).toMatchObject({ permitted: 2, rejected: 0 });
    expect(timeouts['reference-data']).toMatchObject({ calls: 1, timeouts: 0 });
  });

  it('opens the gateway breaker when the downstream fails, then recovers', async () => {
    await start({ breakerResetTimeout: 1_000 });
    const { body: payment } = await http().post('/payments').send(charge).expect(201);

    const broken = await http().put('/downstream').send({ failureRate: 1 }).expect(200);
    expect(broken.body).toMatchObject({ failureRate: 1 });
    const before = (await downstream()).requests;

    // three attempts fail, the third opens the breaker; the last error is the gateway's
    await http().post('/payments').send(charge).expect(502);
    expect((await downstream()).requests - before).toBe(3);

    const rejected = await http().post('/payments').send(charge).expect(503);
    expect(rejected.headers['retry-after']).toBe('1');
    expect(rejected.body).toMatchObject({ statusCode: 503, policy: GATEWAY });
    expect((await downstream()).requests - before).toBe(3);

    expect((await stats()).circuitBreakers[GATEWAY]).toMatchObject({
      state: 'open',
      failedCalls: 3,
      rejectedCalls: 1,
      lastError: { name: 'BadGatewayException' },
    });
    const events: ResilienceEvent[] = (await http().get('/resilience/events?limit=50')).body;
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'state-change',
        name: GATEWAY,
        to: 'open',
        reason: 'failure-threshold',
      }),
    );

    // while the breaker is open, reads fall back to the last known status
    const stale = await http().get(`/payments/${payment.id}/status`).expect(200);
    expect(stale.body).toEqual({ id: payment.id, status: 'authorized', stale: true });

    await http().put('/downstream').send({ failureRate: 0 }).expect(200);
    await waitFor(async () => (await breakerState()) === 'half-open', {
      timeout: 3_000,
      what: 'the breaker to turn half-open',
    });
    await http().post('/payments').send(charge).expect(201);
    expect(await breakerState()).toBe('half-open'); // successThreshold is 2
    await http().post('/payments').send(charge).expect(201);
    expect(await breakerState()).toBe('closed');
  });

  it('records a charge that finally failed as a dead letter, customer masked', async () => {
    await start();
    await http().put('/downstream').send({ failureRate: 1 }).expect(200);
    await http().post('/payments').set('Idempotency-Key', 'order-9').send(charge).expect(502);

    const { body } = await http().get('/resilience/dead-letters?limit=10').expect(200);
    expect(body.letters).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        policy: GATEWAY,
        target: 'PaymentsClient.charge',
        args: [{ amount: 1250, currency: 'EUR', idempotencyKey: 'order-9', customerId: 'c***' }],
        error: {
          name: 'BadGatewayException',
          message: expect.stringMatching(/^The payment gateway answered 5\d\d$/),
          stack: expect.any(String),
        },
        attempts: 3,
        failedAt: expect.any(String),
      },
    ]);
    expect(Date.parse(body.letters[0].failedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(body.stats).toEqual({
      published: 1,
      failedToPublish: 0,
      buffered: 0,
      dropped: 0,
      serializeFailures: 0,
    });
  });

  it('replays the dead letters once the gateway is back, with the customer restored', async () => {
    await start();
    await http().put('/downstream').send({ failureRate: 1 }).expect(200);
    await http().post('/payments').set('Idempotency-Key', 'order-21').send(charge).expect(502);

    // the three failed attempts opened the breaker: the replay is refused at once, the
    // letter stays and no second letter is written
    const again = await http().post('/resilience/dead-letters/replay').expect(200);
    expect(again.body).toMatchObject({
      replayed: 0,
      failed: { target: 'PaymentsClient.charge', error: { name: 'CircuitOpenError' } },
      stats: { published: 1 },
    });
    expect((await http().get('/resilience/dead-letters').expect(200)).body.letters).toHaveLength(1);

    await http().post(`/resilience/breakers/${GATEWAY}/close`).expect(200);
    await http().put('/downstream').send({ failureRate: 0 }).expect(200);
    const before = (await downstream()).requests;
    const { body } = await http().post('/resilience/dead-letters/replay').expect(200);
    expect(body).toMatchObject({ replayed: 1, stats: { published: 1 } });
    expect(body.failed).toBeUndefined();
    expect((await downstream()).requests - before).toBe(1);
    expect((await http().get('/resilience/dead-letters').expect(200)).body.letters).toEqual([]);
    // the gateway stored the replayed charge with the real customer: the same key finds it
    const stored = await http().post('/payments').set('Idempotency-Key', 'order-21').send(charge);
    expect(stored.status).toBe(201);
    expect(stored.body).toMatchObject({ customerId: 'c1', amount: 1250 });
  });

  it('opens and closes the breaker by hand', async () => {
    await start({ breakerResetTimeout: 60_000 });

    const opened = await http().post(`/resilience/breakers/${GATEWAY}/open`).expect(200);
    expect(opened.body).toEqual({ name: GATEWAY, state: 'open' });
    const rejected = await http().post('/payments').send(charge).expect(503);
    expect(rejected.headers['retry-after']).toBe('60');
    expect((await downstream()).requests).toBe(0);

    const closed = await http().post(`/resilience/breakers/${GATEWAY}/close`).expect(200);
    expect(closed.body).toEqual({ name: GATEWAY, state: 'closed' });
    await http().post('/payments').send(charge).expect(201);

    await http().post('/resilience/breakers/no-such-breaker/open').expect(404);
  });

  it('times out slow gateway calls, aborts them and falls back to the cached rate', async () => {
    await start();
    await http().get('/rates/EUR').expect(200);
    await http().put('/downstream').send({ latencyMs: 5_000 }).expect(200);

    const [cached, uncached] = await Promise.all([
      http().get('/rates/EUR'),
      http().get('/rates/GBP'),
    ]);

    expect(cached.status).toBe(200);
    expect(cached.body).toMatchObject({ currency: 'EUR', rate: 0.92, stale: true });
    expect(uncached.status).toBe(504); // no cached GBP rate: the TimeoutError reaches the filter
    expect(uncached.body).toMatchObject({ statusCode: 504, policy: 'reference-data' });
    // two attempts each (policy set: maxAttempts 2, timeout 500ms)
    expect((await stats()).timeouts['reference-data']).toMatchObject({ calls: 5, timeouts: 4 });
    // currentSignal() reached fetch: the gateway saw each timed-out request go away
    await waitFor(async () => (await downstream()).aborted === 4, {
      what: 'the gateway to see 4 aborted requests',
    });
  });

  it('isolates customers with the keyed bulkhead', async () => {
    // The module's clock stands still, so no @Timeout or queue timeout can fire while the
    // charges are held; the held fetch keeps the bulkhead's slots taken until released.
    const clock = new FakeClock();
    await start({}, clock);
    const gateway = holdCharges();
    const pay = (customerId: string) =>
      http()
        .post('/payments')
        .send({ ...charge, customerId });

    try {
      // 2 run and 2 wait per customer: a fifth concurrent charge of one customer is turned away
      const calm = pay('calm').then((res) => res);
      const admitted = [1, 2, 3, 4].map(() => pay('busy').then((res) => res));
      await waitFor(
        async () => {
          const bulkhead = (await stats()).bulkheads['payments-per-customer'];
          // calm's one charge and busy's first two run; busy's next two wait
          return bulkhead?.active === 3 && bulkhead.queued === 2;
        },
        { what: 'the keyed bulkhead to hold 3 running and 2 queued charges' },
      );
      const turnedAway = await pay('busy');
      expect(turnedAway.status).toBe(429);

      gateway.open();
      const busy = [...(await Promise.all(admitted)), turnedAway];

      expect(busy.map((res) => res.status).sort()).toEqual([201, 201, 201, 201, 429]);
      expect((await calm).status).toBe(201);
    } finally {
      gateway.restore(); // never leave a charge held, or closing the app would wait for it
    }
    const { bulkheads, circuitBreakers } = await stats();
    expect(bulkheads['payments-per-customer']).toMatchObject({
      active: 0,
      queued: 0,
      accepted: 5,
      rejected: 1,
      keys: 2,
    });
    // one customer's burst is not the gateway's fault
    expect(circuitBreakers[GATEWAY]).toMatchObject({ state: 'closed', failedCalls: 0 });
    // the module ran on the test's clock: the rejection is stamped with its time
    const events: ResilienceEvent[] = (await http().get('/resilience/events?limit=50')).body;
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'bulkhead-rejected',
        name: 'payments-per-customer',
        reason: 'full',
        key: 'busy',
        at: clock.now(),
      }),
    );
  });

  it('validates the downstream settings', async () => {
    await start();

    await http().put('/downstream').send({ failureRate: 2 }).expect(400);
    await http().put('/downstream').send({ colour: 'red' }).expect(400);
    await http().put('/downstream').send({ latencyMs: 25 }).expect(200);
    expect(await downstream()).toMatchObject({ failureRate: 0, latencyMs: 25 });
  });

  it('stops the downstream gateway on shutdown', async () => {
    await start();
    const { url } = await downstream();
    expect((await fetch(`${url}/rates/EUR`)).status).toBe(200);

    await apps.close(app);

    await expect(fetch(`${url}/rates/EUR`)).rejects.toThrow();
  });
});
