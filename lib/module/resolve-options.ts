import { resolveBulkheadOptions } from '../bulkhead/bulkhead.options';
import { resolveCircuitBreakerOptions } from '../circuit-breaker/circuit-breaker.options';
import { Clock, systemClock } from '../common/clock';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { INVALID_OPTION, REGISTRATION_OPTION, UNKNOWN_OPTION } from '../common/resilience.messages';
import { Scheduler, timeSourceFrom } from '../common/scheduler';
import { checks, invalid } from '../common/validate';
import { resolveRateLimiterOptions } from '../rate-limit/rate-limiter.options';
import { resolveRetryOptions } from '../retry/retry.options';
import { resolveTimeoutOptions } from '../timeout/timeout.options';
import type {
  PolicyConfig,
  PolicyDefaults,
  ResilienceModuleOptions,
} from './resilience-module-options.interface';

/** Module options after validation, with defaults applied. @internal */
export interface ResolvedModuleOptions {
  defaults: PolicyDefaults;
  policies: Record<string, PolicyConfig>;
  clock: Clock;
  scheduler: Scheduler;
  httpErrors: boolean;
  shutdownTimeout: number;
  serializeArgs?: (args: unknown[]) => unknown[];
  deadLetterQueue?: unknown;
  stateStore?: unknown;
}

const MODULE_KEYS = [
  'defaults',
  'policies',
  'clock',
  'isGlobal',
  'httpErrors',
  'serializeArgs',
  'shutdownTimeout',
  'deadLetterQueue',
  'stateStore',
] as const;
const KIND_KEYS = ['circuitBreaker', 'retry', 'timeout', 'bulkhead', 'rateLimiter'] as const;
const POLICY_KEYS = [...KIND_KEYS, 'fallback', 'deadLetter'] as const;

type Kind = (typeof KIND_KEYS)[number];

/** The resolver of each kind: validates complete options and applies defaults. */
const resolvers: Record<Kind, (name: string, o: object) => unknown> = {
  circuitBreaker: resolveCircuitBreakerOptions,
  retry: resolveRetryOptions,
  timeout: resolveTimeoutOptions,
  bulkhead: resolveBulkheadOptions,
  rateLimiter: resolveRateLimiterOptions,
};

/** Defaults are partial: they are checked with the keys a policy must give itself filled in. */
const REQUIRED_PLACEHOLDERS: Partial<Record<Kind, object>> = {
  timeout: { timeout: 1 },
  rateLimiter: { limit: 1, interval: 1 },
};

/**
 * Validates the module options once (sync and async registration alike) and applies
 * defaults. Any problem throws `ResilienceConfigError`, so bootstrap fails.
 * @internal
 */
export function resolveOptions(
  options: ResilienceModuleOptions | undefined,
): ResolvedModuleOptions {
  const o = options ?? {};
  if (typeof o !== 'object') invalid('ResilienceModule', 'options', o, 'an object');
  for (const key of Object.keys(o)) {
    if (!(MODULE_KEYS as readonly string[]).includes(key)) {
      const value = (o as Record<string, unknown>)[key];
      throw new ResilienceConfigError(
        UNKNOWN_OPTION('ResilienceModule', key, MODULE_KEYS, value),
        'ResilienceModule',
        key,
        value,
      );
    }
  }
  // forRoot() takes these out before the options reach here; only a forRootAsync
  // factory can return them, and by then the module is already registered
  for (const key of ['isGlobal', 'httpErrors'] as const) {
    if (o[key] !== undefined) {
      throw new ResilienceConfigError(REGISTRATION_OPTION(key), 'ResilienceModule', key, o[key]);
    }
  }
  const defaults = checkKinds('defaults', o.defaults, KIND_KEYS);
  const policies = o.policies ?? {};
  if (typeof policies !== 'object' || policies === null || Array.isArray(policies)) {
    invalid('ResilienceModule', 'policies', policies, 'an object of named policy sets');
  }
  for (const [name, config] of Object.entries(policies)) {
    // a policy set is checked as it will be built: its options over the defaults, under its name
    checkKinds(name, config, POLICY_KEYS, defaults);
    const fallback = (config as PolicyConfig).fallback;
    if (fallback !== undefined && typeof fallback !== 'function' && typeof fallback !== 'string') {
      invalid(name, 'fallback', fallback, 'a function or a method name');
    }
  }
  if (o.clock !== undefined && typeof o.clock?.now !== 'function') {
    invalid('ResilienceModule', 'clock', o.clock, 'an object with a now() method');
  }
  const timers = o.clock as Partial<Scheduler> | undefined;
  if (
    timers &&
    (typeof timers.setTimeout === 'function') !== (typeof timers.clearTimeout === 'function')
  ) {
    invalid(
      'ResilienceModule',
      'clock',
      o.clock,
      'a clock with both setTimeout() and clearTimeout() (to drive the timers too) or neither',
    );
  }
  if (o.shutdownTimeout !== undefined) {
    const problem = checks.duration(o.shutdownTimeout);
    if (problem) invalid('ResilienceModule', 'shutdownTimeout', o.shutdownTimeout, problem);
  }
  if (o.serializeArgs !== undefined && typeof o.serializeArgs !== 'function') {
    invalid('ResilienceModule', 'serializeArgs', o.serializeArgs, 'a function');
  }
  const time = timeSourceFrom(o.clock);
  return {
    defaults,
    policies,
    clock: time.clock ?? systemClock,
    scheduler: time.scheduler,
    httpErrors: o.httpErrors ?? false,
    shutdownTimeout: o.shutdownTimeout ?? 10_000,
    serializeArgs: o.serializeArgs,
    deadLetterQueue: o.deadLetterQueue,
    stateStore: o.stateStore,
  };
}

function checkKinds(
  owner: string,
  value: unknown,
  allowed: readonly string[],
  defaults?: PolicyDefaults,
): PolicyDefaults {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ResilienceConfigError(
      INVALID_OPTION(owner, owner === 'defaults' ? 'defaults' : 'policy set', value, 'an object'),
      owner,
    );
  }
  for (const [kind, options] of Object.entries(value)) {
    if (!allowed.includes(kind)) {
      throw new ResilienceConfigError(
        UNKNOWN_OPTION(owner, kind, allowed, options),
        owner,
        kind,
        options,
      );
    }
    if (options === undefined || !(kind in resolvers)) continue;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      invalid(owner, kind, options, 'an options object');
    }
    const k = kind as Kind;
    if (defaults) resolvers[k](owner, mergeOptions(defaults[k], options));
    else resolvers[k](`${owner}.${kind}`, { ...REQUIRED_PLACEHOLDERS[k], ...options });
  }
  return value as PolicyDefaults;
}

/** Merges defaults under a policy's own options (one level deep for nested objects). @internal */
export function mergeOptions<T extends object>(
  base: object | undefined,
  own: object | undefined,
): T {
  const merged: Record<string, unknown> = { ...(base ?? {}) };
  for (const [key, value] of Object.entries(own ?? {})) {
    const prior = merged[key];
    const sameShape =
      !isPlainObject(prior) ||
      !isPlainObject(value) ||
      !('type' in value) ||
      prior.type === value.type;
    merged[key] =
      isPlainObject(prior) && isPlainObject(value) && sameShape ? { ...prior, ...value } : value;
  }
  return merged as T;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.getPrototypeOf(v) === Object.prototype;
