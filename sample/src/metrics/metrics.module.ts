import { Injectable, Module, OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, register } from 'prom-client';
import { ResiliencePrometheusModule } from '../../../lib/prometheus';

/**
 * prom-client's process metrics (CPU, memory, event loop lag, GC) in the global registry.
 * They belong to the process, not to one application, so they are registered once.
 */
@Injectable()
class ProcessMetrics implements OnModuleInit {
  onModuleInit(): void {
    if (register.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
      collectDefaultMetrics();
    }
  }
}

/**
 * `GET /metrics` for Prometheus: the resilience metrics of the app (circuit breaker state,
 * calls, transitions and latency; retries; timeouts; bulkheads; dead letters; SLOs) next to the
 * process metrics, all in prom-client's global registry. `controller: true` serves that
 * registry; an app that already has a metrics route leaves it off.
 */
@Module({
  imports: [ResiliencePrometheusModule.forRoot({ controller: true })],
  providers: [ProcessMetrics],
})
export class MetricsModule {}
