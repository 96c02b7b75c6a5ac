export { resolveRateLimiterOptions } from './rate-limiter.options';
export type { RateLimiterOptions, ResolvedRateLimiterOptions } from './rate-limiter.options';
export { RateLimiterPolicy } from './rate-limiter.policy';
export type { RateLimiterStats } from './rate-limiter.policy';
