import type { ResilienceModuleOptions } from './resilience-module-options.interface';

/** For `forRootAsync({ useClass })` / `useExisting`. @publicApi */
export interface ResilienceOptionsFactory {
  createResilienceOptions(): ResilienceModuleOptions | Promise<ResilienceModuleOptions>;
}
