export { resolveSloOptions } from './slo.options';
export type { ResolvedSloOptions, SloOptions } from './slo.options';
export { SloPolicy } from './slo.policy';
export type { SloStats } from './slo.policy';
