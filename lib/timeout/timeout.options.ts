import { invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/** Options of `@Timeout` and `TimeoutPolicy`. @publicApi */
export interface TimeoutOptions {
  /**
   * How long a call may run, in milliseconds (> 0). Required: there is no default.
   * After this time the caller gets a `TimeoutError` and the work's `AbortSignal` is
   * aborted with it.
   * @default none (required)
   */
  timeout: number;
}

/** Timeout options after validation. @publicApi */
export type ResolvedTimeoutOptions = Required<TimeoutOptions>;

/** Longest delay a Node timer honours (about 24.8 days); longer ones fire at once. */
const MAX_TIMEOUT = 2_147_483_647;
const EXPECTED = `a duration in ms (a finite number > 0 and <= ${MAX_TIMEOUT}); it is required`;

const TIMEOUT_SCHEMA: Schema = {
  timeout: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_TIMEOUT ? undefined : EXPECTED,
};

/** Every key `resolveTimeoutOptions` knows. @internal */
export const TIMEOUT_OPTION_KEYS: readonly string[] = schemaKeys(TIMEOUT_SCHEMA);

/**
 * Validates the options of the timeout policy `name`. A bare number is read as
 * `{ timeout: number }` (the `@Timeout(ms)` form).
 * @throws ResilienceConfigError naming the policy, the key (`timeout`) and the bad value.
 * @publicApi
 */
export function resolveTimeoutOptions(
  name: string,
  options?: Partial<TimeoutOptions> | number,
): ResolvedTimeoutOptions {
  const given = typeof options === 'number' ? { timeout: options } : options;
  validateOptions(name, given, TIMEOUT_SCHEMA);
  if (given?.timeout === undefined) invalid(name, 'timeout', undefined, EXPECTED);
  return { timeout: given.timeout };
}
