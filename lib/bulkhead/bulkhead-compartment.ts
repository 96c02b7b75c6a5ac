import type { CallContext } from '../common/call-context';
import type { Emitter } from '../common/emitter';
import {
  BulkheadRejectedError,
  BulkheadRejectionReason,
} from '../common/errors/bulkhead-rejected.error';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import type { ResilienceEvent } from '../common/events';
import { invoke, rootContext, Work } from '../common/policy';
import type { TimeSource } from '../common/scheduler';
import type { ResolvedBulkheadOptions } from './bulkhead.options';

/** Plain-JSON counters of a bulkhead (or of one partition of a keyed bulkhead). @publicApi */
export interface BulkheadStats {
  /** Calls running now. */
  active: number;
  /** Calls waiting for a slot now. */
  queued: number;
  maxConcurrent: number;
  maxQueue: number;
  /** Calls that got a slot (at once or after waiting). */
  accepted: number;
  /** Every `BulkheadRejectedError` thrown, whatever the reason (queue timeouts included). */
  rejected: number;
  /** Rejections with reason `'queue-timeout'` (also counted in `rejected`). */
  queueTimeouts: number;
  /** Calls cancelled by their caller before they got a slot (not counted in `rejected`). */
  aborted: number;
}

/** What a compartment needs from the policy that owns it. @internal */
export interface CompartmentHost {
  readonly name: string;
  readonly options: ResolvedBulkheadOptions;
  readonly time: TimeSource;
  readonly emitter: Emitter<ResilienceEvent>;
  /** Called when the compartment's last running call ends and nothing waits. */
  idle?(compartment: BulkheadCompartment): void;
}

/** A call waiting for a slot: a node of the queue's doubly linked list. */
interface Waiter {
  fn: Work<unknown>;
  context: CallContext | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: unknown;
  unsubscribe: (() => void) | undefined;
  prev: Waiter | undefined;
  next: Waiter | undefined;
  inQueue: boolean;
}

/**
 * The slots and queue of one bulkhead. `BulkheadPolicy` owns one; `KeyedBulkheadPolicy`
 * owns one per key. Invariant: the queue is empty unless every slot is taken, because a
 * freed slot goes straight to the oldest waiter.
 * @internal
 */
export class BulkheadCompartment {
  active = 0;
  queued = 0;
  accepted = 0;
  rejected = 0;
  queueTimeouts = 0;
  aborted = 0;
  /** Set by `KeyedBulkheadPolicy` while the compartment is on its idle list. */
  listedIdle = false;

  private head: Waiter | undefined;
  private tail: Waiter | undefined;
  private pressureArmed = true;
  private disposed = false;

  constructor(
    private readonly host: CompartmentHost,
    readonly key?: string,
  ) {}

  get isIdle(): boolean {
    return this.active === 0 && this.queued === 0;
  }

  run<T>(fn: Work<T>, context: CallContext | undefined): Promise<T> {
    if (this.disposed) return this.refuse('shutdown');
    if (context !== undefined && context.aborted) {
      this.aborted++;
      return Promise.reject(this.abortError(context.reason));
    }
    if (this.active < this.host.options.maxConcurrent) return this.start(fn, rootContext(context));
    return this.enqueue(fn, context);
  }

  stats(): BulkheadStats {
    const { maxConcurrent, maxQueue } = this.host.options;
    return {
      active: this.active,
      queued: this.queued,
      maxConcurrent,
      maxQueue,
      accepted: this.accepted,
      rejected: this.rejected,
      queueTimeouts: this.queueTimeouts,
      aborted: this.aborted,
    };
  }

  /** Rejects every waiter with reason `'shutdown'`, clears their timers, refuses new calls. */
  dispose(): void {
    this.disposed = true;
    let waiter = this.head;
    while (waiter !== undefined) {
      const next = waiter.next;
      this.detach(waiter);
      this.fail(waiter, 'shutdown');
      waiter = next;
    }
    this.pressureArmed = true;
  }

  private start<T>(fn: Work<T>, context: CallContext): Promise<T> {
    this.active++;
    this.accepted++;
    return invoke(fn, context).then(this.settledWith, this.failedWith);
  }

  private readonly settledWith = <V>(value: V): V => {
    this.release();
    return value;
  };

  private readonly failedWith = (error: unknown): never => {
    this.release();
    throw error;
  };

  /** A running call ended: its slot goes to the oldest waiter, if any. */
  private release(): void {
    this.active--;
    const next = this.head;
    if (next !== undefined) {
      this.leave(next);
      next.resolve(this.start(next.fn, rootContext(next.context)));
    } else if (this.active === 0) {
      this.host.idle?.(this);
    }
  }

  private enqueue<T>(fn: Work<T>, context: CallContext | undefined): Promise<T> {
    const { maxQueue, overflow } = this.host.options;
    let evicted: Waiter | undefined;
    if (this.queued >= maxQueue) {
      if (overflow !== 'drop-oldest' || maxQueue === 0) return this.refuse('full');
      evicted = this.head!;
      this.detach(evicted); // the queue stays full: the pressure state does not change
    }
    const promise = new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        fn,
        context,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer: undefined,
        unsubscribe: undefined,
        prev: this.tail,
        next: undefined,
        inQueue: true,
      };
      if (this.tail === undefined) this.head = waiter;
      else this.tail.next = waiter;
      this.tail = waiter;
      this.queued++;
      const { queueTimeout } = this.host.options;
      if (queueTimeout > 0) {
        waiter.timer = this.host.time.scheduler.setTimeout(() => this.expire(waiter), queueTimeout);
      }
      if (context !== undefined) {
        waiter.unsubscribe = context.onAbort((reason) => this.abandon(waiter, reason));
      }
    });
    if (evicted !== undefined) this.fail(evicted, 'evicted');
    else this.checkPressureRise();
    return promise;
  }

  /** The waiter's queue timeout fired. */
  private expire(waiter: Waiter): void {
    if (!waiter.inQueue) return;
    waiter.timer = undefined;
    this.leave(waiter);
    this.queueTimeouts++;
    this.fail(waiter, 'queue-timeout');
  }

  /** The waiter's caller cancelled the call. */
  private abandon(waiter: Waiter, reason: unknown): void {
    if (!waiter.inQueue) return;
    waiter.unsubscribe = undefined;
    this.leave(waiter);
    this.aborted++;
    waiter.reject(this.abortError(reason));
  }

  /** Takes the waiter out of the queue and re-arms the pressure event if the queue drained. */
  private leave(waiter: Waiter): void {
    this.detach(waiter);
    if (!this.pressureArmed && this.queued / this.host.options.maxQueue < this.threshold) {
      this.pressureArmed = true;
    }
  }

  /** Unlinks the waiter, drops its timer and abort listener. */
  private detach(waiter: Waiter): void {
    waiter.inQueue = false;
    const { prev, next } = waiter;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    waiter.prev = waiter.next = undefined;
    this.queued--;
    if (waiter.timer !== undefined) {
      this.host.time.scheduler.clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
    if (waiter.unsubscribe !== undefined) {
      waiter.unsubscribe();
      waiter.unsubscribe = undefined;
    }
  }

  private fail(waiter: Waiter, reason: BulkheadRejectionReason): void {
    waiter.reject(this.rejection(reason));
  }

  private refuse<T>(reason: BulkheadRejectionReason): Promise<T> {
    return Promise.reject(this.rejection(reason));
  }

  private rejection(reason: BulkheadRejectionReason): BulkheadRejectedError {
    this.rejected++;
    const { emitter, name } = this.host;
    if (emitter.hasListeners) {
      const at = this.host.time.clock.now();
      emitter.emit(
        this.key === undefined
          ? { type: 'bulkhead-rejected', name, reason, at }
          : { type: 'bulkhead-rejected', name, reason, at, key: this.key },
      );
    }
    return new BulkheadRejectedError(name, reason);
  }

  private checkPressureRise(): void {
    if (!this.pressureArmed) return;
    const { maxQueue } = this.host.options;
    const ratio = this.queued / maxQueue;
    if (ratio < this.threshold) return;
    this.pressureArmed = false;
    const { emitter, name } = this.host;
    if (!emitter.hasListeners) return;
    const at = this.host.time.clock.now();
    const queued = this.queued;
    emitter.emit(
      this.key === undefined
        ? { type: 'bulkhead-pressure', name, queued, maxQueue, ratio, at }
        : { type: 'bulkhead-pressure', name, queued, maxQueue, ratio, at, key: this.key },
    );
  }

  private get threshold(): number {
    return this.host.options.warningThreshold;
  }

  private abortError(reason: unknown): Error {
    return reason instanceof Error
      ? reason
      : new CallAbortedError(this.host.name, reason === undefined ? undefined : { cause: reason });
  }
}
