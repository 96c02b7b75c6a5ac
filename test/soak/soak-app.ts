/**
 * Soak program, run in a child process by test/e2e/soak.e2e-spec.ts (with `--expose-gc`):
 * SOAK_CALLS calls (default 1e6) through a method protected by Fallback, Retry,
 * CircuitBreaker, Timeout and Bulkhead, with mixed outcomes. It measures the heap
 * (after forced GC) and the active resources before and after the run, closes the
 * application and prints one JSON line with the figures. It never calls
 * `process.exit`: the parent checks that the process ends by itself.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Bulkhead,
  CircuitBreaker,
  currentSignal,
  Fallback,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  Timeout,
} from '../../lib';

/** What one call does. */
export type Mode = 'ok' | 'flaky' | 'fail' | 'hang';

class TransientError extends Error {
  override name = 'TransientError';
}
class PermanentError extends Error {
  override name = 'PermanentError';
}

/** One call's instructions; `attempts` counts the calls of the method (retries included). */
interface Plan {
  mode: Mode;
  attempts: number;
}

const HANG_TIMEOUT_MS = 20;
/** Every OPEN_EVERY calls, OPEN_BURST failing calls in a row open the breaker. */
const OPEN_EVERY = 50_000;
const OPEN_BURST = 40;
/** Calls kept in flight at once (more than the bulkhead admits, so it queues). */
const WINDOW = 64;

@Injectable()
class SoakTarget {
  @Fallback((error: unknown) => (error instanceof Error ? error.name : 'unknown'))
  @Retry({
    maxAttempts: 2,
    backoff: { type: 'fixed', initialDelay: 0, jitter: 'none' },
    retryOn: (error) => error instanceof TransientError,
  })
  @CircuitBreaker('soak', { failureThreshold: 5, successThreshold: 1, resetTimeout: 5 })
  @Timeout(HANG_TIMEOUT_MS)
  @Bulkhead({ maxConcurrent: 32, maxQueue: 64 })
  async call(plan: Plan): Promise<string> {
    plan.attempts++;
    switch (plan.mode) {
      case 'ok':
        return 'ok';
      case 'flaky':
        if (plan.attempts === 1) throw new TransientError('first attempt fails');
        return 'ok';
      case 'fail':
        throw new PermanentError('always fails');
      case 'hang': {
        const signal = currentSignal();
        return new Promise<string>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        });
      }
    }
  }
}

@Module({
  imports: [ResilienceModule.forRoot({ shutdownTimeout: 1_000 })],
  providers: [SoakTarget],
})
class SoakModule {}

/** The mode of call number `i`. */
export function modeOf(i: number): Mode {
  if (i % OPEN_EVERY < OPEN_BURST && i >= OPEN_EVERY) return 'fail';
  if (i % 997 === 0) return 'hang';
  if (i % 101 === 0) return 'fail';
  if (i % 10 === 0) return 'flaky';
  return 'ok';
}

/** Runs `count` calls starting at number `from`, WINDOW at a time; tallies the results. */
async function drive(
  target: SoakTarget,
  from: number,
  count: number,
  tally: Record<string, number>,
): Promise<void> {
  let next = from;
  const end = from + count;
  const lane = async (): Promise<void> => {
    while (next < end) {
      const plan: Plan = { mode: modeOf(next++), attempts: 0 };
      const outcome = await target.call(plan);
      tally[outcome] = (tally[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, lane));
}

const TARGET = 'SoakTarget.call';
const gc = (globalThis as { gc?: () => void }).gc;

async function settleAndCollect(): Promise<number> {
  // let timers of the last calls fire (the timeout policy's, the breaker's reset)
  await new Promise((resolve) => setTimeout(resolve, HANG_TIMEOUT_MS * 3));
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

async function main(): Promise<void> {
  if (!gc) throw new Error('Run with --expose-gc.');
  const calls = Number(process.env.SOAK_CALLS ?? 1_000_000);
  const warmup = Math.min(20_000, Math.ceil(calls / 10));
  const app = await NestFactory.createApplicationContext(SoakModule, { logger: false });
  const target = app.get(SoakTarget);
  const registry = app.get(ResilienceRegistry);
  const tally: Record<string, number> = {};

  await drive(target, 0, warmup, {});
  const baselineHeap = await settleAndCollect();
  const baselineResources = resources();
  const before = registry.stats();

  const started = Date.now();
  await drive(target, warmup, calls, tally);
  const elapsedMs = Date.now() - started;

  const afterHeap = await settleAndCollect();
  const afterResources = resources();
  const stats = registry.stats();
  await app.close();
  const closedResources = resources();

  process.stdout.write(
    `SOAK_RESULT ${JSON.stringify({
      calls,
      elapsedMs,
      callsPerSecond: Math.round((calls / elapsedMs) * 1000),
      tally,
      baselineHeap,
      afterHeap,
      baselineResources,
      afterResources,
      closedResources,
      // counters of the measured run only (the warm-up's calls taken out)
      breaker: {
        state: stats.circuitBreakers.soak.state,
        rejectedCalls:
          stats.circuitBreakers.soak.rejectedCalls - before.circuitBreakers.soak.rejectedCalls,
      },
      retry: {
        calls: stats.retries[TARGET].calls - before.retries[TARGET].calls,
        successWithRetry:
          stats.retries[TARGET].successWithRetry - before.retries[TARGET].successWithRetry,
      },
      timeout: { timeouts: stats.timeouts[TARGET].timeouts - before.timeouts[TARGET].timeouts },
      bulkhead: stats.bulkheads[TARGET],
      fallback: {
        fallbacks: stats.fallbacks[TARGET].fallbacks - before.fallbacks[TARGET].fallbacks,
      },
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
