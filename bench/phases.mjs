// The memory and sustained-load phases of the benchmark.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');

const work = async () => 42;

/** Heap in use after full collections (twice: weak references and finalizers settle). */
function settledHeap() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

async function timed(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * Heap retained by many calls through the decorated full stack, and heap and time for
 * many keyed-bulkhead keys and many named circuit breakers.
 */
export async function memoryPhase(ft, nest, settings) {
  const stack = nest.perWorkload.noop.stack;

  for (let i = 0; i < 10_000; i++) await stack(); // warm: code and lazily built state
  const before = settledHeap();
  const callsMs = await timed(async () => {
    for (let i = 0; i < settings.heapCalls; i++) await stack();
  });
  const retained = settledHeap() - before;

  // one partition per key; maxKeys as large as the key count, so every partition stays
  const keyed = new ft.KeyedBulkheadPolicy('bench.keyed', {
    maxConcurrent: 10,
    maxKeys: settings.keys,
    key: (id) => id,
  });
  const keyNames = Array.from({ length: settings.keys }, (_, i) => `tenant-${i}`);
  const keyedBefore = settledHeap();
  const keyedMs = await timed(async () => {
    for (const key of keyNames) await keyed.executeFor(key, work);
  });
  const keyedHeap = settledHeap() - keyedBefore;
  if (keyed.keys !== settings.keys) throw new Error(`keyed bulkhead holds ${keyed.keys} keys`);
  keyed.dispose();

  // named breakers, as configured policies looked up (and created) through the registry
  const names = Array.from({ length: settings.breakers }, (_, i) => `breaker-${i}`);
  const policies = Object.fromEntries(
    names.map((name) => [name, { circuitBreaker: { failureThreshold: 5 } }]),
  );
  class BreakersModule {}
  Module({ imports: [ft.ResilienceModule.forRoot({ policies })] })(BreakersModule);
  const app = await NestFactory.createApplicationContext(BreakersModule, { logger: false });
  const registry = app.get(ft.ResilienceRegistry);
  const breakersBefore = settledHeap();
  const breakersMs = await timed(async () => {
    for (const name of names) await registry.circuitBreaker(name).execute(work);
  });
  const breakersHeap = settledHeap() - breakersBefore;
  const created = Object.keys(registry.stats().circuitBreakers).length;
  if (created !== settings.breakers) throw new Error(`registry holds ${created} breakers`);
  await app.close();

  return {
    fullStack: { calls: settings.heapCalls, retainedBytes: retained, ms: callsMs },
    keyedBulkhead: {
      keys: settings.keys,
      heapBytes: keyedHeap,
      bytesPerKey: keyedHeap / settings.keys,
      ms: keyedMs,
    },
    namedBreakers: {
      breakers: settings.breakers,
      heapBytes: breakersHeap,
      bytesPerBreaker: breakersHeap / settings.breakers,
      ms: breakersMs,
    },
  };
}

/**
 * Calls `call` back to back for `durationMs`, yielding to the event loop (setImmediate)
 * after every 1,000 calls, and reports the mean cost per call and the worst one-second
 * window (windows are cut by wall-clock time; their cost is read on `clock`, in ns).
 */
export async function sustainedPhase(call, durationMs, clock) {
  const windows = [];
  const count = Math.max(1, Math.round(durationMs / 1_000));
  let windowStart = performance.now();
  let windowCost = clock();
  let windowCalls = 0;
  while (windows.length < count) {
    for (let i = 0; i < 1_000; i++) await call();
    windowCalls += 1_000;
    await new Promise(setImmediate);
    const now = performance.now();
    if (now - windowStart >= 1_000) {
      const cost = clock();
      windows.push({ ns: cost - windowCost, calls: windowCalls });
      windowStart = now;
      windowCost = cost;
      windowCalls = 0;
    }
  }
  const perCall = (w) => w.ns / w.calls;
  const totalNs = windows.reduce((sum, w) => sum + w.ns, 0);
  const totalCalls = windows.reduce((sum, w) => sum + w.calls, 0);
  return {
    seconds: windows.length,
    calls: totalCalls,
    meanNs: totalNs / totalCalls,
    worstWindowNs: Math.max(...windows.map(perCall)),
    windowsNs: windows.map(perCall),
  };
}
