import { Module } from '@nestjs/common';
import { PaymentsClient } from './payments.client';
import { PaymentsController } from './payments.controller';

@Module({
  controllers: [PaymentsController],
  providers: [PaymentsClient],
  exports: [PaymentsClient],
})
export class PaymentsModule {}
