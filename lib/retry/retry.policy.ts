import { CallContext } from '../common/call-context';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { invoke, Policy, PolicyTime, Work } from '../common/policy';
import { Scheduler, TimeSource, timeSourceFrom } from '../common/scheduler';
import type { RandomSource } from './backoff/backoff.interface';
import { computeDelay } from './backoff/backoff';
import {
  defaultRetryOn,
  resolveRetryOptions,
  ResolvedRetryOptions,
  RetryOptions,
} from './retry.options';

/** Counters of one retry policy (`ResilienceRegistry.stats().retries[name]`). @publicApi */
export interface RetryStats {
  /** Calls made through the policy. */
  calls: number;
  /** Calls whose first attempt succeeded. */
  successWithoutRetry: number;
  /** Calls that succeeded on a later attempt. */
  successWithRetry: number;
  /** Calls that failed after more than one attempt. */
  failedWithRetry: number;
  /** Calls that failed after a single attempt (error not retried, or cancelled while waiting). */
  failedWithoutRetry: number;
  /** Attempts made in total (calls of the protected function). */
  attempts: number;
}

/**
 * Calls the work again when it fails, up to `maxAttempts` calls in total, waiting
 * between calls as `backoff` says. When it gives up, the last error is rethrown as it is
 * (same object, same class). Every attempt gets the same context, so a cancellation of
 * the call stops the retries.
 * @publicApi
 */
export class RetryPolicy extends Policy {
  readonly kind = 'retry' as const;
  readonly options: ResolvedRetryOptions;
  private readonly time: TimeSource;
  private readonly counters: RetryStats = {
    calls: 0,
    successWithoutRetry: 0,
    successWithRetry: 0,
    failedWithRetry: 0,
    failedWithoutRetry: 0,
    attempts: 0,
  };
  private readonly waits = new Set<BackoffWait>();
  private disposed = false;

  /**
   * @param random source of numbers in `[0, 1)` for the jitter; tests inject their own.
   */
  constructor(
    name: string,
    options?: Partial<RetryOptions>,
    time?: PolicyTime,
    private readonly random: RandomSource = Math.random,
  ) {
    super(name);
    this.options = resolveRetryOptions(name, options);
    this.time = timeSourceFrom(time?.clock, time?.scheduler);
  }

  run<T>(fn: Work<T>, context: CallContext | undefined, _args?: readonly unknown[]): Promise<T> {
    const ctx = context ?? new CallContext();
    this.counters.calls++;
    this.counters.attempts++;
    // a plain `then` instead of an async function: no extra promise and await per call
    return invoke(fn, ctx).then(this.firstSucceeded, (error: unknown) =>
      this.retry(fn, ctx, error),
    );
  }

  stats(): RetryStats {
    return { ...this.counters };
  }

  /** Ends every backoff wait: each waiting call rejects with its last error. No new waits start. */
  override dispose(): void {
    this.disposed = true;
    const waits = [...this.waits];
    this.waits.clear();
    for (const wait of waits) wait.cancel();
  }

  private readonly firstSucceeded = <T>(value: T): T => {
    this.counters.successWithoutRetry++;
    return value;
  };

  private async retry<T>(fn: Work<T>, ctx: CallContext, firstError: unknown): Promise<T> {
    const { maxAttempts, backoff } = this.options;
    let error = firstError;
    let attempt = 1; // the number of the call that just failed
    let previousDelay = backoff.initialDelay;
    try {
      for (;;) {
        if (attempt >= maxAttempts || !this.shouldRetry(error, attempt, ctx)) throw error;
        const delay = computeDelay(backoff, attempt, previousDelay, this.random);
        previousDelay = delay;
        if (this.emitter.hasListeners) {
          this.emitter.emit({
            type: 'retry',
            name: this.name,
            attempt,
            delay,
            error,
            at: this.time.clock.now(),
          });
        }
        await this.sleep(delay, ctx, error);
        attempt++;
        this.counters.attempts++;
        try {
          const value = await invoke(fn, ctx);
          this.counters.successWithRetry++;
          return value;
        } catch (caught) {
          error = caught;
        }
      }
    } catch (final) {
      if (attempt > 1) this.counters.failedWithRetry++;
      else this.counters.failedWithoutRetry++;
      throw final;
    }
  }

  private shouldRetry(error: unknown, attempt: number, ctx: CallContext): boolean {
    if (this.disposed || ctx.aborted) return false;
    const retryOn = this.options.retryOn;
    if (!retryOn) return defaultRetryOn(error);
    try {
      return retryOn(error, attempt) === true;
    } catch {
      return false; // a broken predicate must not replace the call's own error
    }
  }

  /** Waits `delay` ms; rejects at once when `ctx` is aborted, or with `lastError` on dispose. */
  private sleep(delay: number, ctx: CallContext, lastError: unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const wait = new BackoffWait(
        this.name,
        this.waits,
        this.time.scheduler,
        resolve,
        reject,
        lastError,
      );
      this.waits.add(wait);
      wait.handle = this.time.scheduler.setTimeout(wait.elapse, delay);
      wait.unsubscribe = ctx.onAbort(wait.abort);
    });
  }
}

/** One call waiting between two attempts. @internal */
class BackoffWait {
  handle: unknown;
  unsubscribe?: () => void;
  private done = false;

  constructor(
    private readonly policyName: string,
    private readonly waits: Set<BackoffWait>,
    private readonly scheduler: Scheduler,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
    private readonly lastError: unknown,
  ) {}

  readonly elapse = (): void => {
    if (!this.finish(false)) return;
    this.resolve();
  };

  readonly abort = (reason: unknown): void => {
    if (!this.finish(true)) return;
    this.reject(
      isErrorLike(reason) ? reason : new CallAbortedError(this.policyName, { cause: reason }),
    );
  };

  /** Dispose: the wait ends and the call fails with the error of its last attempt. */
  cancel(): void {
    if (!this.finish(true)) return;
    this.reject(this.lastError);
  }

  private finish(cancelTimer: boolean): boolean {
    if (this.done) return false;
    this.done = true;
    this.waits.delete(this);
    if (cancelTimer) this.scheduler.clearTimeout(this.handle);
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    unsubscribe?.();
    return true;
  }
}

/**
 * True for errors, including those of another realm (the `DOMException` of an aborted
 * `AbortSignal` is not `instanceof Error` inside a vm context or a test sandbox).
 */
function isErrorLike(value: unknown): value is Error {
  if (value instanceof Error) return true;
  if (typeof value !== 'object' || value === null) return false;
  const { name, message } = value as { name?: unknown; message?: unknown };
  return typeof name === 'string' && typeof message === 'string';
}
