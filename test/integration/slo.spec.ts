import { Injectable, Module } from '@nestjs/common';
import { NEVER, Observable } from 'rxjs';
import {
  Bulkhead,
  CircuitBreaker,
  CircuitOpenError,
  DeadLetter,
  Fallback,
  RateLimit,
  ResilienceConfigError,
  ResilienceEvent,
  ResilienceModule,
  ResilienceModuleOptions,
  ResilienceOptionsFactory,
  ResilienceRegistry,
  Retry,
  SloOptions,
  Timeout,
  TimeoutError,
  UsePolicy,
  currentSignal,
} from '../../lib';
import { NO_WAIT, UpstreamError } from '../fixtures/flaky-client';
import { deferred, Deferred, rejectionOf, settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock, flush } from '../utils/fake-clock';

/**
 * 'ok' succeeds, 'down' fails every attempt, 'flaky' fails every other attempt (so a flaky call
 * fails its first attempt and succeeds on its retry, when calls come one after another).
 */
type Mode = 'ok' | 'flaky' | 'down';

@Injectable()
class Orders {
  attempts = 0;
  private flaked = false;

  /** Each call fails `mode`-wise; a retry inside, a fallback outside. */
  @Fallback('cached')
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  @CircuitBreaker('orders', { failureThreshold: 1_000 })
  async place(mode: Mode): Promise<string> {
    return this.attempt(mode);
  }

  /** Shares the breaker (and so the SLO) of `place`. */
  @CircuitBreaker('orders')
  async cancel(mode: Mode): Promise<string> {
    return this.attempt(mode);
  }

  /** A failure swallowed by the dead-letter step still counts. */
  @DeadLetter({ swallow: true })
  async archive(mode: Mode): Promise<string | undefined> {
    return this.attempt(mode);
  }

  @CircuitBreaker('gate', { failureThreshold: 1, resetTimeout: 60_000 })
  async gated(mode: Mode): Promise<string> {
    return this.attempt(mode);
  }

  @Bulkhead({ maxConcurrent: 1 })
  async narrow(release: Deferred<string>): Promise<string> {
    return release.promise;
  }

  /** Never answers; stopped by its timeout. */
  @Timeout(1_000)
  async hang(): Promise<string> {
    return new Promise<string>((_resolve, reject) => {
      currentSignal()?.addEventListener('abort', () => reject(new Error('aborted')));
    });
  }

  @RateLimit({ limit: 1, interval: 60_000 })
  async limited(): Promise<string> {
    return 'ok';
  }

  @UsePolicy('search')
  async search(mode: Mode): Promise<string> {
    return this.attempt(mode);
  }

  @CircuitBreaker('stream')
  watch(): Observable<string> {
    return NEVER;
  }

  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  async unmeasured(mode: Mode): Promise<string> {
    return this.attempt(mode);
  }

  cached(): string {
    return 'cached';
  }

  private async attempt(mode: Mode): Promise<string> {
    this.attempts++;
    if (mode === 'ok') return 'ok';
    if (mode === 'flaky') {
      this.flaked = !this.flaked;
      if (!this.flaked) return 'ok';
    }
    throw new UpstreamError(`${mode} (attempt ${this.attempts})`);
  }
}

@Injectable()
class Payments {
  @CircuitBreaker('payments', { failureThreshold: 1_000, resetTimeout: 5_000 })
  async charge(mode: Mode): Promise<string> {
    if (mode === 'ok') return 'charged';
    throw new UpstreamError('declined');
  }
}

const WINDOW = 60_000;
const slo = (target: number, extra: Partial<SloOptions> = {}): SloOptions => ({
  target,
  window: WINDOW,
  minimumCalls: 1,
  ...extra,
});

const policies: ResilienceModuleOptions['policies'] = {
  search: { retry: { maxAttempts: 2, backoff: NO_WAIT } },
  unused: { timeout: { timeout: 1_000 } },
};

describe('SLO tracking (module option slo)', () => {
  const apps = useTestApps();
  let clock: FakeClock;

  beforeEach(() => {
    clock = new FakeClock();
  });

  async function start(sloOptions: Record<string, SloOptions>, providers: unknown[] = [Orders]) {
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock, policies, slo: sloOptions })],
      providers: providers as never[],
    });
    return {
      app,
      orders: app.get(Orders),
      registry: app.get(ResilienceRegistry),
    };
  }

  /** Runs `call` to its end, moving the clock (retries without a wait use 0 ms timers). */
  async function drive<T>(call: Promise<T>): Promise<T> {
    const outcome = settle(call);
    while (!outcome.settled) await clock.advance(0);
    return call;
  }

  it('measures after the retry and before the fallback, and reports the stats shape', async () => {
    const { orders, registry } = await start({ orders: slo(0.5) });
    await expect(drive(orders.place('ok'))).resolves.toBe('ok');
    await expect(drive(orders.place('flaky'))).resolves.toBe('ok'); // succeeded on its retry
    await expect(drive(orders.place('down'))).resolves.toBe('cached'); // the fallback hid a failure
    expect(orders.attempts).toBe(1 + 2 + 2);
    expect(registry.stats().slo).toEqual({
      orders: {
        target: 0.5,
        window: WINDOW,
        calls: 3,
        failures: 1,
        successRate: 2 / 3,
        errorBudget: 1.5,
        errorBudgetRemaining: expect.closeTo(1 / 3, 9),
        violated: false,
      },
    });
    // the breaker inside the retry saw every attempt
    expect(registry.stats().circuitBreakers.orders.totalCalls).toBe(5);
  });

  it('shares one tracker between methods with one breaker name', async () => {
    const { orders, registry } = await start({ orders: slo(0.99) });
    await drive(orders.place('ok'));
    await orders.cancel('ok');
    await orders.cancel('down').catch(() => undefined);
    expect(registry.stats().slo.orders).toMatchObject({ calls: 3, failures: 1 });
    expect(registry.slo('orders')?.isViolated).toBe(true);
  });

  it('counts a failure that the dead-letter step swallows', async () => {
    const { orders, registry } = await start({ 'Orders.archive': slo(0.5) });
    await expect(orders.archive('down')).resolves.toBeUndefined();
    await expect(orders.archive('ok')).resolves.toBe('ok');
    expect(registry.stats().slo['Orders.archive']).toMatchObject({ calls: 2, failures: 1 });
  });

  it('counts calls rejected by an open breaker, a full bulkhead and a rate limiter', async () => {
    const { orders, registry } = await start({
      gate: slo(0.5),
      'Orders.narrow': slo(0.5),
      'Orders.limited': slo(0.5),
    });
    await expect(orders.gated('down')).rejects.toThrow(UpstreamError); // opens the breaker
    await expect(orders.gated('ok')).rejects.toBeInstanceOf(CircuitOpenError);

    const release = deferred<string>();
    const first = orders.narrow(release);
    await expect(orders.narrow(release)).rejects.toMatchObject({ reason: 'full' });
    release.resolve('done');
    await expect(first).resolves.toBe('done');

    await orders.limited();
    await expect(orders.limited()).rejects.toMatchObject({ name: 'RateLimitedError' });

    const { slo: stats } = registry.stats();
    expect(stats.gate).toMatchObject({ calls: 2, failures: 2 });
    expect(stats['Orders.narrow']).toMatchObject({ calls: 2, failures: 1 });
    expect(stats['Orders.limited']).toMatchObject({ calls: 2, failures: 1 });
  });

  it('counts a call its timeout stopped as a failure', async () => {
    const { orders, registry } = await start({ 'Orders.hang': slo(0.5) });
    const outcome = settle(orders.hang());
    await clock.advance(1_000);
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(registry.stats().slo['Orders.hang']).toMatchObject({ calls: 1, failures: 1 });
  });

  it('does not count a call its subscriber cancelled', async () => {
    const { orders, registry } = await start({ stream: slo(0.5) });
    const subscription = orders.watch().subscribe();
    await flush();
    subscription.unsubscribe();
    await flush();
    expect(registry.stats().slo.stream).toMatchObject({ calls: 0, failures: 0 });
  });

  it('measures a policy set by its name, for registry.policy(name) and @UsePolicy alike', async () => {
    const { orders, registry } = await start({ search: slo(0.5) });
    await expect(drive(orders.search('flaky'))).resolves.toBe('ok');
    const set = registry.policy('search')!;
    let attempts = 0;
    await expect(
      drive(
        set.execute(async () => {
          if (++attempts < 3) throw new UpstreamError('still down');
          return 'never';
        }),
      ),
    ).rejects.toThrow('still down');
    expect(attempts).toBe(2); // the set's retry ran inside the measurement
    await set.execute(async () => 'ok');
    expect(registry.stats().slo.search).toMatchObject({ calls: 3, failures: 1 });
  });

  it('accepts the name of a policy set that no method uses, and gives nothing else a step', async () => {
    const { orders, registry } = await start({ unused: slo(0.9) });
    await drive(orders.unmeasured('down')).catch(() => undefined);
    await drive(orders.place('down'));
    expect(registry.stats().slo).toEqual({
      unused: expect.objectContaining({ calls: 0, failures: 0 }),
    });
    expect(registry.slo('orders')).toBeUndefined();
  });

  it('opens the breaker of the same name on violation, then lets it recover as usual', async () => {
    const { app, registry } = await start(
      { payments: slo(0.9, { minimumCalls: 10, openCircuitBreaker: true }) },
      [Orders, Payments],
    );
    const payments = app.get(Payments);
    const events: ResilienceEvent[] = [];
    const subscription = registry.events$.subscribe((event) => events.push(event));
    try {
      for (let i = 0; i < 9; i++) await payments.charge('ok');
      await payments.charge('down').catch(() => undefined); // 9/10: still met
      expect(registry.circuitBreaker('payments')!.state).toBe('closed');
      await payments.charge('down').catch(() => undefined); // 9/11: violated

      const breaker = registry.circuitBreaker('payments')!;
      expect(breaker.state).toBe('open');
      const relevant = events.filter(
        (e) => e.type === 'slo-violation' || e.type === 'state-change',
      );
      expect(relevant).toEqual([
        {
          type: 'slo-violation',
          name: 'payments',
          at: clock.now(),
          target: 0.9,
          successRate: 9 / 11,
          calls: 11,
          failures: 2,
          window: WINDOW,
        },
        {
          type: 'state-change',
          name: 'payments',
          from: 'closed',
          to: 'open',
          reason: 'slo-violation',
          at: clock.now(),
        },
      ]);
      await expect(payments.charge('ok')).rejects.toBeInstanceOf(CircuitOpenError);

      // the breaker's own cycle: half-open after resetTimeout, closed after two good trials
      await clock.advance(5_000);
      expect(breaker.state).toBe('half-open');
      await payments.charge('ok');
      await payments.charge('ok');
      expect(breaker.state).toBe('closed');
      // still violated (one crossing, one forced open): the breaker is not forced open again
      await payments.charge('down').catch(() => undefined);
      expect(registry.stats().slo.payments.violated).toBe(true);
      expect(breaker.state).toBe('closed');
      expect(events.filter((e) => e.type === 'slo-violation')).toHaveLength(1);
    } finally {
      subscription.unsubscribe();
    }
  });

  it('reports recovery once the failures roll out of the window', async () => {
    const { orders, registry } = await start({ orders: slo(0.9, { minimumCalls: 2 }) });
    const events: ResilienceEvent[] = [];
    const subscription = registry.events$.subscribe((event) => events.push(event));
    try {
      await drive(orders.place('down'));
      await drive(orders.place('down'));
      expect(registry.stats().slo.orders.violated).toBe(true);
      await clock.advance(WINDOW);
      expect(registry.stats().slo.orders).toMatchObject({ calls: 0, violated: false });
      expect(events.filter((e) => e.type.startsWith('slo-')).map((e) => e.type)).toEqual([
        'slo-violation',
        'slo-recovered',
      ]);
    } finally {
      subscription.unsubscribe();
    }
  });

  describe('bootstrap', () => {
    // system clock: a module whose init() failed rejects close() as well, with the same error
    async function bootstrapError(
      options: ResilienceModuleOptions,
    ): Promise<ResilienceConfigError> {
      const error = await rejectionOf(
        apps.start({
          imports: [ResilienceModule.forRoot({ policies, ...options })],
          providers: [Orders, Payments],
        }),
      );
      expect(error).toBeInstanceOf(ResilienceConfigError);
      return error as ResilienceConfigError;
    }

    it('fails for a name that no method and no policy set has', async () => {
      const error = await bootstrapError({ slo: { 'Orders.plcae': slo(0.9) } });
      expect(error.key).toBe('slo.Orders.plcae');
      expect(error.message).toContain('"slo.Orders.plcae"');
      expect(error.message).toContain('Orders.unmeasured'); // the names it could have been
    });

    it('fails before other modules initialise, so that nothing they registered is left behind', async () => {
      // e.g. a metrics exporter registering its instruments: a failed bootstrap never shuts
      // the application down, so whatever a hook had registered would stay
      const hooks: string[] = [];
      @Injectable()
      class Exporter {
        onModuleInit(): void {
          hooks.push('onModuleInit');
        }
        onApplicationBootstrap(): void {
          hooks.push('onApplicationBootstrap');
        }
      }
      @Module({ providers: [Exporter] })
      class ExporterModule {}
      const error = await rejectionOf(
        apps.start({
          imports: [
            ExporterModule,
            ResilienceModule.forRoot({ policies, slo: { 'Orders.plcae': slo(0.9) } }),
          ],
          providers: [Orders],
        }),
      );
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(hooks).toEqual([]);
    });

    it('fails for openCircuitBreaker without a breaker of that name', async () => {
      const error = await bootstrapError({
        slo: { 'Orders.unmeasured': slo(0.9, { openCircuitBreaker: true }) },
      });
      expect(error.key).toBe('slo.Orders.unmeasured.openCircuitBreaker');
      expect(error.message).toContain('"slo.Orders.unmeasured.openCircuitBreaker"');
    });

    it('accepts openCircuitBreaker for a policy set with a circuit breaker', async () => {
      const app = await apps.start({
        imports: [
          ResilienceModule.forRoot({
            clock,
            policies: { guarded: { circuitBreaker: { failureThreshold: 1_000 } } },
            slo: { guarded: slo(0.5, { minimumCalls: 2, openCircuitBreaker: true }) },
          }),
        ],
      });
      const set = app.get(ResilienceRegistry).policy('guarded')!;
      await set.execute(() => Promise.reject(new UpstreamError('a'))).catch(() => undefined);
      await set.execute(() => Promise.reject(new UpstreamError('b'))).catch(() => undefined);
      expect(app.get(ResilienceRegistry).circuitBreaker('guarded')!.state).toBe('open');
    });
  });

  describe('forRootAsync', () => {
    @Injectable()
    class SloConfig implements ResilienceOptionsFactory {
      createResilienceOptions(): ResilienceModuleOptions {
        return { clock, policies, slo: { orders: { target: 0.9, window: WINDOW } } };
      }
    }
    @Module({ providers: [SloConfig], exports: [SloConfig] })
    class ConfigModule {}

    it.each([
      [
        'useFactory',
        () =>
          ResilienceModule.forRootAsync({
            useFactory: async () => ({
              clock,
              policies,
              slo: { orders: { target: 0.9, window: WINDOW } },
            }),
          }),
      ],
      ['useClass', () => ResilienceModule.forRootAsync({ useClass: SloConfig })],
      [
        'useExisting',
        () => ResilienceModule.forRootAsync({ imports: [ConfigModule], useExisting: SloConfig }),
      ],
    ])('%s: the options are resolved and applied the same way', async (_how, module) => {
      const app = await apps.start({ imports: [module()], providers: [Orders] });
      await drive(app.get(Orders).place('down'));
      expect(app.get(ResilienceRegistry).stats().slo.orders).toMatchObject({
        calls: 1,
        failures: 1,
        violated: false, // one call: below the default minimumCalls of 10
      });
    });

    it('fails bootstrap for a bad value from the factory', async () => {
      const error = await rejectionOf(
        apps.start({
          imports: [
            ResilienceModule.forRootAsync({
              useFactory: () => ({ policies, slo: { orders: { target: 1.5, window: 1_000 } } }),
            }),
          ],
          providers: [Orders],
        }),
      );
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect((error as ResilienceConfigError).key).toBe('slo.orders.target');
    });
  });
});
