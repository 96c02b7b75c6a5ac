import { Module } from '@nestjs/common';
import { EventLog } from './event-log';
import { ResilienceController } from './resilience.controller';

/** `/resilience/*` routes. `ResilienceRegistry` comes from the global `ResilienceModule`. */
@Module({
  controllers: [ResilienceController],
  providers: [EventLog],
})
export class ResilienceAdminModule {}
