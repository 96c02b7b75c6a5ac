import { DynamicModule, Module } from '@nestjs/common';
import { ResilienceDashboardModule, ResilienceModule, ResilienceModuleOptions } from '../../lib';
import { loadConfig, SampleConfig } from './config';
import { createDeadLetterQueue } from './dead-letter-queue';
import { ChaosDemoModule } from './chaos/chaos-demo.module';
import { DownstreamModule } from './downstream/downstream.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { PaymentsModule } from './payments/payments.module';
import { ResilienceAdminModule } from './resilience/resilience-admin.module';

/**
 * Options of `ResilienceModule.forRoot()` for this app.
 * - `defaults`: merged under every policy of that kind; a decorator's own options win.
 * - `policies`: named policy sets, applied with `@UsePolicy(name)`. Keeping them in
 *   configuration lets operators tune timeouts and retries without touching code.
 * - `httpErrors: true`: registers `ResilienceExceptionFilter`, which turns resilience
 *   errors into 503 / 429 / 504 answers.
 */
export function resilienceOptions(config: SampleConfig): ResilienceModuleOptions {
  return {
    defaults: {
      circuitBreaker: { resetTimeout: config.breakerResetTimeout },
      timeout: { timeout: 2_000 },
    },
    policies: {
      'reference-data': {
        retry: { maxAttempts: 2, backoff: { type: 'fixed', initialDelay: 100, jitter: 'none' } },
        circuitBreaker: { failureThreshold: 5, successThreshold: 1 },
        rateLimiter: { limit: 100, interval: 1_000 },
        timeout: { timeout: 500 },
        // a method of the class using the set: PaymentsClient.cachedRate
        fallback: 'cachedRate',
      },
    },
    httpErrors: true,
    // at least 95 % of gateway calls succeed over the last minute (after retries); the
    // dashboard, /metrics and 'slo-violation' events show how much error budget is left
    slo: { 'payments-gateway': { target: 0.95, window: 60_000, minimumCalls: 20 } },
    // DEAD_LETTER_QUEUE=redis|rabbitmq|nats sends the letters to a broker (default: in memory)
    deadLetterQueue: createDeadLetterQueue(config),
    // fault injection only when asked for (CHAOS=1); off, @Chaos costs nothing
    chaos: { enabled: config.chaos },
  };
}

/**
 * The sample application: a payments API in front of a deliberately flaky gateway.
 * `AppModule.forRoot()` reads its settings from environment variables (see config.ts);
 * tests pass their own.
 */
@Module({})
export class AppModule {
  static forRoot(config: SampleConfig = loadConfig()): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ResilienceModule.forRoot(resilienceOptions(config)),
        // live dashboard at /resilience/dashboard?token=… (DASHBOARD_TOKEN)
        ResilienceDashboardModule.forRoot({ token: config.dashboardToken }),
        DownstreamModule.forRoot({
          port: config.downstreamPort,
          failureRate: config.failureRate,
          latencyMs: config.latencyMs,
        }),
        PaymentsModule,
        ResilienceAdminModule,
        ChaosDemoModule,
        HealthModule,
        MetricsModule,
      ],
    };
  }
}
