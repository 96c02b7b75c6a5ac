import { AsyncResource } from 'node:async_hooks';
import { Clock, systemClock } from './clock';

/**
 * Starts and cancels one-shot timers. The default uses the Node timers; a test clock
 * that also implements this interface makes every delay of the module virtual.
 * @publicApi
 */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node timers. @publicApi */
export const systemScheduler: Scheduler = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** True when `value` can schedule timers (a test clock usually can). */
export function isScheduler(value: unknown): value is Scheduler {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Scheduler).setTimeout === 'function' &&
    typeof (value as Scheduler).clearTimeout === 'function'
  );
}

/** Time and timers together, as every pure policy takes them. @publicApi */
export interface TimeSource {
  clock: Clock;
  scheduler: Scheduler;
}

/** Builds a time source from a clock: a clock that is also a scheduler drives both. */
export function timeSourceFrom(clock?: Clock, scheduler?: Scheduler): TimeSource {
  const c = clock ?? systemClock;
  return { clock: c, scheduler: scheduler ?? (isScheduler(c) ? c : systemScheduler) };
}

/**
 * A scheduler that remembers its pending timers so that all of them can be cleared at
 * once (application shutdown). `dispose()` clears every timer and runs each timer's
 * cancel hook, so that nothing waits for a timer that will never fire.
 * @internal
 */
export class TrackedScheduler implements Scheduler {
  private readonly pending = new Map<unknown, (() => void) | undefined>();
  private disposed = false;

  constructor(private readonly inner: Scheduler) {}

  get size(): number {
    return this.pending.size;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  setTimeout(callback: () => void, ms: number, onCancel?: () => void): unknown {
    if (this.disposed) {
      onCancel?.();
      return undefined;
    }
    const handle: unknown = this.inner.setTimeout(() => {
      this.pending.delete(handle);
      callback();
    }, ms);
    this.pending.set(handle, onCancel);
    return handle;
  }

  clearTimeout(handle: unknown): void {
    if (handle === undefined || !this.pending.delete(handle)) return;
    this.inner.clearTimeout(handle);
  }

  dispose(): void {
    this.disposed = true;
    const entries = [...this.pending];
    this.pending.clear();
    for (const [handle, onCancel] of entries) {
      this.inner.clearTimeout(handle);
      onCancel?.();
    }
  }
}

/**
 * The async context module-owned timers are armed in: the one this module was loaded in, that
 * of no call. A timer keeps the context it was armed in alive and fires in it, so a timer that
 * outlives the call that armed it (a shared timeout timer, a breaker's half-open timer) must
 * not hold on to that call's request, span or store, nor run its events there. Only the
 * context is used, so the resource is destroyed at once (async-hooks tools would otherwise
 * list it as a handle never closed).
 */
const detachedScope = new AsyncResource('nestjs-fault-tolerance:timer');
detachedScope.emitDestroy();

/** Calls `scheduler.setTimeout(callback, ms)` outside every call's async context. @internal */
export function setDetachedTimeout(
  scheduler: Scheduler,
  callback: () => void,
  ms: number,
): unknown {
  return detachedScope.runInAsyncScope(scheduler.setTimeout, scheduler, callback, ms);
}
