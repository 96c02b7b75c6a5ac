import { checks, invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/** Options of `@DeadLetter(options?)` and of a policy set's `deadLetter`. @publicApi */
export interface DeadLetterOptions {
  /**
   * Resolve the failed call to `undefined` once its letter is published, instead of
   * rethrowing the error (a `@Fallback` around it then sees a success).
   * @default false
   */
  swallow?: boolean;
  /**
   * Redacts or reshapes the arguments before they are written into the letter. Replaces
   * the module's `serializeArgs` for this method. A result that is not an array is wrapped
   * in one; a function that throws gives the placeholder
   * `['[serializeArgs failed: Name: message]']`.
   * @default the module's `serializeArgs`, else the arguments as they are
   */
  serializeArgs?: (args: unknown[]) => unknown[];
}

/** @internal */
export interface ResolvedDeadLetterOptions {
  swallow: boolean;
  serializeArgs?: (args: unknown[]) => unknown[];
}

const SCHEMA: Schema = { swallow: checks.bool, serializeArgs: checks.fn };

/**
 * Checks the options of the dead-letter step of `name` and applies defaults.
 * @throws ResilienceConfigError naming the policy, the key and the bad value.
 * @publicApi
 */
export function resolveDeadLetterOptions(
  name: string,
  options: unknown,
): ResolvedDeadLetterOptions {
  validateOptions(name, options, SCHEMA);
  const o = (options ?? {}) as DeadLetterOptions;
  return { swallow: o.swallow ?? false, serializeArgs: o.serializeArgs };
}

/**
 * How letters that the queue's `publish` did not accept are kept and retried (module
 * option `deadLetterBuffer`). Retries wait `initialDelay`, then `multiplier` times longer
 * after each failed attempt, at most `maxDelay`; a success resets the delay.
 * @publicApi
 */
export interface DeadLetterBufferOptions {
  /**
   * Letters kept while the queue is failing; when full, the oldest is dropped (counted in
   * `stats().deadLetters.dropped`).
   * @default 1000
   */
  capacity?: number;
  /**
   * How long one `publish` may take (ms) before it counts as failed and the letter is
   * buffered. A call that fails waits for its letter's first publish at most this long.
   * @default 5000
   */
  publishTimeout?: number;
  /** First delay before publishing buffered letters again (ms). @default 1000 */
  initialDelay?: number;
  /** Longest delay between two attempts (ms). @default 60000 */
  maxDelay?: number;
  /** Growth of the delay after each failed attempt. @default 2 */
  multiplier?: number;
}

/** @internal */
export type ResolvedDeadLetterBufferOptions = Required<DeadLetterBufferOptions>;

const BUFFER_SCHEMA: Schema = {
  capacity: checks.positiveInt,
  publishTimeout: checks.positiveDuration,
  initialDelay: checks.positiveDuration,
  maxDelay: checks.positiveDuration,
  multiplier: checks.atLeastOne,
};

/** Every key `@DeadLetter` options and the module option `deadLetterBuffer` know. @internal */
export const DEAD_LETTER_OPTION_KEYS: readonly string[] = schemaKeys(SCHEMA);
export const DEAD_LETTER_BUFFER_OPTION_KEYS: readonly string[] = schemaKeys(BUFFER_SCHEMA);

/**
 * Checks the module option `deadLetterBuffer` and applies defaults.
 * @throws ResilienceConfigError naming `deadLetterBuffer.<key>` and the bad value.
 * @internal
 */
export function resolveDeadLetterBufferOptions(options: unknown): ResolvedDeadLetterBufferOptions {
  validateOptions('ResilienceModule', options, BUFFER_SCHEMA, 'deadLetterBuffer.');
  const o = (options ?? {}) as DeadLetterBufferOptions;
  const resolved = {
    capacity: o.capacity ?? 1_000,
    publishTimeout: o.publishTimeout ?? 5_000,
    initialDelay: o.initialDelay ?? 1_000,
    maxDelay: o.maxDelay ?? 60_000,
    multiplier: o.multiplier ?? 2,
  };
  if (resolved.maxDelay < resolved.initialDelay) {
    const key = o.maxDelay !== undefined ? 'maxDelay' : 'initialDelay';
    invalid(
      'ResilienceModule',
      `deadLetterBuffer.${key}`,
      resolved[key],
      key === 'maxDelay'
        ? `a duration >= deadLetterBuffer.initialDelay (${resolved.initialDelay}ms)`
        : `a duration <= deadLetterBuffer.maxDelay (${resolved.maxDelay}ms)`,
    );
  }
  return resolved;
}
