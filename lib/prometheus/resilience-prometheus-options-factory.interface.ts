import type { ResiliencePrometheusOptions } from './resilience-prometheus.options';

/**
 * A class that `ResiliencePrometheusModule.forRootAsync({ useClass })` or `{ useExisting }`
 * asks for the options.
 * @publicApi
 */
export interface ResiliencePrometheusOptionsFactory {
  createResiliencePrometheusOptions():
    ResiliencePrometheusOptions | Promise<ResiliencePrometheusOptions>;
}
