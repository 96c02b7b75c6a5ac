import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';

/**
 * `/health`, `/health/live` and `/health/ready`. `ResilienceHealthIndicator` comes from
 * the global `ResilienceModule`, `HealthCheckService` from `TerminusModule`.
 */
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' })],
  controllers: [HealthController],
})
export class HealthModule {}
