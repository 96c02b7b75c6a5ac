// The functions the benchmark times: the same scenarios for this package (pure policies
// and decorated methods in a Nest application context), cockatiel and opossum.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('reflect-metadata');
const cockatiel = require('cockatiel');
const Opossum = require('opossum');
const { Injectable, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');

export const noop = () => undefined;

/** The protected functions: one that resolves at once, one that waits for the event loop. */
export const workloads = {
  noop: async () => 42,
  immediate: async () => {
    await new Promise(setImmediate);
    return 42;
  },
};

/** Settings shared by every implementation, so that they do the same work. */
const BREAKER = { failureThreshold: 5, resetTimeout: 60_000 };
const RETRY_ATTEMPTS = 3;
const TIMEOUT_MS = 1_000;
const MAX_CONCURRENT = 10;

/**
 * The scenarios of this package's pure policies for one workload.
 * @param {Record<string, any>} ft the built package (dist/)
 * @param {() => Promise<number>} work
 */
export function oursPure(ft, work, tag) {
  const time = {};
  const breaker = new ft.CircuitBreakerPolicy(`pure.${tag}.breaker`, BREAKER, time);
  const retry = new ft.RetryPolicy(`pure.${tag}.retry`, { maxAttempts: RETRY_ATTEMPTS }, time);
  const timeout = new ft.TimeoutPolicy(`pure.${tag}.timeout`, TIMEOUT_MS, time);
  const bulkhead = new ft.BulkheadPolicy(
    `pure.${tag}.bulkhead`,
    { maxConcurrent: MAX_CONCURRENT },
    time,
  );
  const stack = ft.wrap(
    new ft.RetryPolicy(`pure.${tag}.stack`, { maxAttempts: RETRY_ATTEMPTS }, time),
    new ft.CircuitBreakerPolicy(`pure.${tag}.stack`, BREAKER, time),
    new ft.TimeoutPolicy(`pure.${tag}.stack`, TIMEOUT_MS, time),
    new ft.BulkheadPolicy(`pure.${tag}.stack`, { maxConcurrent: MAX_CONCURRENT }, time),
  );
  const open = new ft.CircuitBreakerPolicy(`pure.${tag}.open`, BREAKER, time);
  open.open();
  const all = [breaker, retry, timeout, bulkhead, open, ...stack.policies];
  return {
    fns: {
      breaker: () => breaker.execute(work),
      retry: () => retry.execute(work),
      timeout: () => timeout.execute(work),
      bulkhead: () => bulkhead.execute(work),
      stack: () => stack.execute(work),
      rejection: () => open.execute(work).then(undefined, noop),
    },
    /** The full stack, for the memory and sustained phases. */
    stack: () => stack.execute(work),
    check: async () => {
      const error = await open.execute(work).then(
        () => undefined,
        (e) => e,
      );
      if (!(error instanceof ft.CircuitOpenError)) throw new Error('open breaker did not reject');
    },
    close: () => all.forEach((p) => p.dispose()),
  };
}

/**
 * Applies method decorators the way TypeScript does, without TypeScript: the return type
 * metadata first (the invoker reads it), then each decorator, keeping the descriptor it returns.
 */
function decorate(cls, key, decorators) {
  const proto = cls.prototype;
  Reflect.defineMetadata('design:returntype', Promise, proto, key);
  for (const decorator of [...decorators].reverse()) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    const result = decorator(proto, key, descriptor);
    if (result) Reflect.defineProperty(proto, key, result);
  }
}

/** A provider whose methods call `work` under the decorators, one class per workload. */
function serviceClass(ft, work, tag) {
  const cls = class {
    breaker() {
      return work();
    }
    retry() {
      return work();
    }
    timeout() {
      return work();
    }
    bulkhead() {
      return work();
    }
    stack() {
      return work();
    }
    rejected() {
      return work();
    }
  };
  Object.defineProperty(cls, 'name', { value: `Bench${tag}Service` });
  Injectable()(cls);
  decorate(cls, 'breaker', [ft.CircuitBreaker(BREAKER)]);
  decorate(cls, 'retry', [ft.Retry({ maxAttempts: RETRY_ATTEMPTS })]);
  decorate(cls, 'timeout', [ft.Timeout(TIMEOUT_MS)]);
  decorate(cls, 'bulkhead', [ft.Bulkhead({ maxConcurrent: MAX_CONCURRENT })]);
  decorate(cls, 'stack', [
    ft.Retry({ maxAttempts: RETRY_ATTEMPTS }),
    ft.CircuitBreaker(BREAKER),
    ft.Timeout(TIMEOUT_MS),
    ft.Bulkhead({ maxConcurrent: MAX_CONCURRENT }),
  ]);
  decorate(cls, 'rejected', [ft.CircuitBreaker(`Bench${tag}Service.open`, BREAKER)]);
  return cls;
}

/**
 * One Nest application context with a decorated provider per workload: the path users
 * hit (trampoline, invoker, registry tracking, policies).
 */
export async function oursNest(ft) {
  const classes = Object.fromEntries(
    Object.entries(workloads).map(([tag, work]) => [tag, serviceClass(ft, work, tag)]),
  );
  class BenchModule {}
  Module({ imports: [ft.ResilienceModule.forRoot()], providers: Object.values(classes) })(
    BenchModule,
  );
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  const registry = app.get(ft.ResilienceRegistry);
  const perWorkload = {};
  for (const [tag, cls] of Object.entries(classes)) {
    const svc = app.get(cls);
    registry.circuitBreaker(`Bench${tag}Service.open`).open();
    perWorkload[tag] = {
      fns: {
        breaker: () => svc.breaker(),
        retry: () => svc.retry(),
        timeout: () => svc.timeout(),
        bulkhead: () => svc.bulkhead(),
        stack: () => svc.stack(),
        rejection: () => svc.rejected().then(undefined, noop),
      },
      stack: () => svc.stack(),
      check: async () => {
        const error = await svc.rejected().then(
          () => undefined,
          (e) => e,
        );
        if (!(error instanceof ft.CircuitOpenError)) {
          throw new Error('decorated open breaker did not reject');
        }
        if (registry.stats().retries[`Bench${tag}Service.stack`] === undefined) {
          throw new Error('decorators were not applied by the Nest application');
        }
      },
    };
  }
  return { perWorkload, registry, app, close: () => app.close() };
}

/** The same scenarios with cockatiel 3. */
export function cockatielFor(work) {
  const c = cockatiel;
  const makeBreaker = () =>
    c.circuitBreaker(c.handleAll, {
      halfOpenAfter: BREAKER.resetTimeout,
      breaker: new c.ConsecutiveBreaker(BREAKER.failureThreshold),
    });
  const makeRetry = () =>
    c.retry(c.handleAll, {
      maxAttempts: RETRY_ATTEMPTS - 1, // cockatiel counts retries, not calls
      backoff: new c.ExponentialBackoff(),
    });
  // aggressive: the caller is rejected when time is up, as this package's timeout does
  const makeTimeout = () => c.timeout(TIMEOUT_MS, c.TimeoutStrategy.Aggressive);
  const makeBulkhead = () => c.bulkhead(MAX_CONCURRENT, 0);
  const breaker = makeBreaker();
  const retry = makeRetry();
  const timeout = makeTimeout();
  const bulkhead = makeBulkhead();
  const stack = c.wrap(makeRetry(), makeBreaker(), makeTimeout(), makeBulkhead());
  const open = makeBreaker();
  const failing = async () => {
    throw new Error('trip');
  };
  return {
    fns: {
      breaker: () => breaker.execute(work),
      retry: () => retry.execute(work),
      timeout: () => timeout.execute(work),
      bulkhead: () => bulkhead.execute(work),
      stack: () => stack.execute(work),
      rejection: () => open.execute(work).then(undefined, noop),
    },
    check: async () => {
      for (let i = 0; i < BREAKER.failureThreshold; i++) await open.execute(failing).catch(noop);
      const error = await open.execute(work).then(
        () => undefined,
        (e) => e,
      );
      if (!c.isBrokenCircuitError(error)) throw new Error('cockatiel breaker did not open');
    },
    close: noop,
  };
}

/** opossum 9: its breaker alone, and with timeout and capacity as its full stack. */
export function opossumFor(work) {
  const breaker = new Opossum(work, { timeout: false, resetTimeout: BREAKER.resetTimeout });
  const stack = new Opossum(work, {
    timeout: TIMEOUT_MS,
    capacity: MAX_CONCURRENT,
    resetTimeout: BREAKER.resetTimeout,
  });
  const open = new Opossum(work, { timeout: false, resetTimeout: BREAKER.resetTimeout });
  open.open();
  return {
    fns: {
      breaker: () => breaker.fire(),
      stack: () => stack.fire(),
      rejection: () => open.fire().then(undefined, noop),
    },
    check: async () => {
      const error = await open.fire().then(
        () => undefined,
        (e) => e,
      );
      if (!(error instanceof Error) || !open.opened) throw new Error('opossum did not reject');
    },
    close: () => [breaker, stack, open].forEach((b) => b.shutdown()),
  };
}

/**
 * The cost of `nestjs-fault-tolerance/opentelemetry` on a decorated breaker call: three
 * applications, one not instrumented, one instrumented while no OpenTelemetry SDK is
 * registered (it must subscribe to nothing), and one instrumented after an SDK (metrics with a
 * reader that is never collected, tracing with the async-hooks context manager) was registered
 * globally. The SDK stays registered until `close()`; the no-SDK instrumentation decided at
 * instrumentation time and is not affected by it.
 * @param {Record<string, any>} ft the built package (dist/)
 * @param {string} dist its directory
 */
export async function oursOpenTelemetry(ft, dist) {
  const { resolve } = await import('node:path');
  const api = require('@opentelemetry/api');
  const otel = require(resolve(dist, 'opentelemetry', 'index.js'));
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');

  const plain = await oursNest(ft);
  const noSdk = await oursNest(ft);
  const noSdkHandle = otel.instrumentResilience(noSdk.registry);
  if (noSdkHandle.metrics || noSdkHandle.spanEvents) {
    throw new Error('an OpenTelemetry SDK is registered: the no-SDK case cannot be measured');
  }

  class IdleReader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
  const tracerProvider = new BasicTracerProvider();
  const contextManager = new AsyncLocalStorageContextManager().enable();
  api.metrics.setGlobalMeterProvider(meterProvider);
  api.trace.setGlobalTracerProvider(tracerProvider);
  api.context.setGlobalContextManager(contextManager);
  const sdk = await oursNest(ft);
  const sdkHandle = otel.instrumentResilience(sdk.registry);
  if (!sdkHandle.metrics || !sdkHandle.spanEvents) throw new Error('the SDK was not detected');
  // the same without the call duration histogram, the one instrument fed on the call's path
  const sdkNoHistogram = await oursNest(ft);
  const sdkNoHistogramHandle = otel.instrumentResilience(sdkNoHistogram.registry, {
    callDuration: false,
    meterName: 'bench-no-histogram',
  });

  const svc = (nest) => nest.perWorkload.noop;
  return {
    fns: {
      breaker: () => svc(plain).fns.breaker(),
      breakerNoSdk: () => svc(noSdk).fns.breaker(),
      breakerSdk: () => svc(sdk).fns.breaker(),
      breakerSdkNoHistogram: () => svc(sdkNoHistogram).fns.breaker(),
    },
    check: async () => {
      for (const nest of [plain, noSdk, sdk, sdkNoHistogram]) await svc(nest).check();
    },
    close: async () => {
      for (const handle of [noSdkHandle, sdkHandle, sdkNoHistogramHandle]) handle.dispose();
      await Promise.all([plain, noSdk, sdk, sdkNoHistogram].map((nest) => nest.close()));
      api.metrics.disable();
      api.trace.disable();
      api.context.disable();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}
