import { Module, Provider } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  ResilienceConfigError,
  ResilienceExceptionFilter,
  ResilienceModule,
  ResilienceRegistry,
  RetryEvent,
  TimeoutError,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import {
  BareBreakerClient,
  ConfigModule,
  DefaultsService,
  FeatureModule,
  FeatureService,
  PlainFeatureModule,
  PlainFeatureService,
  POLICY_SETS,
  RESILIENCE_CONFIG,
  ResilienceConfigModule,
  ResilienceConfigService,
  PolicySetService,
} from '../fixtures/module-options.fixtures';
import { deferred, rejectionOf, settle, useTestApps } from '../fixtures/testing-app';

describe('module options', () => {
  const apps = useTestApps();

  describe('defaults', () => {
    const setup = async () => {
      const clock = new FakeClock();
      const app = await apps.start({
        imports: [
          ResilienceModule.forRoot({
            clock,
            defaults: {
              retry: {
                maxAttempts: 4,
                backoff: { type: 'fixed', initialDelay: 25, jitter: 'none' },
              },
              circuitBreaker: { failureThreshold: 1, resetTimeout: 5000 },
              bulkhead: { maxConcurrent: 2 },
              timeout: { timeout: 250 },
              rateLimiter: { interval: 60_000 },
            },
          }),
        ],
        providers: [DefaultsService],
      });
      const registry = app.get(ResilienceRegistry);
      const retries: RetryEvent[] = [];
      registry.events$.subscribe((e) => e.type === 'retry' && retries.push(e));
      /** Runs a failing method to its end and returns the delays it waited. */
      const delaysOf = async (call: () => Promise<unknown>) => {
        retries.length = 0;
        const outcome = settle(call());
        await clock.advance(1000);
        expect(outcome.error).toBeInstanceOf(UpstreamError);
        return retries.map((e) => e.delay);
      };
      return { clock, registry, service: app.get(DefaultsService), delaysOf };
    };

    it('apply under a policy without options', async () => {
      const { service, delaysOf } = await setup();
      expect(await delaysOf(() => service.retried())).toEqual([25, 25, 25]);
      expect(service.calls).toBe(4);
    });

    it("yield to the policy's own options, key by key", async () => {
      const { service, delaysOf } = await setup();
      expect(await delaysOf(() => service.ownAttempts())).toEqual([25]);
      // a nested object merges: own initialDelay, default type, jitter and maxAttempts
      expect(await delaysOf(() => service.ownDelay())).toEqual([50, 50, 50]);
    });

    it('apply to every kind of policy', async () => {
      const { service, registry } = await setup();
      await expect(service.guarded()).rejects.toThrow('failure #1');
      const error = await rejectionOf(service.guarded()); // one failure opened it
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect(error.retryAfter).toBe(5000);
      expect(registry.stats().bulkheads['DefaultsService.limited']).toMatchObject({
        maxConcurrent: 2,
        maxQueue: 0,
      });
      expect(registry.timeout('DefaultsService.timed')?.timeout).toBe(250);
      await expect(service.throttled()).resolves.toBe('ok');
      const limited = await rejectionOf(service.throttled());
      expect(limited).toBeInstanceOf(RateLimitedError);
      expect(limited.retryAfter).toBe(60_000);
    });

    it('the default maxConcurrent admits exactly that many calls at once (and no queue)', async () => {
      const { service, registry } = await setup();
      const held = deferred<string>();
      service.gate = held.promise;
      const running = [service.limited(), service.limited()]; // the default maxConcurrent: 2
      try {
        expect(service.limitedCalls).toBe(2);
        const third = await rejectionOf(service.limited());
        expect(third).toBeInstanceOf(BulkheadRejectedError);
        expect(third.reason).toBe('full'); // maxQueue 0: not queued either
        expect(service.limitedCalls).toBe(2);
        expect(registry.stats().bulkheads['DefaultsService.limited']).toMatchObject({
          active: 2,
          queued: 0,
          accepted: 2,
          rejected: 1,
        });
      } finally {
        held.resolve('done');
      }
      await expect(Promise.all(running)).resolves.toEqual(['done', 'done']);
      await expect(service.limited()).resolves.toBe('done'); // a slot is free again
      expect(service.limitedCalls).toBe(3);
    });

    it('the default timeout fires at exactly 250ms', async () => {
      const { service, clock } = await setup();
      const held = deferred<string>();
      service.gate = held.promise;
      const started = clock.now();
      const call = settle(service.timed(), clock);
      try {
        await clock.advance(249);
        expect(call.settled).toBe(false);
        await clock.advance(1);
        expect(call.error).toBeInstanceOf(TimeoutError);
        expect((call.error as TimeoutError).timeout).toBe(250);
        expect(call.at).toBe(started + 250);
      } finally {
        held.resolve('late');
      }
    });
  });

  describe('named policy sets', () => {
    const setup = async () => {
      const app = await apps.start({
        imports: [
          ResilienceModule.forRoot({
            policies: POLICY_SETS,
            defaults: { circuitBreaker: { resetTimeout: 1234 } },
          }),
        ],
        providers: [PolicySetService],
      });
      return { registry: app.get(ResilienceRegistry), service: app.get(PolicySetService) };
    };

    it('@UsePolicy applies the set, with the module defaults under it', async () => {
      const { service, registry } = await setup();
      await expect(service.pay(1)).rejects.toThrow('payment failed');
      await expect(service.pay(2)).rejects.toThrow('payment failed');
      const error = await rejectionOf(service.pay(3));
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect(error.policyName).toBe('payments');
      expect(error.retryAfter).toBeLessThanOrEqual(1234);
      expect(error.retryAfter).toBeGreaterThan(1234 - 500);
      expect(service.calls).toBe(2); // maxAttempts 1: no retries
      expect(registry.circuitBreaker('payments')?.state).toBe('open');
    });

    it('registry.policy(name).execute(fn) shares the breaker of @UsePolicy methods', async () => {
      const { service, registry } = await setup();
      const payments = registry.policy('payments')!;
      const fn = jest.fn(async () => {
        throw new UpstreamError('direct failure');
      });
      await expect(payments.execute(fn)).rejects.toThrow('direct failure');
      await expect(payments.execute(fn)).rejects.toThrow('direct failure');

      service.fail = false;
      await expect(service.pay(1)).rejects.toBeInstanceOf(CircuitOpenError);
      expect(service.calls).toBe(0);

      registry.circuitBreaker('payments')!.close();
      await expect(service.pay(1)).resolves.toBe('paid 1');
      await expect(payments.execute(async () => 'direct')).resolves.toBe('direct');
      expect(registry.stats().circuitBreakers.payments).toMatchObject({
        failedCalls: 2,
        rejectedCalls: 1,
        successfulCalls: 2,
      });
    });

    it('the other way round: failures of @UsePolicy methods open the breaker for execute()', async () => {
      const { service, registry } = await setup();
      await expect(service.pay(1)).rejects.toThrow();
      await expect(service.pay(1)).rejects.toThrow();
      const fn = jest.fn(async () => 'never');
      await expect(registry.policy('payments')!.execute(fn)).rejects.toBeInstanceOf(
        CircuitOpenError,
      );
      expect(fn).not.toHaveBeenCalled();
      expect(registry.policy('payments')).toBe(registry.policy('payments'));
    });

    it("a set's fallback gets the error and the method's arguments", async () => {
      const { service, registry } = await setup();
      await expect(service.lookup(7)).resolves.toBe('cached 7');
      expect(service.calls).toBe(2); // the set's retry ran first
      await expect(
        registry.policy('cached')!.execute(async () => Promise.reject(new Error('x'))),
      ).resolves.toBe('cached undefined');
    });

    it("a set's fallback may name a method of the class", async () => {
      const { service } = await setup();
      await expect(service.withMethodFallback(3)).resolves.toBe('lookup 3 failed; cached 3 (true)');
    });

    it("an explicit decorator replaces the set's policy of that kind only", async () => {
      const { service, registry } = await setup();
      // own retry (3 attempts, where the set has 1); the set's breaker opens after 2 failures
      await expect(service.payWithOwnRetry()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(service.calls).toBe(2);
      const { retries, circuitBreakers } = registry.stats();
      expect(retries['PolicySetService.payWithOwnRetry']).toMatchObject({ attempts: 3 });
      expect(circuitBreakers.payments).toMatchObject({
        state: 'open',
        failedCalls: 2,
        rejectedCalls: 1,
      });
    });

    it('an unknown set name gives undefined', async () => {
      const { registry } = await setup();
      expect(registry.policy('nope')).toBeUndefined();
    });
  });

  describe('forRootAsync', () => {
    /** With the default threshold of 5, a single failure does not open the breaker. */
    const expectThresholdOfOne = async (client: BareBreakerClient) => {
      await expect(client.call()).rejects.toThrow('down');
      await expect(client.call()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(client.calls).toBe(1);
    };

    it('useFactory with inject from another module', async () => {
      const app = await apps.start({
        imports: [
          ResilienceModule.forRootAsync({
            imports: [ConfigModule],
            inject: [RESILIENCE_CONFIG],
            useFactory: async (config: { failureThreshold: number }) => ({
              defaults: { circuitBreaker: { failureThreshold: config.failureThreshold } },
            }),
          }),
        ],
        providers: [BareBreakerClient],
      });
      await expectThresholdOfOne(app.get(BareBreakerClient));
    });

    it('useClass', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRootAsync({ useClass: ResilienceConfigService })],
        providers: [BareBreakerClient],
      });
      await expectThresholdOfOne(app.get(BareBreakerClient));
    });

    it('useExisting', async () => {
      const app = await apps.start({
        imports: [
          ResilienceModule.forRootAsync({
            imports: [ResilienceConfigModule],
            useExisting: ResilienceConfigService,
          }),
          ResilienceConfigModule,
        ],
        providers: [BareBreakerClient],
      });
      await expectThresholdOfOne(app.get(BareBreakerClient));
      expect(app.get(ResilienceConfigService).created).toBe(1); // the existing instance was used
    });

    it('is global by default too', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRootAsync({ useFactory: () => ({}) }), FeatureModule],
      });
      expect(app.get(FeatureService).registry).toBe(app.get(ResilienceRegistry));
    });

    it.each([
      ['httpErrors', true],
      ['isGlobal', false],
    ])(
      'fails bootstrap when the factory returns %s, saying to pass it next to useFactory',
      async (key, value) => {
        const error = await rejectionOf(
          (async () => {
            const app = await apps.compile({
              imports: [ResilienceModule.forRootAsync({ useFactory: () => ({ [key]: value }) })],
              providers: [BareBreakerClient],
            });
            await app.init();
          })(),
        );
        expect(error).toBeInstanceOf(ResilienceConfigError);
        expect(error.message).toContain('ResilienceModule');
        expect(error.message).toContain(`"${key}"`);
        expect(error.message).toContain('next to useFactory');
        expect(error).toMatchObject({ key, value });
      },
    );

    /** The global filter providers a dynamic module registers. */
    const appFilters = (providers: Provider[] | undefined) =>
      (providers ?? []).filter(
        (p): p is Extract<Provider, { provide: unknown }> =>
          typeof p === 'object' && p !== null && 'provide' in p && p.provide === APP_FILTER,
      );

    it('registers ResilienceExceptionFilter as APP_FILTER with httpErrors: true next to useFactory', () => {
      const withFilter = ResilienceModule.forRootAsync({
        httpErrors: true,
        useFactory: () => ({}),
      });
      expect(appFilters(withFilter.providers)).toEqual([
        { provide: APP_FILTER, useClass: ResilienceExceptionFilter },
      ]);

      expect(
        appFilters(ResilienceModule.forRootAsync({ useFactory: () => ({}) }).providers),
      ).toEqual([]);
      expect(
        appFilters(
          ResilienceModule.forRootAsync({ httpErrors: false, useFactory: () => ({}) }).providers,
        ),
      ).toEqual([]);
    });

    it('takes isGlobal: false', async () => {
      await expect(
        apps.compile({
          imports: [
            ResilienceModule.forRootAsync({ isGlobal: false, useFactory: () => ({}) }),
            FeatureModule,
          ],
        }),
      ).rejects.toThrow(/ResilienceRegistry/);
    });
  });

  describe('isGlobal', () => {
    it('is true by default: a feature module that does not import the module is protected and can inject the registry', async () => {
      const app = await apps.start({ imports: [ResilienceModule.forRoot(), FeatureModule] });
      const feature = app.get(FeatureService);
      expect(feature.registry).toBe(app.get(ResilienceRegistry));
      await expect(feature.work()).resolves.toBe('done');
      expect(feature.calls).toBe(3);
      expect(feature.registry.stats().retries['FeatureService.work']).toMatchObject({
        successWithRetry: 1,
      });
    });

    it('false: the registry is not injectable where the module is not imported', async () => {
      const error = await rejectionOf(
        apps.compile({ imports: [ResilienceModule.forRoot({ isGlobal: false }), FeatureModule] }),
      );
      expect(error.message).toContain('ResilienceRegistry');
      expect(error.message).toContain('FeatureService');
    });

    it.each([
      ['yes', '"yes"'],
      [1, '1'],
    ])('must be a boolean: %p throws ResilienceConfigError naming isGlobal', (value, shown) => {
      let error: unknown;
      try {
        ResilienceModule.forRoot({ isGlobal: value as any });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect((error as Error).message).toContain('ResilienceModule');
      expect((error as Error).message).toContain('"isGlobal"');
      expect((error as Error).message).toContain(shown);

      expect(() =>
        ResilienceModule.forRootAsync({ isGlobal: value as any, useFactory: () => ({}) }),
      ).toThrow(ResilienceConfigError);
    });

    it('false: modules importing the same registration share one registry', async () => {
      const resilience = ResilienceModule.forRoot({ isGlobal: false });
      @Module({ imports: [resilience], providers: [FeatureService] })
      class ImportingFeatureModule {}

      const app = await apps.start({
        imports: [resilience, ImportingFeatureModule, PlainFeatureModule],
      });
      const feature = app.get(FeatureService);
      expect(feature.registry).toBe(app.get(ResilienceRegistry));
      await expect(feature.work()).resolves.toBe('done');
      // protection does not depend on imports: every provider of the application is explored
      await expect(app.get(PlainFeatureService).work()).resolves.toBe('done');
    });
  });
});
