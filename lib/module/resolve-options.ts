import { resolveBulkheadOptions } from '../bulkhead/bulkhead.options';
import {
  resolveChaosModuleOptions,
  resolveChaosOptions,
  ResolvedChaosModuleOptions,
} from '../chaos/chaos.options';
import { resolveCircuitBreakerOptions } from '../circuit-breaker/circuit-breaker.options';
import { Clock, systemClock } from '../common/clock';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { INVALID_OPTION, REGISTRATION_OPTION, UNKNOWN_OPTION } from '../common/resilience.messages';
import { Scheduler, timeSourceFrom } from '../common/scheduler';
import { checks, invalid } from '../common/validate';
import type { DeadLetterQueue } from '../dead-letter/dead-letter.interface';
import {
  resolveDeadLetterBufferOptions,
  resolveDeadLetterOptions,
  ResolvedDeadLetterBufferOptions,
} from '../dead-letter/dead-letter.options';
import { InMemoryDeadLetterQueue } from '../dead-letter/in-memory-dead-letter-queue';
import { resolveRateLimiterOptions } from '../rate-limit/rate-limiter.options';
import { resolveRetryOptions } from '../retry/retry.options';
import { resolveSloModuleOptions, ResolvedSloOptions } from '../slo/slo.options';
import { checkNothingShared, checkStateStore } from '../state-store/circuit-state-sync';
import type { CircuitStateStore } from '../state-store/circuit-state-store.interface';
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
  deadLetterQueue: DeadLetterQueue;
  deadLetterBuffer: ResolvedDeadLetterBufferOptions;
  stateStore?: CircuitStateStore;
  chaos: ResolvedChaosModuleOptions;
  /** Service level objectives by policy name. */
  slo: Record<string, ResolvedSloOptions>;
}

/** The keys of `ResilienceModuleOptions`, of `defaults` and of a policy set. @internal */
export const MODULE_KEYS = [
  'defaults',
  'policies',
  'clock',
  'isGlobal',
  'httpErrors',
  'serializeArgs',
  'shutdownTimeout',
  'deadLetterQueue',
  'deadLetterBuffer',
  'stateStore',
  'chaos',
  'slo',
] as const;
export const KIND_KEYS = ['circuitBreaker', 'retry', 'timeout', 'bulkhead', 'rateLimiter'] as const;
export const POLICY_KEYS = [...KIND_KEYS, 'fallback', 'deadLetter', 'chaos'] as const;

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
  // null is not 'no policies': it fails below like any other non-object
  const policies = o.policies === undefined ? {} : o.policies;
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
    const deadLetter = (config as PolicyConfig).deadLetter;
    if (deadLetter !== undefined) resolveDeadLetterOptions(`${name}.deadLetter`, deadLetter);
    const chaos = (config as PolicyConfig).chaos;
    if (chaos !== undefined) resolveChaosOptions(`${name}.chaos`, chaos);
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
  const queue = o.deadLetterQueue as Partial<DeadLetterQueue> | undefined;
  if (queue !== undefined && typeof queue?.publish !== 'function') {
    invalid(
      'ResilienceModule',
      'deadLetterQueue',
      queue,
      'an object with a publish(letter) method (a DeadLetterQueue)',
    );
  }
  const stateStore = checkStateStore(o.stateStore);
  if (!stateStore) checkNothingShared(defaults, policies);
  const time = timeSourceFrom(o.clock);
  return {
    defaults,
    policies,
    clock: time.clock ?? systemClock,
    scheduler: time.scheduler,
    httpErrors: o.httpErrors ?? false,
    shutdownTimeout: o.shutdownTimeout ?? 10_000,
    serializeArgs: o.serializeArgs,
    deadLetterQueue: o.deadLetterQueue ?? new InMemoryDeadLetterQueue(),
    deadLetterBuffer: resolveDeadLetterBufferOptions(o.deadLetterBuffer),
    stateStore,
    chaos: resolveChaosModuleOptions(o.chaos),
    slo: resolveSloModuleOptions(o.slo),
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
      owner === 'defaults' ? 'defaults' : `policies.${owner}`,
      value,
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
    // a fallback is a function or a method name, checked by the caller
    if (options === undefined || kind === 'fallback') continue;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      invalid(owner, kind, options, 'an options object');
    }
    if (!(kind in resolvers)) continue;
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
