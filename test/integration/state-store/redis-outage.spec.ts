import Redis from 'ioredis';
import { ResilienceEvent, ResilienceModule, ResilienceRegistry } from '../../../lib';
import { RedisCircuitStateStore } from '../../../lib/redis';
import { useTestApps, waitFor } from '../../fixtures/testing-app';
import { describeWithService, freePort, REDIS, ThrowawayRedis } from '../../utils/services';

const fails = () => Promise.reject(new Error('upstream down'));
const succeeds = () => Promise.resolve('ok');

// A throwaway redis-server is started and killed here; the shared Redis only tells us that
// the redis-server binary is around.
describeWithService(REDIS, 'RedisCircuitStateStore when Redis goes away', () => {
  const apps = useTestApps();
  let server: ThrowawayRedis;

  beforeEach(async () => {
    server = new ThrowawayRedis(await freePort());
    await server.start();
  });
  afterEach(async () => {
    await apps.closeAll();
    await server.kill();
  });

  async function instance(policies: Record<string, object>) {
    const store = new RedisCircuitStateStore({
      connection: server.url,
      prefix: 'outage:',
      syncInterval: 20,
      commandTimeout: 100,
    });
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ stateStore: store, policies })],
    });
    const registry = app.get(ResilienceRegistry);
    const events: ResilienceEvent[] = [];
    registry.events$.subscribe((event) => events.push(event));
    const of = (type: ResilienceEvent['type']) => events.filter((e) => e.type === type);
    return { app, registry, events, of };
  }

  it('calls flow on local state while Redis is down, and the instances resynchronise when it returns', async () => {
    const policies = { orders: { circuitBreaker: { failureThreshold: 3, resetTimeout: 60_000 } } };
    const a = await instance(policies);
    const b = await instance(policies);
    const orders = a.registry.policy('orders')!;
    b.registry.policy('orders');

    await server.kill();
    await waitFor(() => a.of('store-unavailable').length === 1, 1_000);
    expect(a.of('store-unavailable')[0]).toMatchObject({ name: 'redis' });

    // the success path never waits for Redis; failures open the breaker locally
    const started = performance.now();
    await expect(orders.execute(succeeds)).resolves.toBe('ok');
    for (let i = 0; i < 3; i++)
      await expect(orders.execute(fails)).rejects.toThrow('upstream down');
    expect(performance.now() - started).toBeLessThan(100);
    expect(a.registry.circuitBreaker('orders')!.state).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 100)); // a few batch ticks
    expect(a.of('store-unavailable')).toHaveLength(1); // one event per outage

    await server.start();
    await waitFor(
      () => a.of('store-available').length === 1 && b.of('store-available').length === 1,
      5_000,
    );
    // the state A took during the outage is now the shared one
    await waitFor(() => b.registry.circuitBreaker('orders')!.state === 'open', 1_000);
    const admin = new Redis(server.url);
    try {
      expect(await admin.hget('outage:{orders}', 'state')).toBe('open');
    } finally {
      admin.disconnect();
    }
  });

  it('an instance whose pub/sub connection dropped catches up on the changes it missed', async () => {
    const policies = { stock: { circuitBreaker: { resetTimeout: 60_000 } } };
    const a = await instance(policies);
    const b = await instance(policies);
    const ba = a.registry.circuitBreaker('stock')!;
    const bb = b.registry.circuitBreaker('stock')!;
    const admin = new Redis(server.url);
    try {
      await admin.client('KILL', 'TYPE', 'pubsub');
      ba.open(); // published while nobody listens
      await waitFor(() => bb.state === 'open', 1_000);
      expect(b.of('store-unavailable')).toHaveLength(0); // commands never stopped
    } finally {
      admin.disconnect();
    }
  });

  it('a Redis that stops answering does not hold a half-open trial longer than commandTimeout', async () => {
    const policies = { slow: { circuitBreaker: { resetTimeout: 100, successThreshold: 1 } } };
    const a = await instance(policies);
    const breaker = a.registry.circuitBreaker('slow')!;
    breaker.open();
    await waitFor(() => breaker.state === 'half-open', 1_000);

    const blocker = new Redis(server.url);
    try {
      void blocker.call('DEBUG', 'SLEEP', '0.6').catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const started = performance.now();
      await expect(a.registry.policy('slow')!.execute(succeeds)).resolves.toBe('ok');
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(90);
      expect(waited).toBeLessThan(300);
      expect(breaker.state).toBe('closed'); // decided locally
      expect(a.of('store-unavailable')).toHaveLength(1);
      await waitFor(() => a.of('store-available').length === 1, 3_000);
    } finally {
      blocker.disconnect();
    }
  });
});
