import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ResilienceOpenTelemetryOptions } from './opentelemetry.options';

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: RESILIENCE_OPENTELEMETRY_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ResilienceOpenTelemetryOptions>({
  moduleName: 'ResilienceOpenTelemetry',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createResilienceOpenTelemetryOptions')
  .build();
