// nestjs-fault-tolerance/opentelemetry: needs the optional peer dependency @opentelemetry/api.
export {
  ResilienceOpenTelemetry,
  ResilienceOpenTelemetryModule,
} from './resilience-opentelemetry.module';
export type { ResilienceOpenTelemetryOptionsFactory } from './resilience-opentelemetry.module';
export { RESILIENCE_OPENTELEMETRY_OPTIONS } from './resilience-opentelemetry.module-definition';
export { instrumentResilience } from './instrument-resilience';
export type { ResilienceInstrumentation } from './instrument-resilience';
export { DEFAULT_METER_NAME } from './opentelemetry.options';
export type { ResilienceOpenTelemetryOptions } from './opentelemetry.options';
export { INSTRUMENTS } from './otel-metrics';
export { SPAN_EVENTS } from './otel-span-events';
