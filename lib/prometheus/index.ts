// nestjs-fault-tolerance/prometheus: needs the optional peer dependency prom-client.
export { ResiliencePrometheusModule } from './resilience-prometheus.module';
export {
  RESILIENCE_PROMETHEUS_OPTIONS,
  type ResiliencePrometheusExtras,
} from './resilience-prometheus.module-definition';
export { ResiliencePrometheusCollector } from './resilience-prometheus.collector';
export { CIRCUIT_STATE_VALUES, collectResilienceMetrics } from './collect-resilience-metrics';
export {
  DEFAULT_DURATION_BUCKETS,
  type MetricsRegistry,
  type ResiliencePrometheusOptions,
} from './resilience-prometheus.options';
export type { ResiliencePrometheusOptionsFactory } from './resilience-prometheus-options-factory.interface';
