import { checks, invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/**
 * What a call does when it finds the queue full: `'reject'` fails the new call,
 * `'drop-oldest'` evicts the oldest waiter (which fails with reason `'evicted'`) and
 * queues the new call.
 * @publicApi
 */
export type BulkheadOverflow = 'reject' | 'drop-oldest';

/**
 * Options of `@Bulkhead()`, `BulkheadPolicy` and `KeyedBulkheadPolicy`.
 * @publicApi
 */
export interface BulkheadOptions {
  /**
   * Calls allowed to run at the same time.
   * @default 10 (calls, a whole number >= 1)
   */
  maxConcurrent: number;
  /**
   * Calls allowed to wait for a free slot, first in first out. 0: nobody waits.
   * @default 0 (calls, a whole number >= 0)
   */
  maxQueue: number;
  /**
   * Longest wait in the queue; a call that waits longer fails with reason
   * `'queue-timeout'`. 0: wait without limit.
   * @default 0 (ms)
   */
  queueTimeout: number;
  /**
   * What a call does when the queue is full (see `BulkheadOverflow`).
   * @default 'reject'
   */
  overflow: BulkheadOverflow;
  /**
   * Queue fill ratio (`queued / maxQueue`) at which one `'bulkhead-pressure'` event is
   * emitted; it is emitted again only after the ratio has fallen below it.
   * @default 0.8 (a ratio in (0, 1])
   */
  warningThreshold: number;
  /**
   * Partitions calls into isolated bulkheads, one per returned key (per user, per
   * tenant…). Receives the protected method's arguments. Used by `KeyedBulkheadPolicy`
   * (`@Bulkhead` picks it when `key` is set).
   * @default undefined (one bulkhead for every call)
   */
  key?: (...args: any[]) => string;
  /**
   * Idle keyed partitions kept (idle: nothing running or waiting); beyond that the
   * least recently used idle partition is dropped. Busy partitions are always kept.
   * @default 10000 (partitions, a whole number >= 1)
   */
  maxKeys: number;
}

/** Bulkhead options after validation, with defaults applied. @publicApi */
export type ResolvedBulkheadOptions = Readonly<BulkheadOptions>;

/** Keyed bulkhead options: `key` is required. @publicApi */
export type KeyedBulkheadOptions = BulkheadOptions & { key: (...args: any[]) => string };

/** Keyed bulkhead options after validation, with defaults applied. @publicApi */
export type ResolvedKeyedBulkheadOptions = Readonly<KeyedBulkheadOptions>;

/** @internal */
export const BULKHEAD_DEFAULTS: Readonly<Omit<BulkheadOptions, 'key'>> = Object.freeze({
  maxConcurrent: 10,
  maxQueue: 0,
  queueTimeout: 0,
  overflow: 'reject',
  warningThreshold: 0.8,
  maxKeys: 10_000,
});

const schema: Schema = {
  maxConcurrent: checks.positiveInt,
  maxQueue: checks.nonNegativeInt,
  queueTimeout: checks.duration,
  overflow: checks.oneOf('reject', 'drop-oldest'),
  warningThreshold: checks.ratio,
  key: checks.fn,
  maxKeys: checks.positiveInt,
};

/** Every key `resolveBulkheadOptions` knows. @internal */
export const BULKHEAD_OPTION_KEYS: readonly string[] = schemaKeys(schema);

/**
 * Validates bulkhead options (unknown keys and bad values throw `ResilienceConfigError`
 * naming the policy, the key and the value) and applies the defaults.
 * @internal
 */
export function resolveBulkheadOptions(
  name: string,
  options?: Partial<BulkheadOptions>,
): ResolvedBulkheadOptions {
  validateOptions(name, options, schema);
  const o = options ?? {};
  const d = BULKHEAD_DEFAULTS;
  const resolved: BulkheadOptions = {
    maxConcurrent: o.maxConcurrent ?? d.maxConcurrent,
    maxQueue: o.maxQueue ?? d.maxQueue,
    queueTimeout: o.queueTimeout ?? d.queueTimeout,
    overflow: o.overflow ?? d.overflow,
    warningThreshold: o.warningThreshold ?? d.warningThreshold,
    maxKeys: o.maxKeys ?? d.maxKeys,
  };
  if (o.key !== undefined) resolved.key = o.key;
  return Object.freeze(resolved);
}

/**
 * As `resolveBulkheadOptions`, and `key` must be given.
 * @internal
 */
export function resolveKeyedBulkheadOptions(
  name: string,
  options?: Partial<BulkheadOptions>,
): ResolvedKeyedBulkheadOptions {
  const resolved = resolveBulkheadOptions(name, options);
  if (resolved.key === undefined) {
    invalid(name, 'key', undefined, 'a function (...args) => string (a keyed bulkhead needs one)');
  }
  return resolved as ResolvedKeyedBulkheadOptions;
}
