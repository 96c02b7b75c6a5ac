import type { CanActivate, FactoryProvider, ModuleMetadata, Type } from '@nestjs/common';

/**
 * Options of `ResilienceDashboardModule.forRoot()`. The dashboard shows the names, states,
 * counters and recent errors of every policy: it must be protected, so `token` or `guard`
 * (or both) is required.
 * @publicApi
 */
export interface ResilienceDashboardOptions {
  /**
   * Route of the page, without leading or trailing slash; the stream is served at
   * `<path>/stream` and the JSON snapshot at `<path>/stats`. A global prefix set with
   * `app.setGlobalPrefix()` applies in front of it.
   * @default 'resilience/dashboard'
   */
  path?: string;
  /**
   * Shared secret (at least 8 printable ASCII characters, no whitespace). Accepted from the
   * `Authorization: Bearer <token>` header or the `?token=` query parameter (browsers
   * cannot send headers with `EventSource`), compared in constant time; anything else gets
   * a 401.
   */
  token?: string;
  /**
   * A Nest guard (class or instance) protecting every dashboard route, e.g. the app's own
   * authentication guard. A guard class is created by Nest in the dashboard's module, so
   * its dependencies must be global providers. With `token` as well, a request needs both.
   */
  guard?: Type<CanActivate> | CanActivate;
  /**
   * How often the stream sends a `stats` message, ms (at least 50). Latency figures
   * (mean, p95, p99) cover the calls that ended during the last such interval.
   * @default 1000
   */
  statsInterval?: number;
  /**
   * Recent events kept in memory (replayed to a page when it connects) and listed by the
   * page; whole number from 1 to 10000.
   * @default 100
   */
  maxEvents?: number;
}

/**
 * What the `useFactory` of `ResilienceDashboardModule.forRootAsync()` returns: the options
 * that may come from configuration, read at bootstrap. Same meaning and defaults as in
 * `ResilienceDashboardOptions`.
 * @publicApi
 */
export type ResilienceDashboardFactoryOptions = Pick<
  ResilienceDashboardOptions,
  'token' | 'statsInterval' | 'maxEvents'
>;

/**
 * Options of `ResilienceDashboardModule.forRootAsync()`. `path` and `guard` are read when
 * the module is declared (Nest binds routes and guards before any factory runs), so they
 * stay here, next to `useFactory`; the rest comes from the factory.
 * @publicApi
 */
export interface ResilienceDashboardAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Providers handed to `useFactory`, in order (e.g. `[ConfigService]`). */
  inject?: FactoryProvider['inject'];
  /**
   * Returns (or resolves to) the token and the other run-time options. What it returns is
   * validated at bootstrap as `forRoot()` validates its options: a bad value, or neither a
   * token nor a `guard`, fails bootstrap with a `ResilienceConfigError`.
   */
  useFactory: (
    ...args: any[] // eslint-disable-line @typescript-eslint/no-explicit-any
  ) => ResilienceDashboardFactoryOptions | Promise<ResilienceDashboardFactoryOptions>;
  /** As `ResilienceDashboardOptions.path`. @default 'resilience/dashboard' */
  path?: string;
  /** As `ResilienceDashboardOptions.guard`; required when the factory returns no token. */
  guard?: Type<CanActivate> | CanActivate;
}

/** Options with defaults applied and validated. @internal */
export interface ResolvedDashboardOptions {
  path: string;
  token?: string;
  guard?: Type<CanActivate> | CanActivate;
  statsInterval: number;
  maxEvents: number;
}
