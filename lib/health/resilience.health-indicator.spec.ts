import { Injectable } from '@nestjs/common';
import { deferred, settle, useTestApps } from '../../test/fixtures/testing-app';
import { FakeClock } from '../../test/utils/fake-clock';
import { Bulkhead } from '../bulkhead/bulkhead.decorator';
import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.decorator';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { ResilienceModule } from '../module/resilience.module';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { ResilienceHealthIndicator } from './resilience.health-indicator';
import * as support from './terminus-support';

const RESET = 10_000;

@Injectable()
class Downstreams {
  readonly gate = deferred<void>();

  @CircuitBreaker('payments', { failureThreshold: 2, resetTimeout: RESET })
  async pay(fail = false): Promise<string> {
    if (fail) throw new Error('payments down');
    return 'paid';
  }

  @CircuitBreaker('inventory', { failureThreshold: 2, resetTimeout: RESET })
  async stock(): Promise<string> {
    return 'in stock';
  }

  @Bulkhead('exports', { maxConcurrent: 1, maxQueue: 4, warningThreshold: 0.5 })
  async export(): Promise<void> {
    await this.gate.promise;
  }

  @Bulkhead('per-tenant', { key: (tenant: string) => tenant, maxConcurrent: 1, maxQueue: 2 })
  async tenant(_tenant: string): Promise<void> {
    await this.gate.promise;
  }
}

describe('ResilienceHealthIndicator', () => {
  const apps = useTestApps();
  let clock: FakeClock;
  let indicator: ResilienceHealthIndicator;
  let registry: ResilienceRegistry;
  let downstreams: Downstreams;

  beforeEach(async () => {
    clock = new FakeClock();
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock, shutdownTimeout: 10 })],
      providers: [Downstreams],
    });
    indicator = app.get(ResilienceHealthIndicator);
    registry = app.get(ResilienceRegistry);
    downstreams = app.get(Downstreams);
  });
  afterEach(() => {
    downstreams.gate.resolve();
    jest.restoreAllMocks();
  });

  const terminus12 = () =>
    jest.spyOn(support, 'terminusSupport').mockReturnValue({ version: '12.1.0', degraded: true });

  it('is provided and exported by ResilienceModule', () => {
    expect(indicator).toBeInstanceOf(ResilienceHealthIndicator);
  });

  it('reports up with every breaker and bulkhead when all is well', () => {
    expect(indicator.isHealthy()).toEqual({
      resilience: {
        status: 'up',
        health: 'up',
        open: [],
        halfOpen: [],
        underPressure: [],
        circuitBreakers: {
          payments: { state: 'closed', failureRate: 0, retryAfter: null },
          inventory: { state: 'closed', failureRate: 0, retryAfter: null },
        },
        bulkheads: {
          exports: {
            active: 0,
            maxConcurrent: 1,
            queued: 0,
            maxQueue: 4,
            queueFill: 0,
            warningThreshold: 0.5,
            underPressure: false,
          },
          'per-tenant': {
            active: 0,
            maxConcurrent: 1,
            queued: 0,
            maxQueue: 2,
            queueFill: 0,
            warningThreshold: 0.8,
            underPressure: false,
            keys: 0,
          },
        },
      },
    });
  });

  it('reports down while a breaker is open, with the time left until its trial call', async () => {
    await expect(downstreams.pay(true)).rejects.toThrow('payments down');
    await expect(downstreams.pay(true)).rejects.toThrow('payments down');
    await clock.advance(4_000);

    const { resilience } = indicator.isHealthy();
    expect(resilience.status).toBe('down');
    expect(resilience.health).toBe('down');
    expect(resilience.open).toEqual(['payments']);
    expect(resilience.circuitBreakers.payments).toEqual({
      state: 'open',
      failureRate: 100,
      retryAfter: RESET - 4_000,
    });
    expect(resilience.circuitBreakers.inventory.state).toBe('closed');
  });

  it('reports the failure rate of a closed breaker', async () => {
    await downstreams.pay();
    await expect(downstreams.pay(true)).rejects.toThrow();
    await downstreams.pay();
    await downstreams.pay();

    const breaker = indicator.isHealthy().resilience.circuitBreakers.payments;
    expect(breaker).toEqual({ state: 'closed', failureRate: 25, retryAfter: null });
  });

  it('on Terminus 11 reports a half-open breaker as up, listing it as degraded', async () => {
    expect(support.terminusSupport().degraded).toBe(false); // the installed dev dependency
    registry.circuitBreaker('payments')!.open();
    await clock.advance(RESET);

    const { resilience } = indicator.isHealthy();
    expect(resilience).toMatchObject({
      status: 'up',
      health: 'degraded',
      open: [],
      halfOpen: ['payments'],
    });
    expect(resilience.circuitBreakers.payments).toEqual({
      state: 'half-open',
      failureRate: 0,
      retryAfter: null,
    });
  });

  it('on Terminus 12 reports a half-open breaker as degraded', async () => {
    terminus12();
    registry.circuitBreaker('inventory')!.open();
    await clock.advance(RESET + 1);

    const { resilience } = indicator.isHealthy();
    expect(resilience.status).toBe('degraded');
    expect(resilience.halfOpen).toEqual(['inventory']);
  });

  it('lets an open breaker win over a half-open one', async () => {
    terminus12();
    registry.circuitBreaker('inventory')!.open();
    await clock.advance(RESET);
    registry.circuitBreaker('payments')!.open();

    const { resilience } = indicator.isHealthy();
    expect(resilience).toMatchObject({
      status: 'down',
      open: ['payments'],
      halfOpen: ['inventory'],
    });
  });

  it('recovers to up once the breaker is closed again', () => {
    registry.circuitBreaker('payments')!.open();
    expect(indicator.isHealthy().resilience.status).toBe('down');
    registry.circuitBreaker('payments')!.close();
    expect(indicator.isHealthy().resilience.status).toBe('up');
  });

  it('puts the result under the key it is given', () => {
    registry.circuitBreaker('payments')!.open();
    const result = indicator.isHealthy('breakers');
    expect(Object.keys(result)).toEqual(['breakers']);
    expect(result.breakers.status).toBe('down');
  });

  describe('watching a selection', () => {
    it('watches only the listed breakers, and no bulkhead, when circuitBreakers is given', () => {
      registry.circuitBreaker('inventory')!.open();
      const { ready } = indicator.isHealthy('ready', { circuitBreakers: ['payments'] });
      expect(ready.status).toBe('up');
      expect(Object.keys(ready.circuitBreakers)).toEqual(['payments']);
      expect(ready.bulkheads).toEqual({});
    });

    it('watches only the listed bulkheads when bulkheads is given', () => {
      registry.circuitBreaker('payments')!.open();
      const { queues } = indicator.isHealthy('queues', { bulkheads: ['exports'] });
      expect(queues.status).toBe('up');
      expect(queues.circuitBreakers).toEqual({});
      expect(Object.keys(queues.bulkheads)).toEqual(['exports']);
    });

    it('throws a ResilienceConfigError naming an unknown breaker and the known ones', () => {
      const call = () => indicator.isHealthy('ready', { circuitBreakers: ['payment'] });
      expect(call).toThrow(ResilienceConfigError);
      expect(call).toThrow(
        'ResilienceHealthIndicator: no circuit breaker named "payment" in this application. Known: payments, inventory.',
      );
    });

    it('throws a ResilienceConfigError naming an unknown bulkhead', () => {
      expect(() => indicator.isHealthy('q', { bulkheads: ['export'] })).toThrow(
        /no bulkhead named "export" in this application\. Known: exports, per-tenant\./,
      );
    });

    it('refuses a list given as a single string and an empty key', () => {
      expect(() =>
        indicator.isHealthy('q', { circuitBreakers: 'payments' as unknown as string[] }),
      ).toThrow('"circuitBreakers" must be an array of names; got "payments"');
      expect(() => indicator.isHealthy('')).toThrow(/health key must be a non-empty string/);
    });

    it('finds breakers of named policy sets that were not used yet', async () => {
      const app = await apps.start({
        imports: [
          ResilienceModule.forRoot({
            clock,
            policies: { search: { circuitBreaker: { failureThreshold: 1 } } },
          }),
        ],
      });
      const { s } = app
        .get(ResilienceHealthIndicator)
        .isHealthy('s', { circuitBreakers: ['search'] });
      expect(s.circuitBreakers.search.state).toBe('closed');
    });
  });

  describe('bulkhead view', () => {
    it('reports degraded while a queue is at or above its warningThreshold', async () => {
      terminus12();
      const calls = [1, 2, 3].map(() => settle(downstreams.export()));
      await clock.advance(0);
      // 1 running, 2 of 4 queued: 0.5 >= warningThreshold 0.5
      const { resilience } = indicator.isHealthy();
      expect(resilience.status).toBe('degraded');
      expect(resilience.health).toBe('degraded');
      expect(resilience.underPressure).toEqual(['exports']);
      expect(resilience.bulkheads.exports).toMatchObject({
        active: 1,
        queued: 2,
        queueFill: 0.5,
        underPressure: true,
      });

      downstreams.gate.resolve();
      await clock.advance(0);
      expect(calls.every((c) => c.status === 'resolved')).toBe(true);
      expect(indicator.isHealthy().resilience.status).toBe('up');
    });

    it('stays up below the threshold', async () => {
      settle(downstreams.export());
      settle(downstreams.export());
      await clock.advance(0);
      const { bulkheads, underPressure } = indicator.isHealthy().resilience;
      expect(bulkheads.exports).toMatchObject({ queued: 1, queueFill: 0.25, underPressure: false });
      expect(underPressure).toEqual([]);
    });

    it('on Terminus 11 reports a bulkhead under pressure as up, listing it', async () => {
      for (let i = 0; i < 3; i++) settle(downstreams.export());
      await clock.advance(0);
      const { resilience } = indicator.isHealthy();
      expect(resilience).toMatchObject({
        status: 'up',
        health: 'degraded',
        underPressure: ['exports'],
      });
    });

    it('judges a keyed bulkhead by its partition with the longest queue', async () => {
      // tenant a: 1 running + 2 queued (2 of 2: full); tenant b: 1 running
      for (const tenant of ['a', 'a', 'a', 'b']) settle(downstreams.tenant(tenant));
      await clock.advance(0);
      const { resilience } = indicator.isHealthy('resilience', { bulkheads: ['per-tenant'] });
      expect(resilience.bulkheads['per-tenant']).toEqual({
        active: 2,
        maxConcurrent: 1,
        queued: 2,
        maxQueue: 2,
        queueFill: 1,
        warningThreshold: 0.8,
        underPressure: true,
        key: 'a',
        keys: 2,
      });
      expect(resilience.health).toBe('degraded');
    });
  });

  it('report() gives the same view without Terminus', () => {
    const spy = jest.spyOn(support, 'terminusSupport').mockImplementation(() => {
      throw new Error('isHealthy() only');
    });
    registry.circuitBreaker('payments')!.open();
    const report = indicator.report();
    expect(report.health).toBe('down');
    expect(report.open).toEqual(['payments']);
    expect(report).not.toHaveProperty('status');
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('detectTerminus', () => {
  it('tells Terminus 12 and later accept degraded, Terminus 11 not', () => {
    expect(support.detectTerminus(() => ({ version: '11.1.1' }))).toEqual({
      version: '11.1.1',
      degraded: false,
    });
    expect(support.detectTerminus(() => ({ version: '12.0.0' })).degraded).toBe(true);
    expect(support.detectTerminus(() => ({ version: '13.0.0-next.1' })).degraded).toBe(true);
  });

  it('reads the installed Terminus', () => {
    const installed = support.detectTerminus();
    expect(installed.version).toMatch(/^11\./);
    expect(installed.degraded).toBe(false);
  });

  it('says how to install Terminus when it is missing', () => {
    const missing = () =>
      support.detectTerminus(() => {
        throw Object.assign(new Error("Cannot find module '@nestjs/terminus/package.json'"), {
          code: 'MODULE_NOT_FOUND',
        });
      });
    expect(missing).toThrow(ResilienceConfigError);
    expect(missing).toThrow(/needs @nestjs\/terminus .*`npm install @nestjs\/terminus`/);
  });

  it('names an unreadable version', () => {
    expect(() => support.detectTerminus(() => ({}))).toThrow(
      'ResilienceHealthIndicator could not read the version of @nestjs/terminus: unexpected version undefined',
    );
  });
});
