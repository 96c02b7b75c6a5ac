import { isObservable, lastValueFrom, type Observable } from 'rxjs';
import { createInvoker, type Invoker } from '../module/invoker';
import type { ReplayTarget, ResilienceRegistry } from '../registry/resilience.registry';
import type { DeadLetter, DrainableDeadLetterQueue } from './dead-letter.interface';

/** Re-runs one letter; resolving means the work is done and the letter may go. @publicApi */
export type DeadLetterReplayer = (letter: DeadLetter) => unknown;

/** Options of `replayDeadLetters`. @publicApi */
export interface ReplayDeadLettersOptions {
  /** Replay at most this many letters (default: every letter waiting when the replay starts). */
  limit?: number;
  /**
   * With the registry: the arguments to re-run a letter with, instead of `letter.args`, for
   * instance to restore what `serializeArgs` redacted (from the letter's own ids). May be
   * async. Ignored with a replay function.
   */
  args?: (letter: DeadLetter) => unknown[] | Promise<unknown[]>;
}

/** What a replay did. @publicApi */
export interface ReplayDeadLettersResult {
  /** Letters re-run successfully and removed from the queue. */
  replayed: number;
  /**
   * The letter whose re-run failed, and its error. The replay stopped there: that letter and
   * the ones after it are still in the queue. Absent when every letter went through (or the
   * `limit` was reached).
   */
  failed?: { letter: DeadLetter; error: unknown };
}

/**
 * The letter's target cannot be re-run through the registry (no such decorated method, a
 * request-scoped or transient provider, or one class registered under two instances).
 * @publicApi
 */
export class DeadLetterReplayError extends Error {
  override readonly name = 'DeadLetterReplayError';
  constructor(
    message: string,
    /** The letter's `target`. */
    readonly target: string,
  ) {
    super(message);
  }
}

/** Thrown from the drain handler to stop once `limit` letters went through. */
class LimitReached extends Error {}

/**
 * Re-runs the letters waiting in `queue`, oldest first, and removes each one whose re-run
 * succeeds, so an operator can drain the queue once the downstream is back.
 *
 * - With the application's `ResilienceRegistry`, each letter is re-run through the method its
 *   `target` names (`ClassName.methodName`), with the letter's `args`, on the provider's
 *   instance, through that method's policies (breaker, retry, timeout, …) but without its
 *   `@DeadLetter` and `@Fallback`: a re-run that fails again is reported here and its letter
 *   stays queued, instead of producing a second letter or a fallback value.
 * - With a function, each letter is handed to it (for letters of `registry.policy(name)` calls,
 *   or to rebuild arguments that `serializeArgs` redacted).
 *
 * The replay stops at the first letter that fails (an open breaker, say) and resolves with
 * what it did; it rejects only when the queue itself fails (a lost connection), never for a
 * letter. The arguments are the JSON-safe copies the letter carries: a method that needs
 * class instances should be replayed with a function.
 * @publicApi
 */
export async function replayDeadLetters(
  queue: DrainableDeadLetterQueue,
  replayer: ResilienceRegistry | DeadLetterReplayer,
  options: ReplayDeadLettersOptions = {},
): Promise<ReplayDeadLettersResult> {
  if (typeof queue?.drain !== 'function') {
    throw new TypeError(
      'replayDeadLetters(queue, …): the queue cannot be read back (it has no drain(handler) ' +
        'method). InMemoryDeadLetterQueue and the Redis, RabbitMQ and NATS adapters can.',
    );
  }
  const limit = options.limit ?? Infinity;
  if (!(limit >= 0) || (limit !== Infinity && !Number.isInteger(limit))) {
    throw new TypeError(
      `replayDeadLetters: limit must be an integer >= 0; got ${String(options.limit)}.`,
    );
  }
  if (options.args !== undefined && typeof options.args !== 'function') {
    throw new TypeError('replayDeadLetters: args must be a function (letter) => unknown[].');
  }
  const run = replayFunction(replayer, options.args);
  let replayed = 0;
  let current: DeadLetter | undefined;
  try {
    await queue.drain(async (letter) => {
      if (replayed >= limit) throw new LimitReached();
      current = letter;
      await run(letter);
      replayed++;
      current = undefined;
    });
    return { replayed };
  } catch (error) {
    if (error instanceof LimitReached) return { replayed };
    if (current === undefined) throw error; // the queue itself failed, not a letter's re-run
    return { replayed, failed: { letter: current, error } };
  }
}

function replayFunction(
  replayer: ResilienceRegistry | DeadLetterReplayer,
  argsOf: ReplayDeadLettersOptions['args'] = (letter) => [...letter.args],
): (letter: DeadLetter) => Promise<unknown> {
  if (typeof replayer === 'function') {
    return async (letter) => settle(await replayer(letter));
  }
  if (typeof replayer?.replayTarget !== 'function') {
    throw new TypeError(
      'replayDeadLetters(queue, replayer): replayer must be the ResilienceRegistry or a function ' +
        '(letter) => unknown.',
    );
  }
  const invokers = new Map<ReplayTarget, Invoker>();
  return async (letter) => {
    const entry = replayer.replayTarget(letter.target);
    if (entry === undefined) {
      throw new DeadLetterReplayError(
        `No decorated method "${letter.target}" in this application to replay letter ` +
          `${letter.id} on. Letters of registry.policy(name) calls need a replay function.`,
        letter.target,
      );
    }
    if (entry === 'not-static' || entry === 'ambiguous') {
      throw new DeadLetterReplayError(
        entry === 'not-static'
          ? `"${letter.target}" belongs to a request-scoped or transient provider: there is no ` +
              `single instance to replay letter ${letter.id} on. Pass a replay function.`
          : `"${letter.target}" names methods of two different instances: replaying letter ` +
              `${letter.id} through the registry would be a guess. Pass a replay function.`,
        letter.target,
      );
    }
    let invoker = invokers.get(entry);
    if (invoker === undefined) {
      invoker = replayInvoker(entry, replayer);
      invokers.set(entry, invoker);
    }
    const args = await argsOf(letter);
    if (!Array.isArray(args)) {
      throw new TypeError(
        `replayDeadLetters: args(letter) must return an array; got ${typeof args} for letter ${letter.id}.`,
      );
    }
    return settle(invoker(entry.instance, args));
  };
}

/** The method's own chain without its dead-letter steps and fallback. */
function replayInvoker(entry: ReplayTarget, registry: ResilienceRegistry): Invoker {
  const { plan, original } = entry;
  const policies = plan.policies.filter(
    (policy) => policy.kind !== 'deadLetter' && policy.kind !== 'fallback',
  );
  return createInvoker({ ...plan, policies, recovery: undefined }, original, registry);
}

/** Waits for a Promise or the last value of an Observable. */
async function settle(result: unknown): Promise<unknown> {
  if (isObservable(result)) {
    return lastValueFrom(result as Observable<unknown>, { defaultValue: undefined });
  }
  return result;
}
