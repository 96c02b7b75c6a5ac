import {
  DynamicModule,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { instrumentResilience, type ResilienceInstrumentation } from './instrument-resilience';
import { OTEL_NO_REGISTRY } from './opentelemetry.messages';
import type { ResilienceOpenTelemetryOptions } from './opentelemetry.options';
import {
  ConfigurableModuleClass,
  OPTIONS_TYPE,
  RESILIENCE_OPENTELEMETRY_OPTIONS,
} from './resilience-opentelemetry.module-definition';

/** For `ResilienceOpenTelemetryModule.forRootAsync({ useClass })` / `useExisting`. @publicApi */
export interface ResilienceOpenTelemetryOptionsFactory {
  createResilienceOpenTelemetryOptions():
    ResilienceOpenTelemetryOptions | Promise<ResilienceOpenTelemetryOptions>;
}

/**
 * Instruments the application's `ResilienceRegistry` once the application has initialised
 * (`onApplicationBootstrap`: a bootstrap that failed earlier, when Nest runs no shutdown
 * hook, leaves no callback on the meter and the meter free for another application) and
 * stops at application shutdown. Inject it to see what was turned on.
 * @publicApi
 */
@Injectable()
export class ResilienceOpenTelemetry implements OnApplicationBootstrap, OnApplicationShutdown {
  private instrumentation?: ResilienceInstrumentation;

  constructor(
    @Inject(RESILIENCE_OPENTELEMETRY_OPTIONS)
    private readonly options: ResilienceOpenTelemetryOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** True when metrics are recorded (a real MeterProvider was found). */
  get metrics(): boolean {
    return this.instrumentation?.metrics ?? false;
  }

  /** True when span events are added (a real TracerProvider was found). */
  get spanEvents(): boolean {
    return this.instrumentation?.spanEvents ?? false;
  }

  onApplicationBootstrap(): void {
    if (this.instrumentation !== undefined) return;
    let registry: ResilienceRegistry;
    try {
      registry = this.moduleRef.get(ResilienceRegistry, { strict: false });
    } catch {
      throw new ResilienceConfigError(OTEL_NO_REGISTRY, 'ResilienceOpenTelemetry');
    }
    this.instrumentation = instrumentResilience(registry, this.options);
  }

  onApplicationShutdown(): void {
    this.instrumentation?.dispose();
    this.instrumentation = undefined;
  }
}

/**
 * OpenTelemetry metrics and span events for the application's resilience policies:
 * `forRoot(options?)` or `forRootAsync({ imports, inject, useFactory | useClass | useExisting })`.
 * Needs `ResilienceModule` in the same application and `@opentelemetry/api`.
 * @publicApi
 */
@Module({
  providers: [ResilienceOpenTelemetry],
  exports: [ResilienceOpenTelemetry],
})
export class ResilienceOpenTelemetryModule extends ConfigurableModuleClass {
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
