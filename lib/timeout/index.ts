export { resolveTimeoutOptions } from './timeout.options';
export type { ResolvedTimeoutOptions, TimeoutOptions } from './timeout.options';
export { TimeoutPolicy } from './timeout.policy';
export type { TimeoutStats } from './timeout.policy';
