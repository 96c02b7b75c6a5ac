export { resolveBulkheadOptions, resolveKeyedBulkheadOptions } from './bulkhead.options';
export type {
  BulkheadOptions,
  BulkheadOverflow,
  KeyedBulkheadOptions,
  ResolvedBulkheadOptions,
  ResolvedKeyedBulkheadOptions,
} from './bulkhead.options';
export type { BulkheadStats } from './bulkhead-compartment';
export { BulkheadPolicy } from './bulkhead.policy';
export { KeyedBulkheadPolicy } from './keyed-bulkhead.policy';
export type { KeyedBulkheadStats } from './keyed-bulkhead.policy';
export { createBulkheadPolicy } from './create-bulkhead-policy';
