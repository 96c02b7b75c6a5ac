import { randomUUID } from 'node:crypto';
import { CallContext, ChildContext } from '../common/call-context';
import { Clock, systemClock } from '../common/clock';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { invoke, Policy, Work } from '../common/policy';
import type { DeadLetter } from './dead-letter.interface';
import {
  DeadLetterOptions,
  resolveDeadLetterOptions,
  ResolvedDeadLetterOptions,
} from './dead-letter.options';
import type { DeadLetterSink } from './dead-letter.publisher';
import { isErrorLike, messageOf, toJsonSafe } from './json-safe';

/** Counters of one dead-letter step. @publicApi */
export interface DeadLetterPolicyStats {
  /** Calls made through the step. */
  calls: number;
  /** Calls that failed and produced a letter. */
  letters: number;
}

/** Where a dead-letter step gets its settings from. @internal */
export interface DeadLetterPolicySettings {
  /** `ClassName.methodName` of the protected method. */
  target: string;
  /** The step's own options (`@DeadLetter(options)` or a set's `deadLetter`). */
  options?: DeadLetterOptions;
  /** The module's `serializeArgs`, used when the options have none. */
  moduleSerializeArgs?: (args: unknown[]) => unknown[];
  /** Receives the letters. */
  sink: DeadLetterSink;
  clock?: Clock;
  /** Letter ids; random UUIDs by default. */
  newId?: () => string;
}

/**
 * The dead-letter step of a method (API §2.1: just inside the fallback, outside the
 * retry). When the call finally fails, it writes a `DeadLetter` and hands it to the sink,
 * then rethrows the error, or resolves to `undefined` with `swallow: true`.
 *
 * No letter is written for a call its caller cancelled (the context it was given is
 * aborted: an Observable's subscriber left, an `AbortSignal` fired) nor for a call turned
 * away because the application is shutting down (`BulkheadRejectedError`, reason
 * `'shutdown'`): neither is a failure of the call.
 *
 * Attempts are counted by `counter`, a step placed just below the retry.
 * @internal
 */
export class DeadLetterPolicy extends Policy {
  readonly kind = 'deadLetter' as const;
  readonly target: string;
  readonly options: ResolvedDeadLetterOptions;
  /** Place it just below the retry: it counts the attempts of each call. */
  readonly counter: Policy = new AttemptCounter(this.name);
  private readonly serializeArgs?: (args: unknown[]) => unknown[];
  private readonly sink: DeadLetterSink;
  private readonly clock: Clock;
  private readonly newId: () => string;
  private calls = 0;
  private letters = 0;

  /** @param name the method's policy set name, written into each letter's `policy`. */
  constructor(name: string, settings: DeadLetterPolicySettings) {
    super(name);
    this.target = settings.target;
    this.options = resolveDeadLetterOptions(settings.target, settings.options);
    this.serializeArgs = this.options.serializeArgs ?? settings.moduleSerializeArgs;
    this.sink = settings.sink;
    this.clock = settings.clock ?? systemClock;
    this.newId = settings.newId ?? randomUUID;
  }

  run<T>(fn: Work<T>, context: CallContext | undefined, args?: readonly unknown[]): Promise<T> {
    this.calls++;
    const counting = new CountingContext();
    if (context) counting.link(context);
    return invoke(fn, counting).then(
      (value) => {
        counting.release();
        return value;
      },
      (error: unknown) => {
        counting.release();
        return this.failed<T>(error, context, counting.attempts, args);
      },
    );
  }

  stats(): DeadLetterPolicyStats {
    return { calls: this.calls, letters: this.letters };
  }

  private async failed<T>(
    error: unknown,
    context: CallContext | undefined,
    attempts: number,
    args: readonly unknown[] | undefined,
  ): Promise<T> {
    if (context?.aborted || isShutdownRejection(error)) throw error;
    let letter: DeadLetter | undefined;
    try {
      letter = this.letterFor(error, attempts, args ?? []);
    } catch {
      // building a letter only fails if the clock or the id source throws: the call's own
      // error matters more, so it goes on unchanged
    }
    if (letter) {
      this.letters++;
      await this.sink.submit(letter);
    }
    if (this.options.swallow) return undefined as T;
    throw error;
  }

  private letterFor(error: unknown, attempts: number, args: readonly unknown[]): DeadLetter {
    return {
      id: this.newId(),
      policy: this.name,
      target: this.target,
      args: this.serialize(args),
      error: describeError(error),
      attempts: Math.max(1, attempts),
      failedAt: new Date(this.clock.now()).toISOString(),
    };
  }

  private serialize(args: readonly unknown[]): unknown[] {
    let shaped: unknown = args;
    const serializeArgs = this.serializeArgs;
    if (serializeArgs) {
      try {
        shaped = serializeArgs([...args]);
      } catch (error) {
        this.sink.serializeFailed(this.target, error);
        return [`[serializeArgs failed: ${messageOf(error)}]`];
      }
    }
    const safe = toJsonSafe(shaped);
    return Array.isArray(safe) ? safe : [safe];
  }
}

/** The context a dead-letter step gives the retry: the attempts of the call are counted on it. */
class CountingContext extends ChildContext {
  attempts = 0;
}

/**
 * Counts the attempts of a call on its `CountingContext`. Calls the work synchronously, so
 * it changes nothing about how the chain runs.
 */
class AttemptCounter extends Policy {
  readonly kind = 'deadLetter' as const;

  run<T>(fn: Work<T>, context: CallContext | undefined, _args?: readonly unknown[]): Promise<T> {
    if (context instanceof CountingContext) context.attempts++;
    return invoke(fn, context ?? new CallContext());
  }

  stats(): object {
    return {};
  }
}

/**
 * The error part of a letter: name, message and, when there is one, the stack. Never
 * throws, so that an error with hostile fields (a getter that throws, a revoked proxy)
 * still gives a letter.
 */
function describeError(error: unknown): DeadLetter['error'] {
  if (isReadableError(error)) {
    const out: DeadLetter['error'] = {
      name: textOf(fieldOf(error, 'name') || 'Error'),
      message: textOf(fieldOf(error, 'message')),
    };
    let stack: unknown;
    try {
      stack = error.stack;
    } catch {
      // no stack then
    }
    if (typeof stack === 'string') out.stack = stack;
    return out;
  }
  const safe = toJsonSafe(error);
  return {
    name: error === null ? 'null' : typeof error === 'object' ? 'Object' : typeof error,
    message: typeof safe === 'string' ? safe : JSON.stringify(safe),
  };
}

function isReadableError(error: unknown): error is Error {
  try {
    return isErrorLike(error);
  } catch {
    return false; // a revoked proxy, a throwing getter: described as a plain value
  }
}

function fieldOf(error: Error, key: 'name' | 'message'): unknown {
  try {
    return error[key];
  } catch (thrown) {
    return `[Unreadable: ${messageOf(thrown)}]`;
  }
}

function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    const safe = toJsonSafe(value);
    return typeof safe === 'string' ? safe : JSON.stringify(safe);
  }
}

function isShutdownRejection(error: unknown): boolean {
  try {
    return error instanceof BulkheadRejectedError && error.reason === 'shutdown';
  } catch {
    return false; // a revoked proxy thrown as an error
  }
}

/**
 * Puts a dead-letter step in front of a method's policies (outermost first, fallback
 * excluded), and its attempt counter just below the retry when there is one.
 * @internal
 */
export function withDeadLetter(
  deadLetter: DeadLetterPolicy,
  policies: readonly Policy[],
): Policy[] {
  const chain: Policy[] = [deadLetter];
  for (const policy of policies) {
    chain.push(policy);
    if (policy.kind === 'retry') chain.push(deadLetter.counter);
  }
  return chain;
}
