import { Injectable } from '@nestjs/common';
import { context, metrics, trace, type Attributes, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  Bulkhead,
  CircuitBreaker,
  DeadLetter,
  RateLimit,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceModuleOptions,
  ResilienceRegistry,
  Retry,
  Timeout,
} from '../../lib';
import {
  INSTRUMENTS,
  instrumentResilience,
  ResilienceOpenTelemetry,
  ResilienceOpenTelemetryModule,
  SPAN_EVENTS,
} from '../../lib/opentelemetry';
import { DEFAULT_DURATION_BUCKETS } from '../../lib/prometheus';
import { UpstreamError } from '../fixtures/flaky-client';
import { deferred, rejectionOf, settle, sleep, useTestApps } from '../fixtures/testing-app';
import { FakeClock } from '../utils/fake-clock';

@Injectable()
class Gateway {
  fail = false;
  flaky = 0;
  gate = deferred<string>();

  @CircuitBreaker('payments', { failureThreshold: 2, resetTimeout: 1000, successThreshold: 1 })
  async charge(): Promise<string> {
    if (this.fail) throw new UpstreamError('charge failed');
    return 'charged';
  }

  /** A breaker call that waits for the gate: its duration is what the test's clock says. */
  @CircuitBreaker('slow-payments')
  async settleSlowly(): Promise<string> {
    return this.gate.promise;
  }

  @Retry({ maxAttempts: 3, backoff: { type: 'fixed', initialDelay: 10, jitter: 'none' } })
  async fetch(): Promise<string> {
    if (this.flaky > 0) {
      this.flaky--;
      throw new UpstreamError(`flaky, ${this.flaky} failure(s) to go`);
    }
    return 'fetched';
  }

  @Timeout(20)
  async slow(): Promise<string> {
    return this.gate.promise;
  }

  @Bulkhead({ maxConcurrent: 1 })
  async narrow(): Promise<string> {
    return this.gate.promise;
  }

  @DeadLetter({ swallow: true })
  async post(_body: string): Promise<void> {
    throw new UpstreamError('post failed');
  }

  @RateLimit({ limit: 1, interval: 60_000 })
  async limited(): Promise<string> {
    return 'permitted';
  }
}

/** A pull reader: `collect()` on demand, nothing exported on a timer. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function collect(reader: TestReader): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

function metric(all: MetricData[], name: string): MetricData {
  const found = all.find((m) => m.descriptor.name === name);
  if (!found) throw new Error(`no metric ${name}; got ${all.map((m) => m.descriptor.name)}`);
  return found;
}

/** The value of the data point with exactly these attributes. */
function valueOf(all: MetricData[], name: string, attributes: Attributes): unknown {
  const points = metric(all, name).dataPoints as { attributes: Attributes; value: unknown }[];
  const point = points.find(
    (p) => JSON.stringify(sorted(p.attributes)) === JSON.stringify(sorted(attributes)),
  );
  if (!point) {
    throw new Error(
      `no point ${JSON.stringify(attributes)} in ${name}: ${JSON.stringify(points.map((p) => p.attributes))}`,
    );
  }
  return point.value;
}

const sorted = (a: Attributes) => Object.fromEntries(Object.entries(a).sort());

describe('OpenTelemetry exporter', () => {
  const apps = useTestApps();

  const start = async (
    imports: unknown[] = [],
    clock: FakeClock | null = new FakeClock(), // null: the real clock
    options: ResilienceModuleOptions = {},
  ) => {
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({ shutdownTimeout: 200, ...(clock && { clock }), ...options }),
        ...(imports as never[]),
      ],
      providers: [Gateway],
    });
    return {
      app,
      clock: clock ?? undefined,
      registry: app.get(ResilienceRegistry),
      gateway: app.get(Gateway),
    };
  };

  describe('metrics', () => {
    let provider: MeterProvider;
    let reader: TestReader;
    beforeEach(() => {
      reader = new TestReader();
      provider = new MeterProvider({ readers: [reader] });
    });
    afterEach(() => provider.shutdown());

    it('reports every instrument with the policy name and the result, from and to attributes', async () => {
      const { app, clock, gateway } = await start([
        ResilienceOpenTelemetryModule.forRoot({ meterProvider: provider, spanEvents: false }),
      ]);
      expect(app.get(ResilienceOpenTelemetry).metrics).toBe(true);

      // a breaker call of 1.5 s on the module clock
      const slow = settle(gateway.settleSlowly());
      await clock!.advance(1500);
      gateway.gate.resolve('late');
      await clock!.advance(0);
      expect(slow.value).toBe('late');
      // retry: one success after two failures, one at once
      gateway.flaky = 2;
      const fetched = settle(gateway.fetch());
      await clock!.advance(10);
      await clock!.advance(10);
      expect(fetched.value).toBe('fetched');
      await gateway.fetch();
      // timeout
      gateway.gate = deferred();
      const timedOut = settle(gateway.slow());
      await clock!.advance(20);
      expect(timedOut.status).toBe('rejected');
      // bulkhead: one running, one rejected
      const running = settle(gateway.narrow());
      await rejectionOf(gateway.narrow());
      // dead letter
      await gateway.post('body');
      // breaker: 1 success, 2 failures (opens it), 1 rejection
      await gateway.charge();
      gateway.fail = true;
      await rejectionOf(gateway.charge());
      await rejectionOf(gateway.charge());
      await rejectionOf(gateway.charge());

      const all = await collect(reader);
      const m = INSTRUMENTS;
      expect(valueOf(all, m.circuitBreakerState, { name: 'payments' })).toBe(1);
      expect(valueOf(all, m.circuitBreakerState, { name: 'slow-payments' })).toBe(0);
      expect(valueOf(all, m.circuitBreakerCalls, { name: 'payments', result: 'success' })).toBe(1);
      expect(valueOf(all, m.circuitBreakerCalls, { name: 'payments', result: 'failure' })).toBe(2);
      expect(valueOf(all, m.circuitBreakerCalls, { name: 'payments', result: 'rejected' })).toBe(1);
      expect(
        valueOf(all, m.circuitBreakerStateTransitions, {
          name: 'payments',
          from: 'closed',
          to: 'open',
        }),
      ).toBe(1);
      const payments = valueOf(all, m.circuitBreakerCallDuration, {
        name: 'payments',
        result: 'failure',
      }) as { count: number; sum: number };
      expect(payments).toMatchObject({ count: 2, sum: 0 });
      const slowCall = valueOf(all, m.circuitBreakerCallDuration, {
        name: 'slow-payments',
        result: 'success',
      }) as { count: number; sum: number; buckets: { boundaries: number[]; counts: number[] } };
      expect(slowCall).toMatchObject({ count: 1, sum: 1.5 }); // seconds
      // the 1.5 s call lies in the (1, 2.5] bucket
      const bucket = slowCall.buckets.boundaries.indexOf(2.5);
      expect(slowCall.buckets.counts[bucket]).toBe(1);
      const fetch = (result: string) =>
        valueOf(all, m.retryCalls, { name: 'Gateway.fetch', result });
      expect(fetch('success_with_retry')).toBe(1);
      expect(fetch('success_without_retry')).toBe(1);
      expect(fetch('failed_with_retry')).toBe(0);
      expect(fetch('failed_without_retry')).toBe(0);
      expect(valueOf(all, m.timeouts, { name: 'Gateway.slow' })).toBe(1);
      expect(valueOf(all, m.bulkheadActive, { name: 'Gateway.narrow' })).toBe(1);
      expect(valueOf(all, m.bulkheadQueued, { name: 'Gateway.narrow' })).toBe(0);
      expect(valueOf(all, m.bulkheadRejections, { name: 'Gateway.narrow' })).toBe(1);
      expect(valueOf(all, m.deadLetters, { name: 'Gateway.post' })).toBe(1);
      // the dead-letter queue's own figures have no policy name
      expect(valueOf(all, m.deadLettersPublished, {})).toBe(1);
      expect(valueOf(all, m.deadLetterPublishFailures, {})).toBe(0);
      expect(valueOf(all, m.deadLettersDropped, {})).toBe(0);
      expect(valueOf(all, m.deadLettersBuffered, {})).toBe(0);

      // units and instrument kinds, as documented
      const kind = (name: string) => metric(all, name).dataPointType;
      expect(metric(all, m.circuitBreakerCallDuration).descriptor.unit).toBe('s');
      expect(kind(m.circuitBreakerCallDuration)).toBe(DataPointType.HISTOGRAM);
      expect(kind(m.circuitBreakerState)).toBe(DataPointType.GAUGE);
      expect(kind(m.circuitBreakerCalls)).toBe(DataPointType.SUM);
      expect(metric(all, m.circuitBreakerCalls)).toMatchObject({ isMonotonic: true });
      expect(metric(all, m.bulkheadActive)).toMatchObject({ isMonotonic: false });

      // figures are read at collection time
      gateway.gate.resolve('done');
      await clock!.advance(0);
      expect(running.status).toBe('resolved');
      const later = await collect(reader);
      expect(valueOf(later, m.bulkheadActive, { name: 'Gateway.narrow' })).toBe(0);
      expect(valueOf(later, m.circuitBreakerState, { name: 'payments' })).toBe(1);
      await clock!.advance(1000); // reset timeout: half-open
      const halfOpen = await collect(reader);
      expect(valueOf(halfOpen, m.circuitBreakerState, { name: 'payments' })).toBe(2);
      expect(
        valueOf(halfOpen, m.circuitBreakerStateTransitions, {
          name: 'payments',
          from: 'open',
          to: 'half-open',
        }),
      ).toBe(1);
    });

    it('reports each SLO: ratios and violated read at collection, violations counted', async () => {
      const { registry, clock, gateway } = await start([], new FakeClock(), {
        slo: { payments: { target: 0.75, window: 10_000, minimumCalls: 4 } },
      });
      const handle = instrumentResilience(registry, { meterProvider: provider, spanEvents: false });
      const m = INSTRUMENTS;
      const slo = async () => {
        const all = await collect(reader);
        const of = (name: string) => valueOf(all, name, { name: 'payments' });
        return {
          success: of(m.sloSuccessRatio),
          budget: of(m.sloErrorBudgetRemaining),
          target: of(m.sloTarget),
          violated: of(m.sloViolated),
          violations: of(m.sloViolations),
        };
      };
      const charge = async (outcomes: string) => {
        for (const outcome of outcomes) {
          gateway.fail = outcome === 'x';
          await gateway.charge().catch(() => undefined);
        }
      };

      expect(await slo()).toEqual({
        success: 1,
        budget: 1,
        target: 0.75,
        violated: 0,
        violations: 0,
      });
      await charge('...x'); // 3 of 4: the target met, the budget (1) spent
      expect(await slo()).toEqual({
        success: 0.75,
        budget: 0,
        target: 0.75,
        violated: 0,
        violations: 0,
      });
      await charge('.x'); // 4 of 6: violated on the call path
      expect(await slo()).toMatchObject({ success: 4 / 6, violated: 1, violations: 1 });

      await clock!.advance(10_000); // an empty window: recovered, the counter keeps its count
      expect(await slo()).toMatchObject({ success: 1, budget: 1, violated: 0, violations: 1 });

      // a violation found by the collection itself: the four successes leave the window
      await charge('....');
      await clock!.advance(5_000);
      await charge('.x.x');
      expect(await slo()).toMatchObject({ success: 0.75, violated: 0, violations: 1 });
      await clock!.advance(5_000);
      expect(await slo()).toMatchObject({ success: 0.5, violated: 1, violations: 2 });

      const all = await collect(reader);
      expect(metric(all, m.sloSuccessRatio)).toMatchObject({
        dataPointType: DataPointType.GAUGE,
        descriptor: { unit: '1' },
      });
      expect(metric(all, m.sloViolated).dataPointType).toBe(DataPointType.GAUGE);
      expect(metric(all, m.sloViolations)).toMatchObject({
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
      });
      // SLOs only: the breaker without an SLO has no series
      expect(metric(all, m.sloTarget).dataPoints.map((p) => p.attributes)).toEqual([
        { name: 'payments' },
      ]);
      handle.dispose();
    });

    it('adds the constant attributes to every measurement', async () => {
      const { registry, gateway } = await start();
      const handle = instrumentResilience(registry, {
        meterProvider: provider,
        attributes: { app: 'billing' },
        spanEvents: false,
      });
      await gateway.charge();
      const all = await collect(reader);
      expect(
        valueOf(all, INSTRUMENTS.circuitBreakerCalls, {
          app: 'billing',
          name: 'payments',
          result: 'success',
        }),
      ).toBe(1);
      handle.dispose();
    });

    it('refuses a second registry on the same meter with the same attributes, clearly', async () => {
      const first = await start();
      const second = await start();
      const a = instrumentResilience(first.registry, { meterProvider: provider });
      let error: unknown;
      try {
        instrumentResilience(second.registry, { meterProvider: provider });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect((error as Error).message).toMatch(
        /another ResilienceRegistry already reports to the meter "nestjs-fault-tolerance".*"attributes"/,
      );
      // distinct attributes: both report, each its own series
      const b = instrumentResilience(second.registry, {
        meterProvider: provider,
        attributes: { app: 'second' },
      });
      await first.gateway.charge();
      await second.gateway.charge();
      await second.gateway.charge();
      const all = await collect(reader);
      const calls = (attrs: Attributes) =>
        valueOf(all, INSTRUMENTS.circuitBreakerCalls, { ...attrs, result: 'success' });
      expect(calls({ name: 'payments' })).toBe(1);
      expect(calls({ name: 'payments', app: 'second' })).toBe(2);
      // once the first is disposed, its place is free again
      a.dispose();
      b.dispose();
      instrumentResilience(second.registry, { meterProvider: provider }).dispose();
    });

    it('dispose() removes the callback, the call observer and the subscription', async () => {
      const { registry, gateway } = await start();
      const observeCalls = jest.spyOn(registry, 'observeCalls');
      const handle = instrumentResilience(registry, {
        meterProvider: provider,
        spanEvents: false,
      });
      const observer = observeCalls.mock.results[0].value as { dispose(): void };
      const stopObserving = jest.spyOn(observer, 'dispose');
      await gateway.charge();
      expect((await collect(reader)).map((m) => m.descriptor.name)).toContain(
        INSTRUMENTS.circuitBreakerState,
      );
      handle.dispose();
      handle.dispose(); // idempotent
      expect(stopObserving).toHaveBeenCalledTimes(1);
      expect(subscribers(registry)).toBe(0);
      expect(registry.circuitBreaker('payments')!.callObserver).toBeUndefined();
      await gateway.charge();
      const stats = jest.spyOn(registry, 'stats');
      const after = await collect(reader);
      // no callback: stats are not read any more, the last figures stay as they were
      expect(stats).not.toHaveBeenCalled();
      expect(
        valueOf(after, INSTRUMENTS.circuitBreakerCalls, { name: 'payments', result: 'success' }),
      ).toBe(1);
      // the histogram saw the first call only
      expect(
        valueOf(after, INSTRUMENTS.circuitBreakerCallDuration, {
          name: 'payments',
          result: 'success',
        }),
      ).toMatchObject({ count: 1 });
    });

    it('callDuration: false keeps the call path free: no call observer, no histogram', async () => {
      const { registry, gateway } = await start();
      const observeCalls = jest.spyOn(registry, 'observeCalls');
      const handle = instrumentResilience(registry, {
        meterProvider: provider,
        callDuration: false,
      });
      expect(observeCalls).not.toHaveBeenCalled();
      expect(registry.circuitBreaker('payments')!.callObserver).toBeUndefined();
      await gateway.charge();
      const all = await collect(reader);
      const names = all.map((m) => m.descriptor.name);
      expect(names).not.toContain(INSTRUMENTS.circuitBreakerCallDuration);
      expect(
        valueOf(all, INSTRUMENTS.circuitBreakerCalls, { name: 'payments', result: 'success' }),
      ).toBe(1);
      handle.dispose();
    });

    it('stops at application shutdown', async () => {
      const { app, registry } = await start([
        ResilienceOpenTelemetryModule.forRoot({ meterProvider: provider }),
      ]);
      expect(subscribers(registry)).toBe(1);
      expect(registry.circuitBreaker('payments')!.callObserver).toBeDefined();
      await apps.close(app);
      expect(subscribers(registry)).toBe(0);
      expect(registry.circuitBreaker('payments')!.callObserver).toBeUndefined();
      const stats = jest.spyOn(registry, 'stats');
      await collect(reader);
      expect(stats).not.toHaveBeenCalled();
    });

    it('suggests the duration buckets of the Prometheus exporter: 1 ms to 60 s', async () => {
      const { registry, gateway } = await start();
      const handle = instrumentResilience(registry, { meterProvider: provider });
      await gateway.charge();
      const all = await collect(reader);
      const point = valueOf(all, INSTRUMENTS.circuitBreakerCallDuration, {
        name: 'payments',
        result: 'success',
      }) as { buckets: { boundaries: number[] } };
      expect(point.buckets.boundaries).toEqual([...DEFAULT_DURATION_BUCKETS]);
      expect(point.buckets.boundaries[0]).toBe(0.001);
      expect(point.buckets.boundaries.at(-1)).toBe(60);
      handle.dispose();
    });

    it('an application whose bootstrap fails leaves the meter free for the next one', async () => {
      @Injectable()
      class FailsAtInit {
        onModuleInit(): void {
          throw new Error('a later provider could not start');
        }
      }
      // the failing provider sits in the root module: its hook runs after the exporter's module
      const failed = await apps.compile({
        imports: [
          ResilienceModule.forRoot({ clock: new FakeClock() }),
          ResilienceOpenTelemetryModule.forRoot({ meterProvider: provider }),
        ],
        providers: [Gateway, FailsAtInit],
      });
      expect((await rejectionOf(failed.init())).message).toBe('a later provider could not start');
      const failedRegistry = failed.get(ResilienceRegistry);
      expect(subscribers(failedRegistry)).toBe(0);
      expect(failedRegistry.circuitBreaker('payments')?.callObserver).toBeUndefined();
      const stats = jest.spyOn(failedRegistry, 'stats');

      // the same meter and attributes: not refused, and only the new application is read
      const { app, gateway } = await start([
        ResilienceOpenTelemetryModule.forRoot({ meterProvider: provider, spanEvents: false }),
      ]);
      expect(app.get(ResilienceOpenTelemetry).metrics).toBe(true);
      await gateway.charge();
      const all = await collect(reader);
      expect(
        valueOf(all, INSTRUMENTS.circuitBreakerCalls, { name: 'payments', result: 'success' }),
      ).toBe(1);
      expect(stats).not.toHaveBeenCalled();
    });

    it('forRootAsync takes its options from a factory', async () => {
      const { app } = await start([
        ResilienceOpenTelemetryModule.forRootAsync({
          useFactory: () => ({ meterProvider: provider, meterName: 'from-factory' }),
        }),
      ]);
      await app.get(Gateway).charge();
      const { resourceMetrics } = await reader.collect();
      expect(resourceMetrics.scopeMetrics.map((s) => s.scope.name)).toEqual(['from-factory']);
    });
  });

  describe('options', () => {
    it.each([
      [{ meterName: '' }, /"meterName" is ""; expected a non-empty string/],
      [{ metrics: 'yes' }, /"metrics" is "yes"; expected true or false/],
      [{ spanEvents: 1 }, /"spanEvents" is 1; expected true or false/],
      [{ callDuration: 'no' }, /"callDuration" is "no"; expected true or false/],
      [
        { meterProvider: {} },
        /"meterProvider" is an object of the wrong shape; expected a MeterProvider/,
      ],
      [{ tracerProvider: 'x' }, /"tracerProvider" is "x"; expected a TracerProvider/],
      [{ attributes: { name: 'x' } }, /"attributes" may not set "name"/],
      [{ attributes: { app: {} } }, /"attributes.app" is an object of the wrong shape/],
      [{ meterNmae: 'x' }, /"meterNmae" is "x"; expected one of meterProvider/],
    ])(
      '%j fails bootstrap with a ResilienceConfigError naming the option',
      async (options, message) => {
        const app = await apps.compile({
          imports: [
            ResilienceModule.forRoot(),
            ResilienceOpenTelemetryModule.forRoot(options as never),
          ],
        });
        const error = await rejectionOf(app.init());
        expect(error).toBeInstanceOf(ResilienceConfigError);
        expect(error.message).toMatch(message);
      },
    );

    it('without ResilienceModule, bootstrap fails and says what is missing', async () => {
      const app = await apps.compile({ imports: [ResilienceOpenTelemetryModule.forRoot()] });
      const error = await rejectionOf(app.init());
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error.message).toMatch(/found no ResilienceRegistry.*ResilienceModule\.forRoot\(\)/);
    });
  });

  describe('without an SDK', () => {
    it('subscribes to nothing and observes no call', async () => {
      expect(metrics.getMeterProvider().getMeter('x')).toBe(
        metrics.getMeterProvider().getMeter('y'),
      );
      const { registry, gateway } = await start();
      const observeCalls = jest.spyOn(registry, 'observeCalls');
      const subscribe = jest.spyOn(registry.events$, 'subscribe');
      const handle = instrumentResilience(registry);
      expect(handle).toMatchObject({ metrics: false, spanEvents: false });
      expect(observeCalls).not.toHaveBeenCalled();
      expect(subscribe).not.toHaveBeenCalled();
      expect(subscribers(registry)).toBe(0);
      expect(registry.circuitBreaker('payments')!.callObserver).toBeUndefined();
      await gateway.charge();
      handle.dispose();
    });

    it('the module does the same', async () => {
      const { app, registry } = await start([ResilienceOpenTelemetryModule.forRoot()]);
      expect(app.get(ResilienceOpenTelemetry)).toMatchObject({ metrics: false, spanEvents: false });
      expect(subscribers(registry)).toBe(0);
      expect(registry.circuitBreaker('payments')!.callObserver).toBeUndefined();
    });
  });

  describe('with a global SDK', () => {
    let meterProvider: MeterProvider;
    let reader: TestReader;
    let tracerProvider: BasicTracerProvider;
    beforeEach(() => {
      reader = new TestReader();
      meterProvider = new MeterProvider({ readers: [reader] });
      tracerProvider = new BasicTracerProvider();
      metrics.setGlobalMeterProvider(meterProvider);
      trace.setGlobalTracerProvider(tracerProvider);
    });
    afterEach(async () => {
      metrics.disable();
      trace.disable();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    });

    it('finds the registered providers by itself', async () => {
      const { app, registry, gateway } = await start([ResilienceOpenTelemetryModule.forRoot()]);
      expect(app.get(ResilienceOpenTelemetry)).toMatchObject({ metrics: true, spanEvents: true });
      expect(subscribers(registry)).toBe(1);
      await gateway.charge();
      const all = await collect(reader);
      expect(
        valueOf(all, INSTRUMENTS.circuitBreakerCalls, { name: 'payments', result: 'success' }),
      ).toBe(1);
    });

    it('honours metrics: false and spanEvents: false', async () => {
      const { registry } = await start();
      const observeCalls = jest.spyOn(registry, 'observeCalls');
      const handle = instrumentResilience(registry, { metrics: false, spanEvents: false });
      expect(handle).toMatchObject({ metrics: false, spanEvents: false });
      expect(observeCalls).not.toHaveBeenCalled();
      expect(subscribers(registry)).toBe(0);
      const spansOnly = instrumentResilience(registry, { metrics: false });
      expect(spansOnly).toMatchObject({ metrics: false, spanEvents: true });
      expect(observeCalls).not.toHaveBeenCalled();
      expect(subscribers(registry)).toBe(1);
      spansOnly.dispose();
      handle.dispose();
    });
  });

  describe('span events on the active span', () => {
    const contextManager = new AsyncLocalStorageContextManager();
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = tracerProvider.getTracer('test');
    beforeAll(() => {
      context.setGlobalContextManager(contextManager.enable());
    });
    afterAll(async () => {
      context.disable();
      await tracerProvider.shutdown();
    });
    afterEach(() => exporter.reset());

    /** Runs `fn` inside a new active span and returns the span once ended. */
    const inSpan = async (name: string, fn: () => Promise<unknown>): Promise<ReadableSpan> => {
      await tracer.startActiveSpan(name, async (span: Span) => {
        try {
          await fn();
        } catch {
          // the call's own error is not what these tests look at
        } finally {
          span.end();
        }
      });
      const found = exporter.getFinishedSpans().find((s) => s.name === name);
      if (!found) throw new Error(`span ${name} was not exported`);
      return found;
    };
    const events = (span: ReadableSpan) => span.events.map((e) => [e.name, e.attributes]);

    const startTraced = async (clock: FakeClock | null = new FakeClock()) => {
      const started = await start([], clock);
      const handle = instrumentResilience(started.registry, { tracerProvider, metrics: false });
      expect(handle.spanEvents).toBe(true);
      return { ...started, handle };
    };

    it('retry: attempt, delay and error on the span of the call', async () => {
      const { gateway, clock } = await startTraced();
      gateway.flaky = 1;
      const span = await inSpan('retrying', async () => {
        const call = settle(gateway.fetch());
        await clock!.advance(10);
        expect(call.value).toBe('fetched');
      });
      expect(events(span)).toEqual([
        [
          SPAN_EVENTS.retry,
          {
            'resilience.policy': 'Gateway.fetch',
            'resilience.attempt': 1,
            'resilience.delay_ms': 10,
            'error.type': 'UpstreamError',
            'error.message': 'flaky, 0 failure(s) to go',
          },
        ],
      ]);
    });

    it('call rejected and state change (from a failing call) land on the span of that call', async () => {
      const { gateway } = await startTraced();
      gateway.fail = true;
      const first = await inSpan('first failure', () => gateway.charge());
      const tripping = await inSpan('tripping', () => gateway.charge());
      const rejected = await inSpan('rejected', () => gateway.charge());
      expect(events(first)).toEqual([]);
      expect(events(tripping)).toEqual([
        [
          SPAN_EVENTS.stateChange,
          {
            'resilience.policy': 'payments',
            'resilience.from': 'closed',
            'resilience.to': 'open',
            'resilience.reason': 'failure-threshold',
          },
        ],
      ]);
      expect(events(rejected)).toEqual([
        [
          SPAN_EVENTS.callRejected,
          {
            'resilience.policy': 'payments',
            'resilience.state': 'open',
            'resilience.retry_after_ms': 1000,
          },
        ],
      ]);
    });

    it('a state change from a timer has no active span: no span gets it', async () => {
      const { gateway, clock, registry } = await startTraced();
      gateway.fail = true;
      await rejectionOf(gateway.charge());
      await rejectionOf(gateway.charge());
      const waiting = await inSpan('while open', () => clock!.advance(0));
      await clock!.advance(1000); // open -> half-open, outside any span
      expect(registry.circuitBreaker('payments')!.state).toBe('half-open');
      expect(events(waiting)).toEqual([]);
      expect(exporter.getFinishedSpans()).toHaveLength(1);
    });

    it('bulkhead rejected and rate limited', async () => {
      const { gateway } = await startTraced();
      const running = settle(gateway.narrow());
      const bulkhead = await inSpan('bulkhead', () => gateway.narrow());
      await gateway.limited();
      const limited = await inSpan('limited', () => gateway.limited());
      gateway.gate.resolve('done');
      await running;
      expect(events(bulkhead)).toEqual([
        [
          SPAN_EVENTS.bulkheadRejected,
          { 'resilience.policy': 'Gateway.narrow', 'resilience.reason': 'full' },
        ],
      ]);
      expect(events(limited)).toEqual([
        [
          SPAN_EVENTS.rateLimited,
          { 'resilience.policy': 'Gateway.limited', 'resilience.retry_after_ms': 60_000 },
        ],
      ]);
    });

    it('timeout: each concurrent call gets its own event on its own span (real timers)', async () => {
      const { gateway } = await startTraced(null);
      const [a, b] = await Promise.all([
        inSpan('call a', () => gateway.slow()),
        sleep(5).then(() => inSpan('call b', () => gateway.slow())),
      ]);
      const timeout = [
        SPAN_EVENTS.timeout,
        { 'resilience.policy': 'Gateway.slow', 'resilience.timeout_ms': 20 },
      ];
      expect(events(a)).toEqual([timeout]);
      expect(events(b)).toEqual([timeout]);
      // a later call, after the policy's timer went idle
      const c = await inSpan('call c', () => gateway.slow());
      expect(events(c)).toEqual([timeout]);
      gateway.gate.resolve('done');
    });

    it('no span, or a span that does not record: nothing is added, nothing breaks', async () => {
      const { gateway } = await startTraced();
      gateway.fail = true;
      await rejectionOf(gateway.charge()); // no active span
      const unsampled = trace.wrapSpanContext({
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 0,
      });
      await context.with(trace.setSpan(context.active(), unsampled), async () => {
        await rejectionOf(gateway.charge());
        await rejectionOf(gateway.charge());
      });
      expect(exporter.getFinishedSpans()).toEqual([]);
    });
  });
});

/** Subscribers of the registry's `events$` right now. */
function subscribers(registry: ResilienceRegistry): number {
  return (registry as unknown as { observers: number }).observers;
}
