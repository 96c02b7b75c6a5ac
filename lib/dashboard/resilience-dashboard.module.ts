import { CanActivate, DynamicModule, Module, Type } from '@nestjs/common';
import type {
  ResilienceDashboardAsyncOptions,
  ResilienceDashboardOptions,
  ResolvedDashboardOptions,
} from './dashboard-options.interface';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import { createDashboardController } from './dashboard.controller';
import { ResilienceDashboardFeed } from './dashboard.feed';
import { DashboardOptionsTokenGuard, DashboardTokenGuard } from './dashboard-token.guard';
import {
  resolveDashboardAsyncOptions,
  resolveDashboardFactoryOptions,
  resolveDashboardOptions,
} from './resolve-dashboard-options';

/**
 * A live dashboard of every policy of the application: a page at `path` (default
 * `resilience/dashboard`), its Server-Sent Events stream at `<path>/stream` and a JSON
 * snapshot at `<path>/stats`. Nothing is served unless this module is imported, and it
 * refuses to start without `token` or `guard`. Needs `ResilienceModule` in the app.
 *
 * ```ts
 * imports: [
 *   ResilienceModule.forRoot(),
 *   ResilienceDashboardModule.forRoot({ token: process.env.DASHBOARD_TOKEN }),
 *   // or, with the token from configuration:
 *   ResilienceDashboardModule.forRootAsync({
 *     imports: [ConfigModule],
 *     inject: [ConfigService],
 *     useFactory: (config: ConfigService) => ({ token: config.get('DASHBOARD_TOKEN') }),
 *   }),
 * ]
 * ```
 * @publicApi
 */
@Module({})
export class ResilienceDashboardModule {
  /**
   * Validates `options` at once: a bad or missing option throws a `ResilienceConfigError`
   * naming it, so the application does not start.
   */
  static forRoot(options?: ResilienceDashboardOptions): DynamicModule {
    const resolved = resolveDashboardOptions(options);
    const guards: (Type<CanActivate> | CanActivate)[] = [];
    if (resolved.token !== undefined) guards.push(new DashboardTokenGuard(resolved.token));
    if (resolved.guard !== undefined) guards.push(resolved.guard);
    return {
      module: ResilienceDashboardModule,
      controllers: [createDashboardController(resolved.path, guards)],
      providers: [{ provide: DASHBOARD_OPTIONS, useValue: resolved }, ResilienceDashboardFeed],
      exports: [ResilienceDashboardFeed],
    };
  }

  /**
   * The same dashboard with `token`, `statsInterval` and `maxEvents` from `useFactory`
   * (e.g. from `ConfigService`). `path` and `guard` are given next to `useFactory`: Nest binds
   * routes and guards before any factory runs. These are validated at once; what the factory
   * returns is validated at bootstrap, as `forRoot()` validates its options, and a bad value
   * (or neither a token nor a guard) fails bootstrap with a `ResilienceConfigError` naming it.
   */
  static forRootAsync(options: ResilienceDashboardAsyncOptions): DynamicModule {
    const statics = resolveDashboardAsyncOptions(options);
    const { useFactory } = options;
    const guards: (Type<CanActivate> | CanActivate)[] = [DashboardOptionsTokenGuard];
    if (statics.guard !== undefined) guards.push(statics.guard);
    return {
      module: ResilienceDashboardModule,
      imports: options.imports ?? [],
      controllers: [createDashboardController(statics.path, guards)],
      providers: [
        {
          provide: DASHBOARD_OPTIONS,
          useFactory: async (...args: unknown[]): Promise<ResolvedDashboardOptions> =>
            resolveDashboardFactoryOptions(await useFactory(...args), statics),
          inject: options.inject ?? [],
        },
        ResilienceDashboardFeed,
      ],
      exports: [ResilienceDashboardFeed],
    };
  }
}
