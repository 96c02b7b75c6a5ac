export { Chaos } from './chaos.decorator';
export { resolveChaosOptions } from './chaos.options';
export type {
  ChaosModuleOptions,
  ChaosOptions,
  ChaosRandom,
  ResolvedChaosOptions,
} from './chaos.options';
export { ChaosPolicy } from './chaos.policy';
export type { ChaosStats } from './chaos.policy';
