import type { CallContext } from '../common/call-context';
import { Policy, PolicyTime, Work } from '../common/policy';
import { TimeSource, timeSourceFrom } from '../common/scheduler';
import { BulkheadCompartment, BulkheadStats } from './bulkhead-compartment';
import {
  BulkheadOptions,
  ResolvedBulkheadOptions,
  resolveBulkheadOptions,
} from './bulkhead.options';

/**
 * Limits how many calls run at the same time; calls beyond that wait in a bounded FIFO
 * queue or are rejected with `BulkheadRejectedError`. A call that finds a free slot
 * starts synchronously.
 *
 * The `key` option is not used here: `KeyedBulkheadPolicy` (or `createBulkheadPolicy`)
 * gives each key its own bulkhead.
 * @publicApi
 */
export class BulkheadPolicy extends Policy {
  readonly kind = 'bulkhead' as const;
  readonly options: ResolvedBulkheadOptions;
  private readonly compartment: BulkheadCompartment;

  constructor(name: string, options?: Partial<BulkheadOptions>, time?: PolicyTime) {
    super(name);
    this.options = resolveBulkheadOptions(name, options);
    const source: TimeSource = timeSourceFrom(time?.clock, time?.scheduler);
    this.compartment = new BulkheadCompartment({
      name,
      options: this.options,
      time: source,
      emitter: this.emitter,
    });
  }

  /** Calls running now. */
  get active(): number {
    return this.compartment.active;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.compartment.queued;
  }

  run<T>(fn: Work<T>, context: CallContext | undefined, _args?: readonly unknown[]): Promise<T> {
    return this.compartment.run(fn, context);
  }

  stats(): BulkheadStats {
    return this.compartment.stats();
  }

  /**
   * Rejects every waiting call with `BulkheadRejectedError` reason `'shutdown'`, clears
   * their timers, and refuses new calls the same way. Running calls finish normally.
   */
  override dispose(): void {
    this.compartment.dispose();
  }
}
