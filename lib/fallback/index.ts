export { resolveFallbackHandler } from './fallback.options';
export type { FallbackHandler } from './fallback.options';
export { FallbackPolicy } from './fallback.policy';
export type { FallbackStats } from './fallback.policy';
