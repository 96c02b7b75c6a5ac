import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { MAX_TIMER_DELAY } from '../common/validate';
import type {
  ResilienceDashboardAsyncOptions,
  ResilienceDashboardFactoryOptions,
  ResilienceDashboardOptions,
  ResolvedDashboardOptions,
} from './dashboard-options.interface';
import {
  DASHBOARD,
  DASHBOARD_INVALID_OPTION,
  DASHBOARD_INVALID_TOKEN,
  DASHBOARD_STATIC_FROM_FACTORY,
  DASHBOARD_UNKNOWN_OPTION,
  DASHBOARD_UNPROTECTED,
  DASHBOARD_UNPROTECTED_ASYNC,
} from './dashboard.messages';

export const DASHBOARD_DEFAULTS = {
  path: 'resilience/dashboard',
  statsInterval: 1_000,
  maxEvents: 100,
} as const;

/** Shortest stats interval accepted, ms: faster would flood every open page. */
export const MIN_STATS_INTERVAL = 50;
export const MAX_EVENTS_LIMIT = 10_000;
export const MIN_TOKEN_LENGTH = 8;

const KNOWN_KEYS: readonly (keyof ResilienceDashboardOptions)[] = [
  'path',
  'token',
  'guard',
  'statsInterval',
  'maxEvents',
];

const ASYNC_KEYS: readonly (keyof ResilienceDashboardAsyncOptions)[] = [
  'imports',
  'inject',
  'useFactory',
  'path',
  'guard',
];

const FACTORY_KEYS: readonly (keyof ResilienceDashboardFactoryOptions)[] = [
  'token',
  'statsInterval',
  'maxEvents',
];

/** Path segments made of URL-safe characters, separated by single slashes. */
const PATH_PATTERN = /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;

const fail = (key: string, value: unknown, expected: string): never => {
  throw new ResilienceConfigError(
    DASHBOARD_INVALID_OPTION(key, value, expected),
    DASHBOARD,
    key,
    value,
  );
};

/**
 * Applies the defaults and validates every option, throwing a `ResilienceConfigError` that
 * names the option (never the token's value).
 * @internal
 */
export function resolveDashboardOptions(
  options: ResilienceDashboardOptions | undefined,
): ResolvedDashboardOptions {
  if (options === undefined || options === null) {
    throw new ResilienceConfigError(DASHBOARD_UNPROTECTED, DASHBOARD);
  }
  if (typeof options !== 'object' || Array.isArray(options)) {
    fail('options', options, 'an object');
  }
  checkKeys(options, KNOWN_KEYS);
  return resolveAll(options, DASHBOARD_UNPROTECTED);
}

/** What `forRootAsync()` reads when the module is declared. @internal */
export interface StaticDashboardOptions {
  path: string;
  guard?: ResolvedDashboardOptions['guard'];
}

/**
 * Validates the options of `forRootAsync()` themselves (not what the factory will return),
 * throwing a `ResilienceConfigError` naming the option.
 * @internal
 */
export function resolveDashboardAsyncOptions(
  options: ResilienceDashboardAsyncOptions | undefined,
): StaticDashboardOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return fail('options', options, 'an object such as { inject: [ConfigService], useFactory }');
  }
  checkKeys(options, ASYNC_KEYS);
  if (typeof options.useFactory !== 'function') {
    fail(
      'useFactory',
      options.useFactory,
      'a function returning the options, e.g. (config) => ({ token: config.get(...) })',
    );
  }
  for (const key of ['imports', 'inject'] as const) {
    const value: unknown = options[key];
    if (value !== undefined && !Array.isArray(value)) {
      fail(key, value, key === 'imports' ? 'an array of modules' : 'an array of providers');
    }
  }
  return { path: resolvePath(options.path), guard: resolveGuard(options.guard) };
}

/**
 * Validates what the factory of `forRootAsync()` returned, with the options given next to
 * it, exactly as `forRoot()` validates its options. Runs at bootstrap.
 * @internal
 */
export function resolveDashboardFactoryOptions(
  returned: unknown,
  statics: StaticDashboardOptions,
): ResolvedDashboardOptions {
  if (typeof returned !== 'object' || returned === null || Array.isArray(returned)) {
    return fail(
      'useFactory',
      returned,
      'useFactory to return an object such as { token: config.get("DASHBOARD_TOKEN") }',
    );
  }
  for (const key of ['path', 'guard']) {
    if (key in returned) {
      throw new ResilienceConfigError(
        DASHBOARD_STATIC_FROM_FACTORY(key),
        DASHBOARD,
        key,
        (returned as Record<string, unknown>)[key],
      );
    }
  }
  checkKeys(returned, FACTORY_KEYS);
  return resolveAll(
    { ...(returned as ResilienceDashboardFactoryOptions), ...statics },
    DASHBOARD_UNPROTECTED_ASYNC,
  );
}

function checkKeys(options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ResilienceConfigError(
        DASHBOARD_UNKNOWN_OPTION(key, known),
        DASHBOARD,
        key,
        (options as Record<string, unknown>)[key],
      );
    }
  }
}

function resolveAll(
  options: ResilienceDashboardOptions,
  unprotected: string,
): ResolvedDashboardOptions {
  const path = resolvePath(options.path);
  const token = resolveToken(options.token);
  const guard = resolveGuard(options.guard);
  if (token === undefined && guard === undefined) {
    throw new ResilienceConfigError(unprotected, DASHBOARD);
  }

  const statsInterval = options.statsInterval ?? DASHBOARD_DEFAULTS.statsInterval;
  if (
    typeof statsInterval !== 'number' ||
    !Number.isFinite(statsInterval) ||
    statsInterval < MIN_STATS_INTERVAL ||
    statsInterval > MAX_TIMER_DELAY
  ) {
    fail(
      'statsInterval',
      statsInterval,
      `a duration in ms from ${MIN_STATS_INTERVAL} to ${MAX_TIMER_DELAY}`,
    );
  }

  const maxEvents = options.maxEvents ?? DASHBOARD_DEFAULTS.maxEvents;
  if (
    typeof maxEvents !== 'number' ||
    !Number.isInteger(maxEvents) ||
    maxEvents < 1 ||
    maxEvents > MAX_EVENTS_LIMIT
  ) {
    fail('maxEvents', maxEvents, `a whole number from 1 to ${MAX_EVENTS_LIMIT}`);
  }

  return { path, token, guard, statsInterval, maxEvents };
}

function resolvePath(value: unknown): string {
  if (value === undefined) return DASHBOARD_DEFAULTS.path;
  if (typeof value !== 'string') return fail('path', value, 'a string such as "ops/resilience"');
  const trimmed = value.replace(/^\/+|\/+$/g, '');
  if (!PATH_PATTERN.test(trimmed)) {
    fail(
      'path',
      value,
      'a non-empty route of letters, digits, ".", "_", "~" and "-" separated by single "/" ' +
        '(no route parameters or wildcards), such as "ops/resilience"',
    );
  }
  return trimmed;
}

function resolveToken(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let problem: string | undefined;
  if (typeof value !== 'string') problem = `got ${value === null ? 'null' : typeof value}`;
  else if (value.length < MIN_TOKEN_LENGTH)
    problem = `got a string of ${value.length} character(s)`;
  else if (/\s/.test(value)) problem = 'got a string containing whitespace';
  else if (!/^[\x21-\x7e]+$/.test(value)) problem = 'got a string with non-ASCII characters';
  if (problem !== undefined) {
    throw new ResilienceConfigError(DASHBOARD_INVALID_TOKEN(problem), DASHBOARD, 'token');
  }
  return value as string;
}

function resolveGuard(value: unknown): ResolvedDashboardOptions['guard'] {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as ResolvedDashboardOptions['guard'];
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { canActivate?: unknown }).canActivate === 'function'
  ) {
    return value as ResolvedDashboardOptions['guard'];
  }
  return fail('guard', value, 'a guard class or an object with a canActivate() method');
}
