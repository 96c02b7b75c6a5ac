// What the specs of the broker dead-letter queues share: letters, an application whose
// failing method sends its letter to the queue under test, timing and polling helpers, and
// cleanup after each test.
import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import {
  DeadLetter,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  type DeadLetterQueue,
} from '../../../lib';
import type { DeadLetter as Letter } from '../../../lib/dead-letter/dead-letter.interface';
import { NO_WAIT, UpstreamError } from '../../fixtures/flaky-client';
import { deferred, settle, sleep, waitFor, type TestApps } from '../../fixtures/testing-app';
import { TcpProxy, type ProxyTarget } from '../../utils/tcp-proxy';

export type { Letter };

/**
 * A letter numbered `n` (in its arguments, error message and time) with a fresh id. Its
 * arguments hold a nested array with `null` and a non-ASCII string, and its stack a line
 * break, so that a round trip through the broker is checked on all of them.
 */
export function letter(n = 1, overrides: Partial<Letter> = {}): Letter {
  return {
    id: randomUUID(),
    policy: 'payments',
    target: 'Payments.charge',
    args: [`customer-${n}`, n * 10, { nested: [n, null, 'ü'] }],
    error: {
      name: 'UpstreamError',
      message: `charge ${n} failed`,
      stack: `UpstreamError: charge ${n} failed\n    at Payments.charge (payments.ts:1:1)`,
    },
    attempts: 3,
    failedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, n)).toISOString(),
    ...overrides,
  };
}

/** A provider whose `place()` fails both of its attempts, then dead-letters the call. */
@Injectable()
export class Orders {
  calls = 0;

  @DeadLetter()
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  async place(...args: unknown[]): Promise<never> {
    this.calls++;
    throw new UpstreamError(`order ${args.join(' ')} failed (#${this.calls})`);
  }
}

/** Short retries of the module's dead-letter buffer, so that a test sees them happen. */
export const FAST_BUFFER = { initialDelay: 50, maxDelay: 200, publishTimeout: 1_000 };

/** An application with `ResilienceModule` sending dead letters to `queue`, and `Orders`. */
export async function startOrders(apps: TestApps, queue: DeadLetterQueue) {
  const app = await apps.start({
    imports: [ResilienceModule.forRoot({ deadLetterQueue: queue, deadLetterBuffer: FAST_BUFFER })],
    providers: [Orders],
  });
  const registry = app.get(ResilienceRegistry);
  const deadLetters = () => registry.stats().deadLetters;
  return {
    app,
    orders: app.get(Orders),
    deadLetters,
    /** Waits until the module's buffer is empty: every letter went to the queue. */
    flushed: (within = 5_000) => waitFor(() => deadLetters().buffered === 0, within),
  };
}

/** Polls an asynchronous condition (a broker query) with real time, for at most `within` ms. */
export async function eventually(
  condition: () => Promise<boolean> | boolean,
  within = 5_000,
): Promise<void> {
  const end = Date.now() + within;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`condition not met within ${within}ms`);
    await sleep(20);
  }
}

/** A consumer's handler that holds the first letter it gets until `release()`. */
export function heldHandler() {
  const started = deferred<void>();
  const gate = deferred<void>();
  return {
    handler: async () => {
      started.resolve();
      await gate.promise;
    },
    /** Resolves once the handler has a letter. */
    started: started.promise,
    release: () => gate.resolve(),
  };
}

/**
 * Once `held` has a letter, expects `stop()` (a subscription's stop, or the queue's close) to
 * wait for it, then to resolve after `held.release()`.
 */
export async function expectStopWaitsFor(
  held: ReturnType<typeof heldHandler>,
  stop: () => Promise<void>,
): Promise<void> {
  await held.started;
  const stopping = settle(stop());
  await sleep(100);
  expect(stopping.settled).toBe(false);
  held.release();
  await waitFor(() => stopping.settled, 5_000);
  expect(stopping.status).toBe('resolved');
}

/**
 * Expects `close()`, with a handler call that never ends, to give up after `closeTimeout` ms
 * (and to resolve), warning with Nest's Logger that it did.
 */
export async function expectCloseGivesUp(
  close: () => Promise<void>,
  closeTimeout: number,
): Promise<void> {
  const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  try {
    const { ms, error } = await timed(close());
    expect(error).toBeUndefined();
    expect(ms).toBeGreaterThanOrEqual(closeTimeout - 10);
    expect(ms).toBeLessThan(closeTimeout + 1_800);
    expect(String(warned.mock.calls[0]?.[0])).toContain(`closeTimeout (${closeTimeout}ms)`);
  } finally {
    warned.mockRestore();
  }
}

/** How long `promise` takes to settle, and its error when it rejects. */
export async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = performance.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e ?? new Error('rejected without a reason'),
  );
  return { ms: performance.now() - start, error };
}

/**
 * Expects `promise` to reject with a message matching `pattern` in less than `below` ms;
 * returns how long it took and the error.
 */
export async function expectFastRejection(
  promise: Promise<unknown>,
  pattern: RegExp | string,
  below = 1_500,
): Promise<{ ms: number; error: Error }> {
  const { ms, error } = await timed(promise);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toMatch(pattern);
  expect(ms).toBeLessThan(below);
  return { ms, error: error as Error };
}

/** Expects `construct()` to throw a `ResilienceConfigError` of `owner` naming `key`. */
export function expectConfigError(construct: () => unknown, owner: string, key: string): void {
  let error: unknown;
  try {
    construct();
  } catch (thrown) {
    error = thrown;
  }
  expect(error).toBeInstanceOf(ResilienceConfigError);
  expect((error as ResilienceConfigError).key).toBe(key);
  expect((error as Error).message).toContain(`"${key}"`);
  expect((error as Error).message).toContain(owner);
}

/**
 * One test per bad option: `construct(options)` throws a `ResilienceConfigError` of `owner`
 * naming the key. Besides `cases`, every queue refuses a negative `closeTimeout` and a
 * misspelt key.
 */
export function itRejectsBadOptions(
  owner: string,
  construct: (options: never) => unknown,
  cases: Array<[object, string]>,
): void {
  it.each([
    ...cases,
    [{ closeTimeout: -1 }, 'closeTimeout'],
    [{ closeTimout: 100 }, 'closeTimout'],
  ])('rejects %j naming "%s"', (options, key) =>
    expectConfigError(() => construct(options as never), owner, key),
  );
}

/**
 * Registers clean-up functions run after each test of the enclosing `describe`, the last
 * registered first (a queue closes before the proxy it used, and both before its stream or
 * queue is deleted). Every one runs, whatever the others do.
 */
export function useCleanup(): (cleanup: () => unknown) => void {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    while (cleanups.length > 0) {
      await Promise.resolve()
        .then(cleanups.pop())
        .catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) throw new AggregateError(errors, 'clean-up after the test failed');
  });
  return (cleanup) => void cleanups.push(cleanup);
}

/** A `TcpProxy` to `target`, shut after the test through `cleanup`. */
export async function proxyTo(
  cleanup: (fn: () => unknown) => void,
  target: ProxyTarget,
  serverUrl: string,
): Promise<TcpProxy> {
  const proxy = await TcpProxy.create(target, serverUrl);
  cleanup(() => proxy.shut());
  return proxy;
}
