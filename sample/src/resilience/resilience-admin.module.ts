import { Module } from '@nestjs/common';
import { PaymentsModule } from '../payments/payments.module';
import { EventLog } from './event-log';
import { ResilienceController } from './resilience.controller';

/** `/resilience/*` routes. `ResilienceRegistry` comes from the global `ResilienceModule`. */
@Module({
  imports: [PaymentsModule],
  controllers: [ResilienceController],
  providers: [EventLog],
})
export class ResilienceAdminModule {}
