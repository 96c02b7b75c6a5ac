export * from './backoff';
export { defaultRetryOn, resolveRetryOptions } from './retry.options';
export type { ResolvedRetryOptions, RetryOptions, RetryPredicate } from './retry.options';
export { RetryPolicy } from './retry.policy';
export type { RetryStats } from './retry.policy';
