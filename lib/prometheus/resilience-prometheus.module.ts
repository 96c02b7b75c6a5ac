import { DynamicModule, Module } from '@nestjs/common';
import { ResiliencePrometheusCollector } from './resilience-prometheus.collector';
import { RESOLVED_PROMETHEUS_OPTIONS } from './resilience-prometheus.constants';
import {
  ConfigurableModuleClass,
  OPTIONS_TYPE,
  RESILIENCE_PROMETHEUS_OPTIONS,
} from './resilience-prometheus.module-definition';
import { resolvePrometheusOptions } from './resilience-prometheus.options';

/**
 * Exports the application's resilience metrics (API §8 table) through prom-client:
 * `forRoot(options?)` or `forRootAsync({ imports, inject, useFactory | useClass | useExisting })`.
 * Needs `ResilienceModule` in the same application. Bad options fail bootstrap with a
 * `ResilienceConfigError`.
 * @publicApi
 */
@Module({
  providers: [
    {
      provide: RESOLVED_PROMETHEUS_OPTIONS,
      useFactory: resolvePrometheusOptions,
      inject: [RESILIENCE_PROMETHEUS_OPTIONS],
    },
    ResiliencePrometheusCollector,
  ],
  exports: [ResiliencePrometheusCollector],
})
export class ResiliencePrometheusModule extends ConfigurableModuleClass {
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
