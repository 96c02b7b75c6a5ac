import { Injectable, Logger, Module } from '@nestjs/common';
import { Gauge, Registry, register as globalRegistry } from 'prom-client';
import {
  Bulkhead,
  BulkheadRejectedError,
  CircuitBreaker,
  CircuitOpenError,
  DeadLetter,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  Timeout,
  TimeoutError,
} from '../../lib';
import {
  collectResilienceMetrics,
  DEFAULT_DURATION_BUCKETS,
  ResiliencePrometheusModule,
  type ResiliencePrometheusOptions,
} from '../../lib/prometheus';
import { parseMetrics, samplesOf, valueOf, type Sample } from '../fixtures/prometheus-text';
import { deferred, settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock } from '../utils/fake-clock';

const PAY = 'payments';
type Attempt = 'ok' | 'fail' | 'fatal';

/** The module clock of the current test: the fixture's methods wait on it. */
let clock: FakeClock;

@Injectable()
class MeteredService {
  @CircuitBreaker(PAY, { failureThreshold: 2, resetTimeout: 1_000, successThreshold: 1 })
  async pay(fail: boolean, ms = 0): Promise<string> {
    if (ms > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    if (fail) throw new Error('declined');
    return 'paid';
  }

  /** Each attempt takes the next outcome; 'fatal' is not retried. */
  @Retry({
    maxAttempts: 2,
    backoff: { type: 'fixed', initialDelay: 10, jitter: 'none' },
    retryOn: (error) => (error as Error).message !== 'fatal',
  })
  async retried(attempts: Attempt[]): Promise<string> {
    const next = attempts.shift();
    if (next !== 'ok') throw new Error(next);
    return 'ok';
  }

  @Timeout(50)
  async slow(gate: Promise<string>): Promise<string> {
    return gate;
  }

  @Bulkhead({ maxConcurrent: 1, maxQueue: 1 })
  async narrow(gate: Promise<string>): Promise<string> {
    return gate;
  }

  @DeadLetter()
  async doomed(): Promise<never> {
    throw new Error('gone');
  }
}

describe('Prometheus metrics (ResiliencePrometheusModule)', () => {
  const apps = useTestApps();
  let registry: Registry;

  beforeEach(() => {
    clock = new FakeClock();
    registry = new Registry();
  });

  afterEach(() => {
    // nothing may stay in the global registry after the apps closed
    expect(globalRegistry.getSingleMetric('circuit_breaker_state')).toBeUndefined();
  });

  async function start(
    options: ResiliencePrometheusOptions = { registry },
    resilience: Parameters<typeof ResilienceModule.forRoot>[0] = {},
  ) {
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({ clock, shutdownTimeout: 200, ...resilience }),
        ResiliencePrometheusModule.forRoot(options),
      ],
      providers: [MeteredService],
    });
    return { app, service: app.get(MeteredService), resilience: app.get(ResilienceRegistry) };
  }

  /**
   * The error bootstrap fails with. On the system clock: a module whose init() failed never
   * runs its shutdown hooks, so there is no fake time to drive while closing it.
   */
  const bootstrapError = (options: ResiliencePrometheusOptions) =>
    start(options, { clock: undefined }).then(
      () => {
        throw new Error('bootstrap succeeded');
      },
      (error: unknown) => error as ResilienceConfigError,
    );

  const scrape = async (from: Registry = registry): Promise<Sample[]> =>
    parseMetrics(await from.metrics());

  /** Runs a call that waits on the fake clock: moves the clock by `ms`, then awaits it. */
  async function driven<T>(call: Promise<T>, ms: number): Promise<T> {
    const outcome = settle(call);
    await clock.advance(ms);
    expect(outcome.settled).toBe(true);
    return call;
  }

  describe('the metric table', () => {
    it('circuit breaker: state 0/1/2, calls by result, transitions from/to, durations', async () => {
      const { service, resilience } = await start();
      let m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(0);
      for (const result of ['success', 'failure', 'rejected']) {
        expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result })).toBe(0);
      }
      expect(samplesOf(m, 'circuit_breaker_state_transitions_total')).toEqual([]);

      await expect(driven(service.pay(false, 250), 250)).resolves.toBe('paid');
      await expect(service.pay(true)).rejects.toThrow('declined');
      await expect(service.pay(true)).rejects.toThrow('declined'); // opens
      await expect(service.pay(false)).rejects.toBeInstanceOf(CircuitOpenError);

      m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(1);
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'success' })).toBe(1);
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'failure' })).toBe(2);
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'rejected' })).toBe(1);
      expect(samplesOf(m, 'circuit_breaker_state_transitions_total')).toEqual([
        {
          name: 'circuit_breaker_state_transitions_total',
          labels: { name: PAY, from: 'closed', to: 'open' },
          value: 1,
        },
      ]);
      // the histogram: rejected calls are not observed
      const success = { name: PAY, result: 'success' };
      const failure = { name: PAY, result: 'failure' };
      expect(valueOf(m, 'circuit_breaker_call_duration_seconds_count', success)).toBe(1);
      expect(valueOf(m, 'circuit_breaker_call_duration_seconds_sum', success)).toBe(0.25);
      expect(valueOf(m, 'circuit_breaker_call_duration_seconds_count', failure)).toBe(2);
      expect(valueOf(m, 'circuit_breaker_call_duration_seconds_sum', failure)).toBe(0);
      const bucket = (le: string, labels = success) =>
        valueOf(m, 'circuit_breaker_call_duration_seconds_bucket', { ...labels, le });
      expect(bucket('0.1')).toBe(0);
      expect(bucket('0.25')).toBe(1);
      expect(bucket('+Inf')).toBe(1);
      expect(bucket('0.001', failure)).toBe(2);
      expect(
        samplesOf(m, 'circuit_breaker_call_duration_seconds_bucket', success).map(
          (s) => s.labels.le,
        ),
      ).toEqual([...DEFAULT_DURATION_BUCKETS.map(String), '+Inf']);

      await clock.advance(1_000); // resetTimeout: half-open
      m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(2);
      const transition = (from: string, to: string) =>
        valueOf(m, 'circuit_breaker_state_transitions_total', { name: PAY, from, to });
      expect(transition('open', 'half-open')).toBe(1);

      resilience.circuitBreaker(PAY)!.open();
      m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(1);
      expect(transition('half-open', 'open')).toBe(1);

      resilience.circuitBreaker(PAY)!.close();
      await expect(service.pay(false)).resolves.toBe('paid');
      m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(0);
      expect(transition('open', 'closed')).toBe(1);
      expect(transition('closed', 'open')).toBe(1);
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'success' })).toBe(2);
    });

    it('retry_calls_total by result', async () => {
      const { service } = await start();
      const name = 'MeteredService.retried';
      await expect(service.retried(['ok'])).resolves.toBe('ok');
      await expect(driven(service.retried(['fail', 'ok']), 10)).resolves.toBe('ok');
      await expect(driven(service.retried(['fail', 'fail']), 10)).rejects.toThrow('fail');
      await expect(service.retried(['fatal'])).rejects.toThrow('fatal');
      await expect(service.retried(['fatal'])).rejects.toThrow('fatal');

      const m = await scrape();
      const value = (result: string) => valueOf(m, 'retry_calls_total', { name, result });
      expect(value('success_without_retry')).toBe(1);
      expect(value('success_with_retry')).toBe(1);
      expect(value('failed_with_retry')).toBe(1);
      expect(value('failed_without_retry')).toBe(2);
    });

    it('timeout_total', async () => {
      const { service } = await start();
      const name = 'MeteredService.slow';
      expect(valueOf(await scrape(), 'timeout_total', { name })).toBe(0);

      await expect(service.slow(Promise.resolve('fast'))).resolves.toBe('fast');
      const never = new Promise<string>(() => undefined);
      await expect(driven(service.slow(never), 50)).rejects.toBeInstanceOf(TimeoutError);
      expect(valueOf(await scrape(), 'timeout_total', { name })).toBe(1);
    });

    it('bulkhead_active, bulkhead_queued, bulkhead_rejected_total', async () => {
      const { service } = await start();
      const name = 'MeteredService.narrow';
      const gate = deferred<string>();
      const running = service.narrow(gate.promise);
      const waiting = service.narrow(gate.promise);
      await expect(service.narrow(gate.promise)).rejects.toBeInstanceOf(BulkheadRejectedError);

      let m = await scrape();
      expect(valueOf(m, 'bulkhead_active', { name })).toBe(1);
      expect(valueOf(m, 'bulkhead_queued', { name })).toBe(1);
      expect(valueOf(m, 'bulkhead_rejected_total', { name })).toBe(1);

      gate.resolve('done');
      await expect(Promise.all([running, waiting])).resolves.toEqual(['done', 'done']);
      m = await scrape();
      expect(valueOf(m, 'bulkhead_active', { name })).toBe(0);
      expect(valueOf(m, 'bulkhead_queued', { name })).toBe(0);
      expect(valueOf(m, 'bulkhead_rejected_total', { name })).toBe(1);
    });

    it('dead_letters_total by policy, and the queue side of dead letters', async () => {
      const { service } = await start();
      let m = await scrape();
      expect(samplesOf(m, 'dead_letters_total')).toEqual([]);
      expect(valueOf(m, 'dead_letters_published_total')).toBe(0);

      await expect(service.doomed()).rejects.toThrow('gone');
      await expect(service.doomed()).rejects.toThrow('gone');
      m = await scrape();
      expect(valueOf(m, 'dead_letters_total', { name: 'MeteredService.doomed' })).toBe(2);
      expect(valueOf(m, 'dead_letters_published_total')).toBe(2);
      expect(valueOf(m, 'dead_letter_publish_failures_total')).toBe(0);
      expect(valueOf(m, 'dead_letters_dropped_total')).toBe(0);
      expect(valueOf(m, 'dead_letters_buffered')).toBe(0);
    });

    it('SLO gauges read at scrape time, and slo_violations_total per crossing', async () => {
      const { service, resilience } = await start(
        { registry },
        { slo: { [PAY]: { target: 0.75, window: 10_000, minimumCalls: 5 } } },
      );
      const stats = jest.spyOn(resilience, 'stats');
      const slo = (m: Sample[]) => ({
        success: valueOf(m, 'slo_success_ratio', { name: PAY }),
        budget: valueOf(m, 'slo_error_budget_remaining_ratio', { name: PAY }),
        target: valueOf(m, 'slo_target_ratio', { name: PAY }),
        violated: valueOf(m, 'slo_violated', { name: PAY }),
        violations: valueOf(m, 'slo_violations_total', { name: PAY }),
      });
      // alternating outcomes: never two failures in a row, so the breaker stays closed
      const okThenFail = async (times: number) => {
        for (let i = 0; i < times; i++) {
          await service.pay(false);
          await expect(service.pay(true)).rejects.toThrow('declined');
        }
      };

      let m = await scrape();
      expect(stats).toHaveBeenCalledTimes(1); // five more metrics, still one stats() per scrape
      expect(slo(m)).toEqual({ success: 1, budget: 1, target: 0.75, violated: 0, violations: 0 });
      // only configured SLOs have series
      expect(samplesOf(m, 'slo_success_ratio').map((s) => s.labels.name)).toEqual([PAY]);

      for (let i = 0; i < 6; i++) await service.pay(false);
      await clock.advance(5_000);
      await okThenFail(3); // 12 calls, 3 failed: 0.75 meets the target, the budget (3) is spent
      m = await scrape();
      expect(slo(m)).toEqual({
        success: 0.75,
        budget: 0,
        target: 0.75,
        violated: 0,
        violations: 0,
      });

      // the six successes of the start leave the window: found violated by the scrape itself
      await clock.advance(5_000);
      m = await scrape();
      expect(stats).toHaveBeenCalledTimes(3);
      expect(slo(m)).toEqual({ success: 0.5, budget: 0, target: 0.75, violated: 1, violations: 1 });

      await okThenFail(1); // still violated: not a new crossing
      expect(slo(await scrape()).violations).toBe(1);

      await clock.advance(10_000); // an empty window: recovered
      m = await scrape();
      expect(slo(m)).toEqual({ success: 1, budget: 1, target: 0.75, violated: 0, violations: 1 });

      // violated on the call path this time; rejected calls count as failures
      // (the failure before the quiet spell was the first of a row: this second one opens it)
      await expect(service.pay(true)).rejects.toThrow('declined');
      for (let i = 0; i < 4; i++) {
        await expect(service.pay(false)).rejects.toBeInstanceOf(CircuitOpenError);
      }
      m = await scrape();
      expect(slo(m)).toEqual({ success: 0, budget: 0, target: 0.75, violated: 1, violations: 2 });
      expect(resilience.stats().slo[PAY]).toMatchObject({ calls: 5, failures: 5 });
    });

    it('SLO series carry the constant labels and the prefix', async () => {
      const { service } = await start(
        { registry, prefix: 'shop_', labels: { app: 'shop' } },
        { slo: { [PAY]: { target: 0.5, window: 60_000, minimumCalls: 1 } } },
      );
      await expect(service.pay(true)).rejects.toThrow('declined');
      const m = await scrape();
      expect(valueOf(m, 'shop_slo_violated', { app: 'shop', name: PAY })).toBe(1);
      expect(valueOf(m, 'shop_slo_violations_total', { app: 'shop', name: PAY })).toBe(1);
      expect(valueOf(m, 'shop_slo_target_ratio', { app: 'shop', name: PAY })).toBe(0.5);
    });

    it('serves HELP and TYPE for every metric', async () => {
      await start();
      const text = await registry.metrics();
      const types = Object.fromEntries(
        [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name, type]),
      );
      expect(types).toEqual({
        circuit_breaker_state: 'gauge',
        circuit_breaker_calls_total: 'counter',
        circuit_breaker_state_transitions_total: 'counter',
        circuit_breaker_call_duration_seconds: 'histogram',
        retry_calls_total: 'counter',
        timeout_total: 'counter',
        bulkhead_active: 'gauge',
        bulkhead_queued: 'gauge',
        bulkhead_rejected_total: 'counter',
        dead_letters_total: 'counter',
        dead_letters_published_total: 'counter',
        dead_letter_publish_failures_total: 'counter',
        dead_letters_dropped_total: 'counter',
        dead_letters_buffered: 'gauge',
        slo_success_ratio: 'gauge',
        slo_error_budget_remaining_ratio: 'gauge',
        slo_target_ratio: 'gauge',
        slo_violated: 'gauge',
        slo_violations_total: 'counter',
      });
      expect(text.match(/^# HELP \S+ \S.*$/gm)).toHaveLength(19);
    });
  });

  describe('collection', () => {
    afterEach(() => jest.restoreAllMocks()); // Logger.prototype.warn, spied below

    it('reads stats() once per scrape, not per call', async () => {
      const { service, resilience } = await start();
      const stats = jest.spyOn(resilience, 'stats');
      await service.pay(false);
      await service.pay(false);
      expect(stats).not.toHaveBeenCalled();
      await scrape();
      expect(stats).toHaveBeenCalledTimes(1);
      await scrape();
      expect(stats).toHaveBeenCalledTimes(2);
    });

    it('a stats() that throws is logged once; the scrape serves the last figures read', async () => {
      const { service, resilience } = await start();
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      await service.pay(false);
      await scrape(); // the figures served while stats() fails
      await expect(service.pay(true)).rejects.toThrow('declined');
      await expect(service.pay(true)).rejects.toThrow('declined'); // opens: a transition
      const stats = jest.spyOn(resilience, 'stats').mockImplementation(() => {
        throw new Error('stats broke');
      });

      for (let i = 0; i < 2; i++) {
        const m = await scrape();
        // read from stats(): the last figures that could be read, never a counter back at 0
        expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(0);
        expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'success' })).toBe(1);
        expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'failure' })).toBe(0);
        // counted by the exporter itself: up to date
        expect(
          valueOf(m, 'circuit_breaker_state_transitions_total', {
            name: PAY,
            from: 'closed',
            to: 'open',
          }),
        ).toBe(1);
        expect(
          valueOf(m, 'circuit_breaker_call_duration_seconds_count', {
            name: PAY,
            result: 'failure',
          }),
        ).toBe(2);
      }
      expect(stats).toHaveBeenCalledTimes(2); // once per scrape, failed or not
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toMatch(
        /registry\.stats\(\) threw \(Error: stats broke\); scrapes serve the figures of the last/,
      );
      expect((warn.mock.contexts[0] as { context?: string }).context).toBe('Resilience');

      // working again: current figures, and a later failure is logged again
      stats.mockRestore();
      const m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: PAY })).toBe(1);
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'failure' })).toBe(2);
      jest.spyOn(resilience, 'stats').mockImplementation(() => {
        throw new Error('stats broke again');
      });
      expect(valueOf(await scrape(), 'circuit_breaker_state', { name: PAY })).toBe(1);
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn.mock.calls[1][0]).toMatch(/stats broke again/);
    });

    it('a stats() that throws from the first scrape: the other metrics are served', async () => {
      const { service, resilience } = await start();
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      await service.pay(false);
      jest.spyOn(resilience, 'stats').mockImplementation(() => {
        throw new Error('stats broke');
      });
      const m = await scrape();
      expect(samplesOf(m, 'circuit_breaker_state')).toEqual([]);
      expect(
        valueOf(m, 'circuit_breaker_call_duration_seconds_count', { name: PAY, result: 'success' }),
      ).toBe(1);
      expect(warn.mock.calls).toEqual([[expect.stringMatching(/only the metrics counted from/)]]);
    });

    it('a counter read alone still counts what its own stats() read emitted', async () => {
      const { service } = await start(
        { registry },
        {
          slo: { [PAY]: { target: 0.5, window: 10_000, minimumCalls: 2 } },
          // the fake time without its timers: the breaker's reset timer does not fire
          clock: { now: () => clock.now() },
        },
      );
      const value = async (metric: string, labels: Record<string, string>) =>
        valueOf(parseMetrics(await registry.getSingleMetricAsString(metric)), metric, labels);

      await service.pay(false);
      await service.pay(false);
      await clock.advance(5_000);
      // never two failures in a row: the breaker stays closed; 3 of 5 calls met the target
      await expect(service.pay(true)).rejects.toThrow('declined');
      await service.pay(false);
      await expect(service.pay(true)).rejects.toThrow('declined');
      expect(await value('slo_violations_total', { name: PAY })).toBe(0);
      // the first two successes leave the window: found violated by this read's stats()
      await clock.advance(5_000);
      expect(await value('slo_violations_total', { name: PAY })).toBe(1);

      await expect(service.pay(true)).rejects.toThrow('declined'); // opens the breaker
      // past the reset timeout, and no call or timer has looked at the breaker since: it turns
      // half-open while the scrape reads stats()
      await clock.advance(1_000);
      const transition = { name: PAY, from: 'open', to: 'half-open' };
      expect(await value('circuit_breaker_state_transitions_total', transition)).toBe(1);
    });

    it('shows policies created after registration (named policy sets, on first use)', async () => {
      const { resilience } = await start(
        { registry },
        {
          policies: {
            lazy: { circuitBreaker: { failureThreshold: 3 }, timeout: { timeout: 100 } },
          },
        },
      );
      let m = await scrape();
      expect(samplesOf(m, 'circuit_breaker_state', { name: 'lazy' })).toEqual([]);

      await expect(resilience.policy('lazy')!.execute(async () => 'x')).resolves.toBe('x');
      m = await scrape();
      expect(valueOf(m, 'circuit_breaker_state', { name: 'lazy' })).toBe(0);
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: 'lazy', result: 'success' })).toBe(
        1,
      );
      expect(valueOf(m, 'timeout_total', { name: 'lazy' })).toBe(0);
      expect(
        valueOf(m, 'circuit_breaker_call_duration_seconds_count', {
          name: 'lazy',
          result: 'success',
        }),
      ).toBe(1);
    });

    it('adds constant labels to every series', async () => {
      const { service } = await start({ registry, labels: { app: 'shop', region: 'eu' } });
      await service.pay(false);
      const m = await scrape();
      expect(m.length).toBeGreaterThan(20);
      for (const sample of m) expect(sample.labels).toMatchObject({ app: 'shop', region: 'eu' });
      expect(
        valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'success', app: 'shop' }),
      ).toBe(1);
    });

    it('prefixes every metric name', async () => {
      const { service } = await start({ registry, prefix: 'shop_' });
      await service.pay(false);
      const names = new Set((await scrape()).map((s) => s.name));
      expect(names).toContain('shop_circuit_breaker_state');
      expect(names).toContain('shop_circuit_breaker_call_duration_seconds_bucket');
      expect([...names].filter((name) => !name.startsWith('shop_'))).toEqual([]);
    });

    it('uses custom buckets', async () => {
      const { service } = await start({ registry, buckets: [0.1, 1] });
      await service.pay(false);
      const le = samplesOf(await scrape(), 'circuit_breaker_call_duration_seconds_bucket', {
        name: PAY,
        result: 'success',
      }).map((s) => s.labels.le);
      expect(le).toEqual(['0.1', '1', '+Inf']);
    });

    it("defaults to prom-client's global registry, and leaves it empty after shutdown", async () => {
      const { app, service } = await start({});
      await service.pay(false);
      const m = parseMetrics(await globalRegistry.metrics());
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'success' })).toBe(1);
      expect(registry.getMetricsAsArray()).toEqual([]); // the other registry is untouched
      await apps.close(app);
      expect(globalRegistry.getSingleMetric('circuit_breaker_calls_total')).toBeUndefined();
    });

    it('forRootAsync takes the options from a factory', async () => {
      @Module({
        providers: [{ provide: 'METRICS_REGISTRY', useValue: registry }],
        exports: ['METRICS_REGISTRY'],
      })
      class MetricsConfigModule {}
      await apps.start({
        imports: [
          ResilienceModule.forRoot({ clock }),
          ResiliencePrometheusModule.forRootAsync({
            imports: [MetricsConfigModule],
            inject: ['METRICS_REGISTRY'],
            useFactory: (target: Registry) => ({ registry: target, prefix: 'async_' }),
          }),
        ],
        providers: [MeteredService],
      });
      expect(valueOf(await scrape(), 'async_circuit_breaker_state', { name: PAY })).toBe(0);
    });

    it('finds a ResilienceModule registered with isGlobal: false', async () => {
      await apps.start({
        imports: [
          ResilienceModule.forRoot({ clock, isGlobal: false }),
          ResiliencePrometheusModule.forRoot({ registry }),
        ],
        providers: [MeteredService],
      });
      expect(valueOf(await scrape(), 'circuit_breaker_state', { name: PAY })).toBe(0);
    });
  });

  describe('shutdown and sharing', () => {
    it('removes the metrics and releases the registry when the application closes', async () => {
      const { app, resilience } = await start();
      const internals = resilience as unknown as { callObservers: unknown[]; observers: number };
      expect(internals.callObservers).toHaveLength(1);
      expect(internals.observers).toBe(1);
      expect(registry.getSingleMetric('circuit_breaker_state')).toBeDefined();

      await apps.close(app);
      expect(registry.getMetricsAsArray()).toEqual([]);
      expect(await registry.metrics()).toBe('\n');
      expect(internals.callObservers).toHaveLength(0);
      expect(internals.observers).toBe(0);
    });

    it('two applications share one registry when their labels differ', async () => {
      const a = await start({ registry, labels: { app: 'a' } });
      const b = await start({ registry, labels: { app: 'b' } });
      await a.service.pay(false);
      await a.service.pay(false);
      await expect(b.service.pay(true)).rejects.toThrow('declined');

      let m = await scrape();
      const calls = (app: string, result: string) =>
        samplesOf(m, 'circuit_breaker_calls_total', { app, name: PAY, result }).map((s) => s.value);
      expect(calls('a', 'success')).toEqual([2]);
      expect(calls('a', 'failure')).toEqual([0]);
      expect(calls('b', 'success')).toEqual([0]);
      expect(calls('b', 'failure')).toEqual([1]);
      expect(
        valueOf(m, 'circuit_breaker_call_duration_seconds_count', {
          app: 'a',
          name: PAY,
          result: 'success',
        }),
      ).toBe(2);

      await apps.close(a.app); // a's series go, b's stay
      m = await scrape();
      expect(m.filter((s) => s.labels.app === 'a')).toEqual([]);
      expect(calls('b', 'failure')).toEqual([1]);
      expect(
        samplesOf(m, 'circuit_breaker_call_duration_seconds_count', {
          app: 'b',
          result: 'failure',
        }),
      ).toHaveLength(1);

      await apps.close(b.app);
      expect(registry.getMetricsAsArray()).toEqual([]);
    });

    it('two applications with the same labels on one registry fail with a clear error', async () => {
      await start({ registry, labels: { app: 'a' } });
      const same = await bootstrapError({ registry, labels: { app: 'a' } });
      expect(same).toBeInstanceOf(ResilienceConfigError);
      expect(same).toMatchObject({ key: 'labels', value: { app: 'a' } });
      expect(same.message).toMatch(
        /already collected into this prom-client registry with the same constant labels \{"app":"a"\}.*own "labels"/,
      );
      expect(await bootstrapError({ registry, labels: { team: 'x' } })).toMatchObject({
        key: 'labels',
        message: expect.stringMatching(/constant label names \[app\]; these options give \[team\]/),
      });
      expect(await bootstrapError({ registry, labels: { app: 'b' }, buckets: [1] })).toMatchObject({
        key: 'buckets',
        message: expect.stringMatching(
          /duration buckets \[0.001, .*, 60\]; these options give \[1\]/,
        ),
      });
      // a different prefix is a separate set of metrics
      await expect(
        start({ registry, prefix: 'other_', labels: { app: 'a' } }),
      ).resolves.toBeDefined();
      expect(registry.getSingleMetric('other_timeout_total')).toBeDefined();
    });

    it('refuses a metric name it did not create', async () => {
      new Gauge({ name: 'timeout_total', help: 'mine', registers: [registry] });
      const error = await bootstrapError({ registry });
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error.message).toMatch(/already holds a metric named "timeout_total".*"prefix"/);
      expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(['timeout_total']);
    });

    it('collectResilienceMetrics() works without the Nest module, until dispose()', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot({ clock })],
        providers: [MeteredService],
      });
      const resilience = app.get(ResilienceRegistry);
      const collection = collectResilienceMetrics(resilience, { registry });
      await app.get(MeteredService).pay(false);
      const m = await scrape();
      expect(valueOf(m, 'circuit_breaker_calls_total', { name: PAY, result: 'success' })).toBe(1);
      expect(
        valueOf(m, 'circuit_breaker_call_duration_seconds_count', { name: PAY, result: 'success' }),
      ).toBe(1);

      collection.dispose();
      collection.dispose(); // twice is harmless
      expect(registry.getMetricsAsArray()).toEqual([]);
      await app.get(MeteredService).pay(false); // no observer left to fail
      // the same labels are free again
      collectResilienceMetrics(resilience, { registry }).dispose();
    });
  });

  describe('configuration errors', () => {
    it.each<[string, Record<string, unknown>, RegExp]>([
      ['prefix', { prefix: 'my-app' }, /"prefix" is "my-app"; expected a string of letters/],
      ['prefix', { prefix: 7 }, /"prefix" is 7/],
      [
        'buckets',
        { buckets: [1, 0.5] },
        /"buckets" is \[1,0.5\]; expected a non-empty array of increasing/,
      ],
      ['buckets', { buckets: [] }, /"buckets" is \[\]/],
      ['buckets', { buckets: [0.1, Number.NaN] }, /"buckets"/],
      [
        'labels.name',
        { labels: { name: 'x' } },
        /"labels.name" is "x"; expected a label name .*none of name, result, from, to, le/,
      ],
      ['labels.app', { labels: { app: 1 } }, /"labels.app" is 1; expected a string/],
      ['labels.bad-name', { labels: { 'bad-name': 'x' } }, /"labels.bad-name"/],
      ['registry', { registry: {} }, /"registry" is \{\}; expected a prom-client Registry/],
      [
        'prefx',
        { prefx: 'a_' },
        /unknown key "prefx". Known keys: registry, prefix, buckets, labels/,
      ],
    ])('%s: bootstrap fails with ResilienceConfigError', async (key, options, message) => {
      const error = await bootstrapError({ registry, ...options } as ResiliencePrometheusOptions);
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error).toMatchObject({ key, message: expect.stringMatching(message) });
      expect(registry.getMetricsAsArray()).toEqual([]);
    });

    it.each([['yes'], [{ path: 3 }], [{ route: 'metrics' }]])(
      'controller %j fails when the module is registered',
      (controller) => {
        expect(() => ResiliencePrometheusModule.forRoot({ controller } as never)).toThrow(
          ResilienceConfigError,
        );
      },
    );

    it('collectResilienceMetrics() names a first argument that is not a ResilienceRegistry', () => {
      expect(() => collectResilienceMetrics({} as never, { registry })).toThrow(
        /needs the application's ResilienceRegistry .*; got \{\}/,
      );
      expect(registry.getMetricsAsArray()).toEqual([]);
    });

    it('names the missing ResilienceModule', async () => {
      await expect(
        apps.start({ imports: [ResiliencePrometheusModule.forRoot({ registry })] }),
      ).rejects.toThrow(
        /found no ResilienceRegistry in the application.*ResilienceModule.forRoot\(\)/,
      );
    });
  });
});
