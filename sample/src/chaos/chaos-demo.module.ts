import { Module } from '@nestjs/common';
import { ChaosDemoController } from './chaos-demo.controller';
import { ChaosDemoService } from './chaos-demo.service';

/** `/chaos-demo/*`: each policy shown with an injected fault (start the sample with `CHAOS=1`). */
@Module({
  controllers: [ChaosDemoController],
  providers: [ChaosDemoService],
})
export class ChaosDemoModule {}
