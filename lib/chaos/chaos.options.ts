import { checks, invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/** A source of random numbers in `[0, 1)`, like `Math.random`. @publicApi */
export type ChaosRandom = () => number;

/**
 * Options of `@Chaos()`, of a policy set's `chaos` entry and of `ChaosPolicy`: which
 * fault to inject, and into which share of the calls.
 *
 * Give one of `fault`, `result` or `latency`. `latency` may be combined with `fault` or
 * `result`: the call is delayed first, then fails or gets the substitute. `fault` and
 * `result` exclude each other.
 * @publicApi
 */
export interface ChaosOptions {
  /**
   * Share of calls that get the fault, from 0 (none) to 1 (every call). Required.
   * @default none (required; a ratio in [0, 1])
   */
  rate: number;
  /**
   * Error factory: called with the method's arguments for each injected call; the error
   * it returns (or throws) fails the call. The method is not called.
   * @default none
   */
  fault?: (...args: any[]) => unknown;
  /**
   * Delay added to each injected call, in milliseconds. Alone, the method runs after the
   * delay; with `fault` or `result`, the injected outcome comes after the delay. The wait
   * ends early when the call is cancelled (an enclosing `@Timeout`, shutdown).
   * @default none (ms, >= 0)
   */
  latency?: number;
  /**
   * Substitute result factory: called with the method's arguments for each injected call;
   * its value (or the value of its Promise) is returned instead of calling the method.
   * @default none
   */
  result?: (...args: any[]) => unknown;
  /**
   * Whether the policy injects faults once created. It can be switched at run time with
   * `registry.chaos(name).enable()` / `.disable()`. Only applies when the module option
   * `chaos.enabled` is true: otherwise no chaos policy exists at all.
   * @default true
   */
  enabled?: boolean;
}

/** Chaos options after validation. @publicApi */
export interface ResolvedChaosOptions {
  rate: number;
  fault?: (...args: any[]) => unknown;
  latency: number;
  result?: (...args: any[]) => unknown;
  enabled: boolean;
}

/** Module option `chaos` of `ResilienceModule.forRoot()`. @publicApi */
export interface ChaosModuleOptions {
  /**
   * Turns fault injection on for the application. When false (the default), `@Chaos`
   * methods and `chaos` entries of policy sets get no chaos step at all and
   * `registry.chaos(name)` returns undefined. Typically `process.env.CHAOS === '1'`.
   * @default false
   */
  enabled?: boolean;
  /**
   * Source of random numbers in `[0, 1)` that decides which calls get a fault (a call is
   * injected when `random() < rate`). Tests pass a seeded one.
   * @default Math.random
   */
  random?: ChaosRandom;
}

/** Module chaos options after validation. @internal */
export interface ResolvedChaosModuleOptions {
  enabled: boolean;
  random: ChaosRandom;
}

const RATE_EXPECTED = 'a ratio from 0 to 1 (share of calls that get the fault)';

const schema: Schema = {
  rate: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1 ? undefined : RATE_EXPECTED,
  fault: (v) =>
    typeof v !== 'function'
      ? 'a function that returns the error to throw'
      : isClass(v)
        ? `a function that returns the error, not the class itself: () => new ${v.name || 'TheError'}()`
        : undefined,
  latency: checks.duration,
  result: checks.fn,
  enabled: checks.bool,
};

/** True for a `class` (calling it without `new` throws). */
const isClass = (fn: unknown): fn is { name: string } =>
  /^class[\s{]/.test(Function.prototype.toString.call(fn));

const moduleSchema: Schema = {
  enabled: checks.bool,
  random: checks.fn,
};

/** Every key `@Chaos` options and the module option `chaos` know. @internal */
export const CHAOS_OPTION_KEYS: readonly string[] = schemaKeys(schema);
export const CHAOS_MODULE_OPTION_KEYS: readonly string[] = schemaKeys(moduleSchema);

/**
 * Validates the options of the chaos policy `name` (unknown keys, a `rate` outside
 * [0, 1], no fault given, or both `fault` and `result`) and applies the defaults.
 * @throws ResilienceConfigError naming the policy, the key and the bad value.
 * @publicApi
 */
export function resolveChaosOptions(
  name: string,
  options?: Partial<ChaosOptions>,
): ResolvedChaosOptions {
  validateOptions(name, options, schema);
  const o = options ?? {};
  if (o.rate === undefined) invalid(name, 'rate', undefined, `${RATE_EXPECTED}; it is required`);
  if (o.fault !== undefined && o.result !== undefined) {
    invalid(
      name,
      'result',
      o.result,
      'no result when a fault is given (a call either fails or gets a substitute; ' +
        'latency can be combined with either)',
    );
  }
  // a zero latency alone injects nothing (and `update()` would drop it)
  if (o.fault === undefined && o.result === undefined && !o.latency) {
    invalid(name, 'fault', undefined, 'one of fault, latency (> 0) or result to inject');
  }
  return {
    rate: o.rate,
    fault: o.fault,
    latency: o.latency ?? 0,
    result: o.result,
    enabled: o.enabled ?? true,
  };
}

/** Validates the module option `chaos`. @internal */
export function resolveChaosModuleOptions(options: unknown): ResolvedChaosModuleOptions {
  validateOptions('ResilienceModule', options, moduleSchema, 'chaos.');
  const o = (options ?? {}) as ChaosModuleOptions;
  return { enabled: o.enabled ?? false, random: o.random ?? Math.random };
}
