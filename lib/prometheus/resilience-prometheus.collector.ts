import {
  Inject,
  Injectable,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { Disposable } from '../common/emitter';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { collectResilienceMetrics } from './collect-resilience-metrics';
import { PROMETHEUS_NO_RESILIENCE_MODULE } from './prometheus.messages';
import { RESOLVED_PROMETHEUS_OPTIONS } from './resilience-prometheus.constants';
import type { MetricsRegistry, ResolvedPrometheusOptions } from './resilience-prometheus.options';

/**
 * Registers the resilience metrics of the application's `ResilienceRegistry` when the
 * application has initialised (`onApplicationBootstrap`: a bootstrap that failed earlier
 * leaves nothing registered), and removes them when it shuts down (after in-flight calls
 * drained, so their durations are still observed).
 * @publicApi
 */
@Injectable()
export class ResiliencePrometheusCollector
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  private collection?: Disposable;

  constructor(
    @Inject(RESOLVED_PROMETHEUS_OPTIONS) private readonly options: ResolvedPrometheusOptions,
    private readonly moduleRef: ModuleRef,
    @Optional() private readonly resilience?: ResilienceRegistry,
  ) {}

  /** The prom-client registry the metrics are registered in. */
  get registry(): MetricsRegistry {
    return this.options.registry;
  }

  onApplicationBootstrap(): void {
    this.collection ??= collectResilienceMetrics(this.findResilienceRegistry(), this.options);
  }

  onApplicationShutdown(): void {
    this.collection?.dispose();
    this.collection = undefined;
  }

  /** The injected registry, or (with `isGlobal: false`) the one of any module of the app. */
  private findResilienceRegistry(): ResilienceRegistry {
    if (this.resilience) return this.resilience;
    try {
      return this.moduleRef.get(ResilienceRegistry, { strict: false });
    } catch {
      throw new ResilienceConfigError(
        PROMETHEUS_NO_RESILIENCE_MODULE,
        'ResiliencePrometheusModule',
      );
    }
  }
}
