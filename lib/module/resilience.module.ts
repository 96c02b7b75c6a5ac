import { DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ResilienceHealthIndicator } from '../health/resilience.health-indicator';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { PolicyFactory } from './policy.factory';
import { resolveOptions, ResolvedModuleOptions } from './resolve-options';
import { DEAD_LETTER_QUEUE } from '../dead-letter/dead-letter.interface';
import { RESOLVED_OPTIONS } from './resilience.constants';
import { ResilienceExplorer } from './resilience.explorer';
import {
  ConfigurableModuleClass,
  OPTIONS_TYPE,
  RESILIENCE_MODULE_OPTIONS,
} from './resilience.module-definition';

/**
 * Registers the resilience policies of one application: `forRoot(options?)` or
 * `forRootAsync({ imports, inject, useFactory | useClass | useExisting })`. Global
 * by default (`isGlobal: false` opts out).
 * @publicApi
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    { provide: RESOLVED_OPTIONS, useFactory: resolveOptions, inject: [RESILIENCE_MODULE_OPTIONS] },
    {
      provide: DEAD_LETTER_QUEUE,
      useFactory: (options: ResolvedModuleOptions) => options.deadLetterQueue,
      inject: [RESOLVED_OPTIONS],
    },
    ResilienceRegistry,
    PolicyFactory,
    ResilienceExplorer,
    ResilienceHealthIndicator,
  ],
  exports: [ResilienceRegistry, DEAD_LETTER_QUEUE, ResilienceHealthIndicator],
})
export class ResilienceModule extends ConfigurableModuleClass {
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
