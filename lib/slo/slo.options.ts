import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { INVALID_OPTION } from '../common/resilience.messages';
import { checks, invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/**
 * A service level objective for one policy name (module option `slo`): the share of calls
 * that must succeed over a rolling window. Calls are measured after retries and before any
 * fallback, so a failure a fallback hides still spends the error budget.
 * @publicApi
 */
export interface SloOptions {
  /**
   * The success ratio to meet, strictly between 0 and 1 (0.995 is "99.5 % of calls succeed").
   * Required.
   */
  target: number;
  /**
   * Length of the rolling window, in ms (a finite number > 0; a 30-day window is fine, no
   * timer waits for it). Required.
   */
  window: number;
  /**
   * Calls the window must hold before it gives a verdict: with fewer, the objective is never
   * violated. A whole number >= 1.
   * @default 10
   */
  minimumCalls?: number;
  /**
   * On violation, force the circuit breaker of the same name open (reason
   * `'slo-violation'`); it then follows its usual resetTimeout → half-open → closed cycle.
   * Needs a circuit breaker of that name, else bootstrap fails.
   * @default false
   */
  openCircuitBreaker?: boolean;
}

/** SLO options with every default applied. @publicApi */
export type ResolvedSloOptions = Required<SloOptions>;

/** @internal */
export const SLO_DEFAULTS = { minimumCalls: 10, openCircuitBreaker: false } as const;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const TARGET_EXPECTED = 'a success ratio greater than 0 and less than 1 (0.995 for 99.5 %)';
const WINDOW_EXPECTED = 'a window length in ms (a finite number > 0)';

const schema: Schema = {
  target: (v) => (finite(v) && v > 0 && v < 1 ? undefined : TARGET_EXPECTED),
  window: (v) => (finite(v) && v > 0 ? undefined : WINDOW_EXPECTED),
  minimumCalls: checks.positiveInt,
  openCircuitBreaker: checks.bool,
};

/** Every key an entry of the module option `slo` knows. @internal */
export const SLO_OPTION_KEYS: readonly string[] = schemaKeys(schema);

/**
 * Validates the SLO of policy `name` and applies the defaults. Errors name the key as
 * `slo.<name>.<key>`.
 * @throws ResilienceConfigError naming the policy, the key and the bad value.
 * @publicApi
 */
export function resolveSloOptions(name: string, options: SloOptions): ResolvedSloOptions {
  const prefix = `slo.${name}.`;
  if (options === undefined) invalid(name, `slo.${name}`, options, 'an object');
  validateOptions(name, options, schema, prefix);
  for (const [key, expected] of [
    ['target', TARGET_EXPECTED],
    ['window', WINDOW_EXPECTED],
  ] as const) {
    if (options[key] === undefined)
      invalid(name, prefix + key, undefined, `${expected}; it is required`);
  }
  return {
    target: options.target,
    window: options.window,
    minimumCalls: options.minimumCalls ?? SLO_DEFAULTS.minimumCalls,
    openCircuitBreaker: options.openCircuitBreaker ?? SLO_DEFAULTS.openCircuitBreaker,
  };
}

/**
 * Validates the module option `slo` (policy name → `SloOptions`).
 * @internal
 */
export function resolveSloModuleOptions(slo: unknown): Record<string, ResolvedSloOptions> {
  if (slo === undefined) return {};
  if (typeof slo !== 'object' || slo === null || Array.isArray(slo)) {
    throw new ResilienceConfigError(
      INVALID_OPTION('ResilienceModule', 'slo', slo, 'an object of policy name → SLO options'),
      'ResilienceModule',
      'slo',
      slo,
    );
  }
  const resolved: Record<string, ResolvedSloOptions> = {};
  for (const [name, options] of Object.entries(slo)) {
    if (name === '') invalid('ResilienceModule', 'slo', slo, 'policy names that are not empty');
    if (options === undefined) continue; // as if the name were not there
    resolved[name] = resolveSloOptions(name, options as SloOptions);
  }
  return resolved;
}
