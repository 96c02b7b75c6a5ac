// What the broker dead-letter queues (lib/redis, lib/rabbitmq, lib/nats) have in common:
// timeouts, option checks, one drain at a time, stopping consumers within `closeTimeout`,
// interruptible waits and handing failures to `onError`. It imports no broker client, so
// every sub-path can use it without pulling in another one's peer dependency.
import { Logger } from '@nestjs/common';
import { invalid, type Check } from '../common/validate';
import type { DeadLetterSubscription } from './dead-letter.interface';

/** Where the queues log what they cannot hand to anyone else. @internal */
export const adapterLogger = new Logger('Resilience');

/** @internal */
export const noop = (): void => undefined;

/** @internal */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `text`, cut to `max` characters with a trailing `…` when it is longer. @internal */
export function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** @internal */
export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** @internal */
export interface TimerOptions {
  /** The timer does not keep the process alive. @default false */
  unref?: boolean;
}

/**
 * `promise`, or a rejection once `ms` have passed: with the error `reason()` returns, or with
 * an `Error` of that message. The timer is cleared as soon as `promise` settles.
 * @internal
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  reason: () => string | Error,
  options: TimerOptions = {},
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = reason();
      reject(typeof error === 'string' ? new Error(error) : error);
    }, ms);
    if (options.unref) timer.unref();
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Waits for `promise` at most `ms`. True when it resolved in time; false when it rejected or
 * is still running. Never rejects.
 * @internal
 */
export function resolvesWithin(
  promise: Promise<unknown>,
  ms: number,
  options: TimerOptions = {},
): Promise<boolean> {
  return withTimeout(promise, ms, () => 'timed out', options).then(
    () => true,
    () => false,
  );
}

// ---- option checks -------------------------------------------------------------------------

/**
 * Throws a `ResilienceConfigError` unless `options` is a plain object whose keys are all in
 * `known` (a typo must not fall back to a default in silence).
 * @internal
 */
export function checkKeys(owner: string, options: unknown, known: readonly string[]): void {
  if (!isPlainObject(options)) invalid(owner, 'options', options, 'an options object');
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      invalid(owner, key, value, `no value: the known keys are ${known.join(', ')}`);
    }
  }
}

/** Throws a `ResilienceConfigError` naming `key` when `value` is set and fails `check`. @internal */
export function checkValue(owner: string, key: string, value: unknown, check: Check): void {
  if (value === undefined) return;
  const problem = check(value);
  if (problem) invalid(owner, key, value, problem);
}

/** Throws the `TypeError` of a `drain()` or `consume()` given something else than a function. @internal */
export function checkHandler(handler: unknown, call: string): void {
  if (typeof handler !== 'function') {
    throw new TypeError(`${call}: handler must be a function.`);
  }
}

// ---- drains, consumers, close() ------------------------------------------------------------

/**
 * The `drain()` calls of one queue, run one after another: a drain starts once the one before
 * it has ended, however that ended.
 * @internal
 */
export class DrainSequence {
  private last: Promise<unknown> = Promise.resolve();

  /**
   * Checks `handler`, then runs `prepare()` (option checks; what it throws rejects the
   * drain at once), then `drain` with what `prepare()` returned, after the drains before it.
   */
  start<O>(
    handler: unknown,
    prepare: () => O,
    drain: (prepared: O) => Promise<number>,
  ): Promise<number> {
    let prepared: O;
    try {
      checkHandler(handler, 'drain(handler)');
      prepared = prepare();
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.last.then(() => drain(prepared));
    this.last = run.catch(noop);
    return run;
  }

  /** Settles (never rejects) when every drain started so far has ended. */
  idle(): Promise<unknown> {
    return this.last;
  }
}

/**
 * The running `consume()` subscriptions of a queue, which `close()` stops together. A
 * subscription removes itself (`delete`) when it has stopped.
 * @internal
 */
export class RunningSubscriptions<S extends DeadLetterSubscription> {
  private readonly running = new Set<S>();

  add(subscription: S): void {
    this.running.add(subscription);
  }

  delete(subscription: S): void {
    this.running.delete(subscription);
  }

  /**
   * Stops every subscription, giving the handler calls in flight `ms` to settle; then runs
   * `cutOff` for each subscription that has not stopped yet.
   * @returns false when a subscription did not stop within `ms`.
   */
  async stopAll(ms: number, cutOff?: (subscription: S) => Promise<void>): Promise<boolean> {
    const stopped = await Promise.all(
      [...this.running].map(async (subscription) => {
        const inTime = await resolvesWithin(subscription.stop(), ms);
        if (!inTime) await cutOff?.(subscription);
        return inTime;
      }),
    );
    return !stopped.includes(false);
  }
}

/**
 * Waits of a consumer (a backoff, a delay before a requeue) that stopping it cuts short.
 * @internal
 */
export class Naps {
  private readonly wakers = new Set<() => void>();

  /** Resolves after `ms`, or as soon as `wakeAll()` runs. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** Ends every wait in progress now. */
  wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }
}

/**
 * Hands `args` to the user's `onError`. Without one, or when it throws, `fallback` runs
 * instead (it logs), told what `onError` threw.
 * @internal
 */
export function callOnError<A extends unknown[]>(
  onError: ((...args: A) => unknown) | undefined,
  args: A,
  fallback: (failed?: { thrown: unknown }) => void,
): void {
  if (!onError) {
    fallback();
    return;
  }
  try {
    onError(...args);
  } catch (thrown) {
    fallback({ thrown });
  }
}
