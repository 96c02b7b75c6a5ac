import { DynamicModule, Module } from '@nestjs/common';
import { DOWNSTREAM_OPTIONS } from './downstream.constants';
import { DownstreamController } from './downstream.controller';
import { DownstreamOptions, FlakyGateway } from './flaky-gateway';

/** Starts the flaky gateway with the app and stops it on shutdown. */
@Module({})
export class DownstreamModule {
  static forRoot(options: DownstreamOptions): DynamicModule {
    return {
      module: DownstreamModule,
      global: true,
      controllers: [DownstreamController],
      providers: [{ provide: DOWNSTREAM_OPTIONS, useValue: options }, FlakyGateway],
      exports: [FlakyGateway],
    };
  }
}
