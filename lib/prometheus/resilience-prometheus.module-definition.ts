import { ConfigurableModuleBuilder, type Type } from '@nestjs/common';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { PROMETHEUS_INVALID_OPTION } from './prometheus.messages';
import { DEFAULT_METRICS_PATH } from './resilience-prometheus.constants';
import type { ResiliencePrometheusOptions } from './resilience-prometheus.options';
import { createMetricsController } from './resilience-metrics.controller';

/**
 * Options read when the module is registered, before any factory runs. With
 * `forRootAsync`, pass them next to `useFactory` / `useClass`.
 * @publicApi
 */
export interface ResiliencePrometheusExtras {
  /**
   * Serve the registry's metrics over HTTP: `true` for `GET /metrics`, `{ path }` for
   * another route. Leave it off when the app already serves its registry.
   * @default false
   */
  controller?: boolean | { path?: string };
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: RESILIENCE_PROMETHEUS_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ResiliencePrometheusOptions>({
  moduleName: 'ResiliencePrometheus',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createResiliencePrometheusOptions')
  .setExtras<ResiliencePrometheusExtras>({ controller: false }, (definition, extras) => ({
    ...definition,
    controllers: [...(definition.controllers ?? []), ...metricsControllers(extras.controller)],
  }))
  .build();

function metricsControllers(controller: unknown): Type[] {
  if (controller === undefined || controller === false) return [];
  if (controller === true) return [createMetricsController(DEFAULT_METRICS_PATH)];
  if (typeof controller === 'object' && controller !== null && !Array.isArray(controller)) {
    const { path = DEFAULT_METRICS_PATH, ...rest } = controller as { path?: unknown };
    const unknownKey = Object.keys(rest)[0];
    if (unknownKey !== undefined) {
      throw invalid(`controller.${unknownKey}`, (rest as Record<string, unknown>)[unknownKey]);
    }
    if (typeof path !== 'string') throw invalid('controller.path', path, 'a route path string');
    return [createMetricsController(path)];
  }
  throw invalid('controller', controller, "true, false or { path: 'metrics' }");
}

const invalid = (key: string, value: unknown, expected = 'nothing (unknown key)') =>
  new ResilienceConfigError(
    PROMETHEUS_INVALID_OPTION(key, value, expected),
    'ResiliencePrometheusModule',
    key,
    value,
  );
