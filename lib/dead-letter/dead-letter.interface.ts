/**
 * The record of one call that finally failed (API §6). Always plain JSON:
 * `JSON.parse(JSON.stringify(letter))` gives an equal object back.
 * @publicApi
 */
export interface DeadLetter {
  /** Unique id of the letter (a random UUID). */
  id: string;
  /**
   * Name of the method's policy set: its circuit breaker's name when it has one, else
   * `ClassName.methodName` (the set name for `registry.policy(name)` calls).
   */
  policy: string;
  /** `ClassName.methodName` (the set name for `registry.policy(name)` calls). */
  target: string;
  /** The call's arguments after `serializeArgs`, made JSON-safe. */
  args: unknown[];
  /** The final error. */
  error: { name: string; message: string; stack?: string };
  /** How many attempts the call made (the retry's attempts; 1 without a retry). */
  attempts: number;
  /** When the call finally failed: ISO-8601, from the module's clock. */
  failedAt: string;
}

/**
 * Where dead letters go. `publish` resolves once the letter is stored; a rejection (or a
 * publish that does not settle within `deadLetterBuffer.publishTimeout`) keeps the letter in
 * a local buffer and retries it later.
 * @publicApi
 */
export interface DeadLetterQueue {
  publish(letter: DeadLetter): Promise<void>;
  /**
   * Optional: called once at application shutdown, after the module flushed its buffer to
   * `publish`. Adapters close what they opened (never a client the user passed in).
   */
  close?(): Promise<void>;
}

/**
 * Receives one letter read back from a queue. The letter counts as handled (acknowledged,
 * removed) only when this returns or resolves; a throw or rejection leaves it in the queue.
 * @publicApi
 */
export type DeadLetterHandler = (letter: DeadLetter) => unknown;

/**
 * A queue whose letters can be read back in one pass, as `InMemoryDeadLetterQueue` and the
 * broker adapters can: what `replayDeadLetters()` needs.
 * @publicApi
 */
export interface DrainableDeadLetterQueue extends DeadLetterQueue {
  /**
   * Hands the letters waiting now to `handler`, oldest first, one at a time. A letter leaves
   * the queue only when the handler resolves. When the handler throws or rejects, the drain
   * stops and rejects with that error; that letter and the ones after it stay queued.
   * @returns how many letters were handled.
   */
  drain(handler: DeadLetterHandler): Promise<number>;
}

/** A running `consume()` subscription. @publicApi */
export interface DeadLetterSubscription {
  /** Stops taking letters and waits for the handler calls in flight to settle. */
  stop(): Promise<void>;
}

/**
 * A queue that can hand letters to a long-running consumer (a worker that re-processes
 * failed work as it arrives).
 * @publicApi
 */
export interface ConsumableDeadLetterQueue extends DeadLetterQueue {
  consume(handler: DeadLetterHandler, options?: object): Promise<DeadLetterSubscription>;
}

/** Injection token of the application's active dead-letter queue. @publicApi */
export const DEAD_LETTER_QUEUE: symbol = Symbol.for('nestjs-fault-tolerance:dead-letter-queue');
