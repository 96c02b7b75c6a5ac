import { ResilienceConfigError } from './errors/resilience-config.error';
import { INVALID_OPTION, UNKNOWN_OPTION } from './resilience.messages';

/**
 * A check for one option value: returns undefined when the value is fine, or a
 * description of what is expected.
 * @internal
 */
export type Check = (value: unknown) => string | undefined;

/**
 * The longest delay a Node timer honours (2^31 - 1 ms, about 24.8 days); a longer one
 * fires after 1 ms, so no duration option may exceed it.
 */
export const MAX_TIMER_DELAY = 2_147_483_647;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const checks = {
  /** A duration in ms that a timer can wait: finite, >= 0 and at most MAX_TIMER_DELAY. */
  duration: ((v) =>
    finite(v) && v >= 0 && v <= MAX_TIMER_DELAY
      ? undefined
      : `a duration in ms (a finite number >= 0 and <= ${MAX_TIMER_DELAY})`) as Check,
  /** A duration in ms that a timer can wait: finite, > 0 and at most MAX_TIMER_DELAY. */
  positiveDuration: ((v) =>
    finite(v) && v > 0 && v <= MAX_TIMER_DELAY
      ? undefined
      : `a duration in ms (a finite number > 0 and <= ${MAX_TIMER_DELAY})`) as Check,
  /** A whole number >= 1. */
  positiveInt: ((v) =>
    finite(v) && Number.isInteger(v) && v >= 1 ? undefined : 'a whole number >= 1') as Check,
  /** A whole number >= 0. */
  nonNegativeInt: ((v) =>
    finite(v) && Number.isInteger(v) && v >= 0 ? undefined : 'a whole number >= 0') as Check,
  /** A percentage in (0, 100]. */
  percent: ((v) =>
    finite(v) && v > 0 && v <= 100
      ? undefined
      : 'a percentage greater than 0 and at most 100') as Check,
  /** A ratio in (0, 1]. */
  ratio: ((v) =>
    finite(v) && v > 0 && v <= 1 ? undefined : 'a ratio greater than 0 and at most 1') as Check,
  /** A number >= 1. */
  atLeastOne: ((v) => (finite(v) && v >= 1 ? undefined : 'a finite number >= 1')) as Check,
  fn: ((v) => (typeof v === 'function' ? undefined : 'a function')) as Check,
  bool: ((v) => (typeof v === 'boolean' ? undefined : 'true or false')) as Check,
  string: ((v) =>
    typeof v === 'string' && v.length > 0 ? undefined : 'a non-empty string') as Check,
  oneOf:
    (...allowed: readonly string[]): Check =>
    (v) =>
      typeof v === 'string' && allowed.includes(v)
        ? undefined
        : `one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
  /** A nested options object checked by its own schema. */
  object:
    (_schema: Schema): Check =>
    (v) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) ? undefined : 'an object',
};

/** Option key → check. A nested object's keys are checked through `nested`. @internal */
export type Schema = Record<string, Check | { nested: Schema; check?: Check }>;

/**
 * Validates `options` against `schema` and throws a `ResilienceConfigError` naming the
 * policy, the (dotted) key and the bad value. Unknown keys are errors too: a typo such
 * as `maxAtempts` must not silently fall back to the default.
 * @internal
 */
export function validateOptions(
  policy: string,
  options: unknown,
  schema: Schema,
  prefix = '',
): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const key = prefix ? prefix.slice(0, -1) : 'options';
    throw new ResilienceConfigError(
      INVALID_OPTION(policy, key, options, 'an object'),
      policy,
      key,
      options,
    );
  }
  const known = Object.keys(schema);
  for (const [key, value] of Object.entries(options)) {
    const path = prefix + key;
    const rule = schema[key];
    if (!rule) {
      throw new ResilienceConfigError(
        UNKNOWN_OPTION(policy, path, known, value),
        policy,
        path,
        value,
      );
    }
    if (value === undefined) continue;
    if (typeof rule === 'function') {
      const expected = rule(value);
      if (expected !== undefined) {
        throw new ResilienceConfigError(
          INVALID_OPTION(policy, path, value, expected),
          policy,
          path,
          value,
        );
      }
    } else {
      const expected = rule.check?.(value);
      if (expected !== undefined) {
        throw new ResilienceConfigError(
          INVALID_OPTION(policy, path, value, expected),
          policy,
          path,
          value,
        );
      }
      validateOptions(policy, value, rule.nested, `${path}.`);
    }
  }
}

/**
 * Every option key a schema knows, nested ones dotted (`backoff.initialDelay`): what the
 * bad-input tests compare their table with, so that a new option cannot go untested.
 * @internal
 */
export function schemaKeys(schema: Schema, prefix = ''): string[] {
  return Object.entries(schema).flatMap(([key, rule]) =>
    typeof rule === 'function'
      ? [prefix + key]
      : [prefix + key, ...schemaKeys(rule.nested, `${prefix}${key}.`)],
  );
}

/** Throws the standard error for one key whose value breaks a cross-field rule. @internal */
export function invalid(policy: string, key: string, value: unknown, expected: string): never {
  throw new ResilienceConfigError(INVALID_OPTION(policy, key, value, expected), policy, key, value);
}
