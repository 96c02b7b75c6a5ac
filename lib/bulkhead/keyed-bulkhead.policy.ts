import { CallContext, ChildContext, toContext } from '../common/call-context';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { Policy, PolicyTime, Work } from '../common/policy';
import { BULKHEAD_KEY_NOT_STRING, BULKHEAD_KEY_THREW } from '../common/resilience.messages';
import { timeSourceFrom } from '../common/scheduler';
import { BulkheadCompartment, BulkheadStats, CompartmentHost } from './bulkhead-compartment';
import {
  BulkheadOptions,
  KeyedBulkheadOptions,
  ResolvedKeyedBulkheadOptions,
  resolveKeyedBulkheadOptions,
} from './bulkhead.options';

/** Counters of a keyed bulkhead: sums over its partitions, plus `keys`. @publicApi */
export interface KeyedBulkheadStats extends BulkheadStats {
  /** Partitions held now (busy ones and up to `maxKeys` idle ones). */
  keys: number;
}

/** Counters that outlive the partitions they came from. */
interface Retired {
  accepted: number;
  rejected: number;
  queueTimeouts: number;
  aborted: number;
}

const NO_ARGS: readonly unknown[] = [];

/**
 * One isolated bulkhead per key (per user, per tenant…), each with the full options
 * (`maxConcurrent`, `maxQueue`, …). Partitions are created on first use. At most
 * `maxKeys` idle partitions (nothing running or waiting) are kept, the least recently
 * used dropped first; busy partitions are never dropped. `stats()` never goes backwards:
 * the counters of dropped partitions stay in the totals.
 * @publicApi
 */
export class KeyedBulkheadPolicy extends Policy {
  readonly kind = 'bulkhead' as const;
  readonly options: ResolvedKeyedBulkheadOptions;
  private readonly host: CompartmentHost;
  private readonly partitions = new Map<string, BulkheadCompartment>();
  /** Idle partitions, least recently used first (Map iteration order is insertion order). */
  private readonly idle = new Map<string, BulkheadCompartment>();
  private readonly retired: Retired = { accepted: 0, rejected: 0, queueTimeouts: 0, aborted: 0 };
  private disposed = false;

  constructor(
    name: string,
    options: Partial<BulkheadOptions> & Pick<KeyedBulkheadOptions, 'key'>,
    time?: PolicyTime,
  ) {
    super(name);
    this.options = resolveKeyedBulkheadOptions(name, options);
    this.host = {
      name,
      options: this.options,
      time: timeSourceFrom(time?.clock, time?.scheduler),
      emitter: this.emitter,
      idle: (compartment) => this.markIdle(compartment),
    };
  }

  /** Partitions held now. */
  get keys(): number {
    return this.partitions.size;
  }

  /**
   * Runs `fn` in the partition of `options.key(...args)`. A key function that throws or
   * returns a non-string rejects the call with a `TypeError`; `fn` is not called.
   */
  run<T>(fn: Work<T>, context: CallContext | undefined, args?: readonly unknown[]): Promise<T> {
    let key: unknown;
    try {
      key = this.options.key.apply(undefined, (args ?? NO_ARGS) as unknown[]);
    } catch (error) {
      return Promise.reject(new TypeError(BULKHEAD_KEY_THREW(this.name, error), { cause: error }));
    }
    if (typeof key !== 'string') {
      return Promise.reject(new TypeError(BULKHEAD_KEY_NOT_STRING(this.name, key)));
    }
    return this.runFor(key, fn, context);
  }

  /** Runs `fn` in the partition of `key`. `signal` cancels waiting and reaches the work. */
  executeFor<T>(key: string, fn: Work<T>, signal?: AbortSignal | CallContext): Promise<T> {
    if (typeof key !== 'string') {
      return Promise.reject(new TypeError(BULKHEAD_KEY_NOT_STRING(this.name, key)));
    }
    const context = toContext(signal);
    if (context === signal) return this.runFor(key, fn, context as CallContext | undefined);
    const child = context as ChildContext;
    return this.runFor(key, fn, child).finally(() => child.release());
  }

  /** Sums over every partition, including the counters of dropped ones. */
  stats(): KeyedBulkheadStats {
    const { maxConcurrent, maxQueue } = this.options;
    const r = this.retired;
    const sum: KeyedBulkheadStats = {
      active: 0,
      queued: 0,
      maxConcurrent,
      maxQueue,
      accepted: r.accepted,
      rejected: r.rejected,
      queueTimeouts: r.queueTimeouts,
      aborted: r.aborted,
      keys: this.partitions.size,
    };
    for (const p of this.partitions.values()) {
      sum.active += p.active;
      sum.queued += p.queued;
      sum.accepted += p.accepted;
      sum.rejected += p.rejected;
      sum.queueTimeouts += p.queueTimeouts;
      sum.aborted += p.aborted;
    }
    return sum;
  }

  /**
   * The partition with the longest queue now (the first one found on a tie), or
   * `undefined` when no call waits in any partition.
   */
  longestQueue(): { key: string; queued: number } | undefined {
    let longest: BulkheadCompartment | undefined;
    for (const p of this.partitions.values()) {
      if (p.queued > 0 && (longest === undefined || p.queued > longest.queued)) longest = p;
    }
    return longest === undefined ? undefined : { key: longest.key!, queued: longest.queued };
  }

  /** The counters of one partition, or `undefined` when no partition is held for `key`. */
  forKey(key: string): BulkheadStats | undefined {
    return this.partitions.get(key)?.stats();
  }

  /**
   * Rejects every waiting call of every partition with `BulkheadRejectedError` reason
   * `'shutdown'`, clears their timers, and refuses new calls. Running calls finish.
   */
  override dispose(): void {
    this.disposed = true;
    for (const p of this.partitions.values()) p.dispose();
  }

  private runFor<T>(key: string, fn: Work<T>, context: CallContext | undefined): Promise<T> {
    if (this.disposed) return this.refuseShutdown(key);
    let partition = this.partitions.get(key);
    if (partition === undefined) {
      partition = new BulkheadCompartment(this.host, key);
      this.partitions.set(key, partition);
    } else if (partition.listedIdle) {
      partition.listedIdle = false;
      this.idle.delete(key);
    }
    const result = partition.run(fn, context);
    // a call refused at once (cancelled before it started) leaves the partition idle
    if (partition.isIdle) this.markIdle(partition);
    return result;
  }

  /** Puts the partition last on the idle list and drops the least recently used beyond maxKeys. */
  private markIdle(partition: BulkheadCompartment): void {
    const key = partition.key!;
    partition.listedIdle = true;
    this.idle.set(key, partition);
    if (this.idle.size <= this.options.maxKeys) return;
    for (const [oldKey, old] of this.idle) {
      if (this.idle.size <= this.options.maxKeys) break;
      this.idle.delete(oldKey);
      this.partitions.delete(oldKey);
      old.listedIdle = false;
      this.retire(old);
    }
  }

  private retire(partition: BulkheadCompartment): void {
    const r = this.retired;
    r.accepted += partition.accepted;
    r.rejected += partition.rejected;
    r.queueTimeouts += partition.queueTimeouts;
    r.aborted += partition.aborted;
  }

  private refuseShutdown<T>(key: string): Promise<T> {
    this.retired.rejected++;
    if (this.emitter.hasListeners) {
      const at = this.host.time.clock.now();
      this.emitter.emit({
        type: 'bulkhead-rejected',
        name: this.name,
        reason: 'shutdown',
        at,
        key,
      });
    }
    return Promise.reject(new BulkheadRejectedError(this.name, 'shutdown'));
  }
}
