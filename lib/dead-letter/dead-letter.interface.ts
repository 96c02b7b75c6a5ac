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
}

/** Injection token of the application's active dead-letter queue. @publicApi */
export const DEAD_LETTER_QUEUE: symbol = Symbol.for('nestjs-fault-tolerance:dead-letter-queue');
