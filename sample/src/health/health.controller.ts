import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { ResilienceHealthIndicator } from '../../../lib';
import { GATEWAY_BREAKER } from '../payments/payments.client';

/**
 * Health probes in the Kubernetes convention. `HealthCheckService.check()` answers 200
 * while every indicator is up (or degraded, on Terminus 12) and 503 when one is down.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly resilience: ResilienceHealthIndicator,
  ) {}

  /**
   * `GET /health`: every circuit breaker and bulkhead of the app, for dashboards and
   * humans. 503 while any breaker is open; a half-open breaker or a bulkhead whose queue
   * is filling up shows as degraded.
   */
  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.resilience.isHealthy()]);
  }

  /**
   * `GET /health/live` (liveness probe): the process is running and serving requests.
   * It never looks at downstreams: restarting this instance would not fix the gateway.
   */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([
      () => ({ process: { status: 'up', uptime: Math.round(process.uptime()) } }),
    ]);
  }

  /**
   * `GET /health/ready` (readiness probe): 503 while the payments gateway breaker is open,
   * so the load balancer sends traffic to instances that can take payments. Other
   * breakers and the bulkheads do not take the instance out of rotation.
   */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.resilience.isHealthy('payments', { circuitBreakers: [GATEWAY_BREAKER] }),
    ]);
  }
}
