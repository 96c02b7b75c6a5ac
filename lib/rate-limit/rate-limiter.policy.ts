import type { CallContext } from '../common/call-context';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { RateLimitedError } from '../common/errors/rate-limited.error';
import { invoke, Policy, PolicyTime, rootContext, Work } from '../common/policy';
import { TimeSource, timeSourceFrom } from '../common/scheduler';
import {
  RateLimiterOptions,
  ResolvedRateLimiterOptions,
  resolveRateLimiterOptions,
} from './rate-limiter.options';

/** Counters of one rate limiter (`ResilienceRegistry.stats().rateLimiters[name]`). @publicApi */
export interface RateLimiterStats {
  /** Calls that started (at once or after waiting for their permit). */
  permitted: number;
  /** Calls rejected with `RateLimitedError`. */
  rejected: number;
}

/** A call holding a future permit, waiting for its time. */
interface Waiter {
  fn: Work<unknown>;
  context: CallContext | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: unknown;
  unsubscribe: (() => void) | undefined;
}

/**
 * At most `limit` calls start within any `interval` ms, measured with a sliding log: a
 * ring buffer of the start times of the last `limit` permits (future times for permits
 * reserved by waiting calls). A call is permitted when the oldest of them is at least
 * `interval` ms old, and then starts synchronously. Otherwise it waits for the next
 * free permit if that is at most `maxWait` ms away, or fails with `RateLimitedError`
 * whose `retryAfter` is the exact wait.
 *
 * A waiting call that is cancelled gives up its reserved permit: the permit stays used,
 * which keeps the guarantee without reordering the log.
 * @publicApi
 */
export class RateLimiterPolicy extends Policy {
  readonly kind = 'rateLimiter' as const;
  readonly options: ResolvedRateLimiterOptions;
  private readonly time: TimeSource;
  /** Start times of the last `limit` permits; grows to `limit`, then used as a ring. */
  private readonly log: number[] = [];
  /** Index of the oldest entry once the log is full. */
  private head = 0;
  private readonly waiters = new Set<Waiter>();
  private permitted = 0;
  private rejected = 0;
  private disposed = false;

  constructor(name: string, options?: Partial<RateLimiterOptions>, time?: PolicyTime) {
    super(name);
    this.options = resolveRateLimiterOptions(name, options);
    this.time = timeSourceFrom(time?.clock, time?.scheduler);
  }

  /** Calls holding a reserved permit and waiting for its time. */
  get waiting(): number {
    return this.waiters.size;
  }

  run<T>(fn: Work<T>, context: CallContext | undefined, _args?: readonly unknown[]): Promise<T> {
    if (this.disposed) return Promise.reject(new BulkheadRejectedError(this.name, 'shutdown'));
    if (context !== undefined && context.aborted) {
      return Promise.reject(this.abortError(context.reason));
    }
    const now = this.time.clock.now();
    const { limit, interval } = this.options;
    const log = this.log;
    if (log.length < limit) {
      log.push(now);
      this.permitted++;
      return invoke(fn, rootContext(context));
    }
    const oldest = log[this.head];
    const wait = oldest + interval - now;
    if (wait <= 0) {
      this.take(now);
      this.permitted++;
      return invoke(fn, rootContext(context));
    }
    if (wait > this.options.maxWait) return this.refuse(wait, now);
    this.take(oldest + interval);
    return this.wait(fn, context, wait);
  }

  stats(): RateLimiterStats {
    return { permitted: this.permitted, rejected: this.rejected };
  }

  /**
   * Clears every waiting call's timer and rejects it with `BulkheadRejectedError`
   * reason `'shutdown'`; new calls are refused the same way.
   */
  override dispose(): void {
    this.disposed = true;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) {
      this.detach(waiter);
      waiter.reject(new BulkheadRejectedError(this.name, 'shutdown'));
    }
  }

  /** Records a permit at `at` in place of the oldest one. */
  private take(at: number): void {
    this.log[this.head] = at;
    this.head = this.head + 1 === this.options.limit ? 0 : this.head + 1;
  }

  private wait<T>(fn: Work<T>, context: CallContext | undefined, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        fn,
        context,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer: undefined,
        unsubscribe: undefined,
      };
      this.waiters.add(waiter);
      waiter.timer = this.time.scheduler.setTimeout(() => this.start(waiter), ms);
      if (context !== undefined) {
        waiter.unsubscribe = context.onAbort((reason) => this.abandon(waiter, reason));
      }
    });
  }

  /** The reserved permit's time has come. */
  private start(waiter: Waiter): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.timer = undefined;
    this.detach(waiter);
    this.permitted++;
    waiter.resolve(invoke(waiter.fn, rootContext(waiter.context)));
  }

  private abandon(waiter: Waiter, reason: unknown): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.unsubscribe = undefined;
    this.detach(waiter);
    waiter.reject(this.abortError(reason));
  }

  private detach(waiter: Waiter): void {
    if (waiter.timer !== undefined) {
      this.time.scheduler.clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
    if (waiter.unsubscribe !== undefined) {
      waiter.unsubscribe();
      waiter.unsubscribe = undefined;
    }
  }

  private refuse<T>(retryAfter: number, now: number): Promise<T> {
    this.rejected++;
    if (this.emitter.hasListeners) {
      this.emitter.emit({ type: 'rate-limited', name: this.name, retryAfter, at: now });
    }
    return Promise.reject(new RateLimitedError(this.name, retryAfter));
  }

  private abortError(reason: unknown): Error {
    return reason instanceof Error
      ? reason
      : new CallAbortedError(this.name, reason === undefined ? undefined : { cause: reason });
  }
}
