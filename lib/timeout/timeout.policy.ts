import { AsyncResource } from 'node:async_hooks';
import { CallContext, ChildContext } from '../common/call-context';
import { TimeoutError } from '../common/errors/timeout.error';
import { invoke, Policy, PolicyTime, Work } from '../common/policy';
import { setDetachedTimeout, TimeSource, timeSourceFrom } from '../common/scheduler';
import { resolveTimeoutOptions, ResolvedTimeoutOptions, TimeoutOptions } from './timeout.options';

/** Counters of one timeout policy (`ResilienceRegistry.stats().timeouts[name]`). @publicApi */
export interface TimeoutStats {
  /** Calls made through the policy. */
  calls: number;
  /** Calls that ran out of time. */
  timeouts: number;
}

/** Async resource type of a call's context, kept for its `'timeout'` event. */
const CALL_SCOPE = 'nestjs-fault-tolerance:timeout-call';

/** One call in flight, linked in deadline order. @internal */
class InFlight {
  prev: InFlight | undefined = undefined;
  next: InFlight | undefined = undefined;
  settled = false;
  /**
   * The async context of the call, taken only while someone listens to events, so that a
   * `'timeout'` listener (tracing) sees the timed-out call's context: the shared timer fires
   * outside every call. Dropped once the call has settled or timed out.
   */
  scope: AsyncResource | undefined = undefined;

  constructor(
    readonly deadline: number,
    readonly context: ChildContext,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** The parts of a Node `Timeout` handle used to let an idle policy's timer not hold the process. */
interface RefHandle {
  ref?(): unknown;
  unref?(): unknown;
}

/**
 * Fails a call with `TimeoutError` when it has not settled within `timeout` ms: the
 * caller is rejected at once, and the work's context (`context.signal`) is aborted with
 * the same error so that the work can stop. A result that arrives later is ignored.
 *
 * Every call has the same duration, so deadlines come in call order. The policy keeps
 * its calls in a FIFO list and runs a single timer for the oldest deadline, instead of a
 * timer per call. A call that settles leaves the list at once; the timer may stay armed
 * for an empty list until it fires (it then does not hold the process open). The timer
 * runs outside every call's async context (AsyncLocalStorage): aborts run in none, and a
 * `'timeout'` event is emitted in the context of the call that timed out when the policy
 * had a listener as that call started (tracing puts it on the call's span).
 * @publicApi
 */
export class TimeoutPolicy extends Policy {
  readonly kind = 'timeout' as const;
  readonly options: ResolvedTimeoutOptions;
  private readonly time: TimeSource;
  private calls = 0;
  private timeouts = 0;
  private head: InFlight | undefined = undefined;
  private tail: InFlight | undefined = undefined;
  private handle: unknown = undefined;
  private armed = false;
  private disposed = false;

  constructor(name: string, options?: Partial<TimeoutOptions> | number, time?: PolicyTime) {
    super(name);
    this.options = resolveTimeoutOptions(name, options);
    this.time = timeSourceFrom(time?.clock, time?.scheduler);
  }

  /** The time limit in ms. */
  get timeout(): number {
    return this.options.timeout;
  }

  run<T>(fn: Work<T>, context: CallContext | undefined, _args?: readonly unknown[]): Promise<T> {
    this.calls++;
    const child = CallContext.childOf(context);
    const deadline = this.time.clock.now() + this.options.timeout;
    const work = invoke(fn, child);
    return new Promise<T>((resolve, reject) => {
      const entry = new InFlight(deadline, child, resolve as (value: unknown) => void, reject);
      // an AsyncResource, not AsyncLocalStorage.snapshot(): the latter costs ~10 µs on Node 20
      if (this.emitter.hasListeners) entry.scope = new AsyncResource(CALL_SCOPE);
      this.enqueue(entry);
      work.then(
        (value) => this.settle(entry, value, false),
        (error) => this.settle(entry, error, true),
      );
    });
  }

  stats(): TimeoutStats {
    return { calls: this.calls, timeouts: this.timeouts };
  }

  /**
   * Clears the timer. Calls still in flight are no longer timed: they settle when their
   * work does. Calls made afterwards run without a time limit.
   */
  override dispose(): void {
    this.disposed = true;
    this.disarm();
  }

  private enqueue(entry: InFlight): void {
    const tail = this.tail;
    if (tail) {
      tail.next = entry;
      entry.prev = tail;
      this.tail = entry;
      return;
    }
    this.head = this.tail = entry;
    // The list was empty: a timer left armed for an earlier deadline is still earlier
    // than this one, so it only needs to count again for keeping the process alive.
    if (this.armed) (this.handle as RefHandle | null)?.ref?.();
    else this.arm(entry.deadline);
  }

  private unlink(entry: InFlight): void {
    const { prev, next } = entry;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    entry.prev = entry.next = undefined;
  }

  private settle(entry: InFlight, outcome: unknown, failed: boolean): void {
    if (entry.settled) return; // timed out before: the late result is dropped
    entry.settled = true;
    if (entry.scope) {
      entry.scope.emitDestroy();
      entry.scope = undefined;
    }
    this.unlink(entry);
    entry.context.release();
    if (!this.head && this.armed) (this.handle as RefHandle | null)?.unref?.();
    if (failed) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  private arm(deadline: number): void {
    if (this.disposed) return;
    this.armed = true;
    const scheduler = this.time.scheduler;
    // Armed outside every call's async context: a timer keeps the context it was armed in
    // alive and fires in it, and this one serves all calls (it is re-armed from its own
    // callback), so it must neither hold on to the call that happened to arm it nor run the
    // other calls' aborts and events in that call's context.
    this.handle = setDetachedTimeout(
      scheduler,
      this.fire,
      Math.max(0, deadline - this.time.clock.now()),
    );
  }

  private disarm(): void {
    if (!this.armed) return;
    this.armed = false;
    const handle = this.handle;
    this.handle = undefined;
    this.time.scheduler.clearTimeout(handle);
  }

  private readonly fire = (): void => {
    this.armed = false;
    this.handle = undefined;
    const now = this.time.clock.now();
    let entry = this.head;
    while (entry && entry.deadline <= now) {
      const next = entry.next;
      entry.settled = true;
      this.unlink(entry);
      this.expire(entry, now);
      entry = next;
    }
    if (this.head) this.arm(this.head.deadline);
  };

  private expire(entry: InFlight, now: number): void {
    this.timeouts++;
    const error = new TimeoutError(this.name, this.options.timeout);
    const scope = entry.scope;
    entry.scope = undefined;
    if (this.emitter.hasListeners) {
      const event = {
        type: 'timeout',
        name: this.name,
        timeout: this.options.timeout,
        at: now,
      } as const;
      if (scope) scope.runInAsyncScope(this.emitter.emit, this.emitter, event);
      else this.emitter.emit(event);
    }
    scope?.emitDestroy();
    entry.reject(error); // the caller learns now, not when the work ends
    try {
      entry.context.abort(error);
    } catch {
      // a throwing abort listener belongs to the work; it must not stop the other timeouts
    }
    entry.context.release();
  }
}
