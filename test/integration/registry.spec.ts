import { Injectable } from '@nestjs/common';
import {
  Bulkhead,
  BulkheadRejectedError,
  CircuitBreaker,
  CircuitOpenError,
  RateLimit,
  ResilienceEvent,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  Timeout,
  TimeoutError,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import { deferred, settle, useTestApps } from '../fixtures/testing-app';

@Injectable()
class RegistryFixture {
  calls = 0;
  fail = true;
  readonly gate = deferred<string>();

  @CircuitBreaker({ failureThreshold: 2, resetTimeout: 1000, successThreshold: 1 })
  async guarded(): Promise<string> {
    this.calls++;
    if (this.fail) throw new UpstreamError(`guarded failure #${this.calls}`);
    return 'guarded ok';
  }

  @Retry({ maxAttempts: 3, backoff: { type: 'exponential', initialDelay: 10, jitter: 'none' } })
  async retried(): Promise<never> {
    this.calls++;
    throw new UpstreamError(`retried failure #${this.calls}`);
  }

  @Timeout(20)
  async slow(): Promise<string> {
    return this.gate.promise;
  }

  @Bulkhead({ maxConcurrent: 1 })
  async narrow(): Promise<string> {
    return this.gate.promise;
  }

  @RateLimit({ limit: 1, interval: 1000 })
  async limited(): Promise<string> {
    return 'permitted';
  }
}

const G = 'RegistryFixture.guarded';

describe('ResilienceRegistry', () => {
  const apps = useTestApps();
  const setup = async (clock = new FakeClock()) => {
    const app = await apps.start({
      // a short shutdownTimeout: a test failing before it releases the gate must not stall close()
      imports: [ResilienceModule.forRoot({ shutdownTimeout: 200, clock })],
      providers: [RegistryFixture],
    });
    const registry = app.get(ResilienceRegistry);
    const events: ResilienceEvent[] = [];
    const recording = registry.events$.subscribe((e) => events.push(e));
    return { clock, registry, events, recording, service: app.get(RegistryFixture) };
  };

  describe('handles', () => {
    it('exist for every decorated method from bootstrap on, and only for them', async () => {
      const { registry } = await setup();
      expect(registry.circuitBreaker(G)).toBeDefined();
      expect(registry.retry('RegistryFixture.retried')).toBeDefined();
      expect(registry.timeout('RegistryFixture.slow')).toBeDefined();
      expect(registry.bulkhead('RegistryFixture.narrow')).toBeDefined();
      expect(registry.rateLimiter('RegistryFixture.limited')).toBeDefined();

      expect(registry.circuitBreaker('nope')).toBeUndefined();
      expect(registry.retry(G)).toBeUndefined(); // a breaker, not a retry
      expect(registry.bulkhead('RegistryFixture.slow')).toBeUndefined();
    });

    it('open() forces the breaker open and close() resets it, for the decorated method too', async () => {
      const { registry, service, events, clock } = await setup();
      const breaker = registry.circuitBreaker(G)!;
      expect(breaker.state).toBe('closed');

      breaker.open();
      expect(breaker.state).toBe('open');
      service.fail = false;
      await expect(service.guarded()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(service.calls).toBe(0);

      breaker.close();
      expect(breaker.state).toBe('closed');
      await expect(service.guarded()).resolves.toBe('guarded ok');
      expect(events.filter((e) => e.type === 'state-change')).toEqual([
        {
          type: 'state-change',
          name: G,
          from: 'closed',
          to: 'open',
          reason: 'manual',
          at: clock.now(),
        },
        {
          type: 'state-change',
          name: G,
          from: 'open',
          to: 'closed',
          reason: 'manual',
          at: clock.now(),
        },
      ]);
    });

    it('execute(fn) runs through the same breaker as the method', async () => {
      const { registry, service } = await setup();
      const breaker = registry.circuitBreaker(G)!;
      await expect(
        breaker.execute(async () => Promise.reject(new Error('direct'))),
      ).rejects.toThrow('direct');
      await expect(service.guarded()).rejects.toThrow('guarded failure #1'); // second failure: opens
      expect(breaker.state).toBe('open');
      const fn = jest.fn(async () => 'x');
      await expect(breaker.execute(fn)).rejects.toBeInstanceOf(CircuitOpenError);
      expect(fn).not.toHaveBeenCalled();
      expect(registry.stats().circuitBreakers[G]).toMatchObject({
        failedCalls: 2,
        rejectedCalls: 1,
        totalCalls: 3,
      });
    });
  });

  describe('stats()', () => {
    it('is plain JSON', async () => {
      const { registry, service, clock } = await setup();
      await expect(service.guarded()).rejects.toThrow();
      service.fail = false;
      await expect(service.guarded()).resolves.toBe('guarded ok');
      const retried = settle(service.retried());
      await clock.advance(100);
      expect(retried.error).toBeInstanceOf(UpstreamError);
      await service.limited();
      await expect(service.limited()).rejects.toThrow();

      const stats = registry.stats();
      expect(JSON.parse(JSON.stringify(stats))).toStrictEqual(stats);
      expect(Object.keys(stats).sort()).toEqual([
        'bulkheads',
        'chaos',
        'circuitBreakers',
        'deadLetters',
        'fallbacks',
        'rateLimiters',
        'retries',
        'slo',
        'timeouts',
      ]);
    });

    it('gives the breaker figures of API §4', async () => {
      const { registry, service, clock } = await setup();
      const createdAt = clock.now();
      await clock.advance(5);
      await expect(service.guarded()).rejects.toThrow('guarded failure #1');
      service.fail = false;
      await service.guarded();
      service.fail = true;
      await expect(service.guarded()).rejects.toThrow('guarded failure #3');

      expect(registry.stats().circuitBreakers[G]).toEqual({
        state: 'closed',
        failureCount: 1,
        successCount: 0,
        totalCalls: 3,
        successfulCalls: 1,
        failedCalls: 2,
        rejectedCalls: 0,
        slowCalls: 0,
        failureRate: (2 / 3) * 100,
        slowCallRate: 0,
        stateChangedAt: createdAt,
        lastError: { name: 'UpstreamError', message: 'guarded failure #3' },
      });

      await expect(service.guarded()).rejects.toThrow(); // opens
      await expect(service.guarded()).rejects.toBeInstanceOf(CircuitOpenError);
      const open = registry.stats().circuitBreakers[G];
      expect(open).toMatchObject({ state: 'open', stateChangedAt: clock.now(), rejectedCalls: 1 });
      expect(open.totalCalls).toBe(open.successfulCalls + open.failedCalls + open.rejectedCalls);
    });

    it('gives retry, timeout, bulkhead and rate limiter figures', async () => {
      const { registry, service, clock } = await setup();
      const retried = settle(service.retried());
      await clock.advance(100);
      expect(retried.settled).toBe(true);
      const first = service.narrow();
      await expect(service.narrow()).rejects.toBeInstanceOf(BulkheadRejectedError);
      await service.limited();
      await expect(service.limited()).rejects.toThrow();

      const stats = registry.stats();
      expect(stats.retries['RegistryFixture.retried']).toEqual({
        calls: 1,
        successWithoutRetry: 0,
        successWithRetry: 0,
        failedWithRetry: 1,
        failedWithoutRetry: 0,
        attempts: 3,
      });
      expect(stats.timeouts['RegistryFixture.slow']).toEqual({ calls: 0, timeouts: 0 });
      expect(stats.bulkheads['RegistryFixture.narrow']).toMatchObject({
        active: 1,
        queued: 0,
        maxConcurrent: 1,
        maxQueue: 0,
        accepted: 1,
        rejected: 1,
        queueTimeouts: 0,
      });
      expect(stats.rateLimiters['RegistryFixture.limited']).toEqual({ permitted: 1, rejected: 1 });

      service.gate.resolve('done');
      await expect(first).resolves.toBe('done');
      expect(registry.stats().bulkheads['RegistryFixture.narrow']).toMatchObject({ active: 0 });
    });
  });

  describe('events$', () => {
    it("emits 'state-change' and 'call-rejected' with the fields of API §4", async () => {
      const { service, events, clock } = await setup();
      await expect(service.guarded()).rejects.toThrow();
      await clock.advance(7);
      await expect(service.guarded()).rejects.toThrow();
      const openedAt = clock.now();
      await clock.advance(100);
      await expect(service.guarded()).rejects.toBeInstanceOf(CircuitOpenError);
      await clock.advance(900);

      expect(events).toEqual([
        {
          type: 'state-change',
          name: G,
          from: 'closed',
          to: 'open',
          reason: 'failure-threshold',
          at: openedAt,
        },
        { type: 'call-rejected', name: G, state: 'open', retryAfter: 900, at: openedAt + 100 },
        {
          type: 'state-change',
          name: G,
          from: 'open',
          to: 'half-open',
          reason: 'reset-timeout',
          at: openedAt + 1000,
        },
      ]);
    });

    it("emits 'retry' with the 1-based attempt, the delay and the error", async () => {
      const { service, events, clock } = await setup();
      const start = clock.now();
      const outcome = settle(service.retried());
      await clock.advance(100);
      expect(outcome.settled).toBe(true);

      const retries = events.filter((e) => e.type === 'retry');
      expect(retries).toEqual([
        {
          type: 'retry',
          name: 'RegistryFixture.retried',
          attempt: 1,
          delay: 10,
          error: expect.objectContaining({ message: 'retried failure #1' }),
          at: start,
        },
        {
          type: 'retry',
          name: 'RegistryFixture.retried',
          attempt: 2,
          delay: 20,
          error: expect.objectContaining({ message: 'retried failure #2' }),
          at: start + 10,
        },
      ]);
    });

    it("emits 'bulkhead-rejected' with the reason", async () => {
      const { service, events, clock } = await setup();
      const first = service.narrow();
      await expect(service.narrow()).rejects.toBeInstanceOf(BulkheadRejectedError);
      expect(events).toEqual([
        {
          type: 'bulkhead-rejected',
          name: 'RegistryFixture.narrow',
          reason: 'full',
          at: clock.now(),
        },
      ]);
      service.gate.resolve('done');
      await first;
    });

    it("emits 'timeout' when the timeout fires, and not a millisecond before", async () => {
      const { service, events, clock } = await setup();
      const start = clock.now();
      const call = settle(service.slow(), clock);

      await clock.advance(19);
      expect(call.settled).toBe(false);
      expect(events).toEqual([]);

      await clock.advance(1);
      expect(call.error).toBeInstanceOf(TimeoutError);
      expect(call.at).toBe(start + 20);
      expect(events).toEqual([
        { type: 'timeout', name: 'RegistryFixture.slow', timeout: 20, at: start + 20 },
      ]);
      service.gate.resolve('late');
    });

    it('reaches subscribers that come, leave and come back, and no one after they left', async () => {
      const { registry, service, recording, clock } = await setup();
      recording.unsubscribe(); // nobody listens now
      const unheard = service.retried();
      await clock.advance(100);
      await expect(unheard).rejects.toThrow(UpstreamError);
      const later: ResilienceEvent[] = [];
      const subscription = registry.events$.subscribe((e) => later.push(e));
      await expect(service.guarded()).rejects.toThrow(UpstreamError);
      await expect(service.guarded()).rejects.toThrow(UpstreamError); // opens
      expect(later.map((e) => e.type)).toEqual(['state-change']);
      subscription.unsubscribe();
      await expect(service.guarded()).rejects.toThrow(CircuitOpenError);
      expect(later).toHaveLength(1);

      const again: ResilienceEvent[] = [];
      registry.events$.subscribe((e) => again.push(e));
      await clock.advance(1000);
      expect(again.map((e) => e.type)).toEqual(['state-change']);
    });

    it('completes when the application closes', async () => {
      const { registry } = await setup();
      const complete = jest.fn();
      registry.events$.subscribe({ complete });
      await apps.closeAll();
      expect(complete).toHaveBeenCalledTimes(1);
    });
  });
});
