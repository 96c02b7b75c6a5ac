import { Inject } from '@nestjs/common';
import { addPolicy } from '../module/add-policy';
import { DEAD_LETTER_QUEUE, type DeadLetter as DeadLetterRecord } from './dead-letter.interface';
import type { DeadLetterOptions } from './dead-letter.options';

/**
 * The record of one call that finally failed (API §6); see `DeadLetterQueue`. The same
 * name is the `@DeadLetter()` decorator when used as a value.
 * @publicApi
 */
export type DeadLetter = DeadLetterRecord;

/**
 * After the call finally fails (retries, breaker and the rest included), publishes a
 * `DeadLetter` to the application's dead-letter queue; the error then still propagates,
 * unless `swallow: true` makes the call resolve to `undefined`. Its place in the chain is
 * fixed: inside `@Fallback`, outside `@Retry`. Options are checked at bootstrap.
 * @publicApi
 */
export function DeadLetter(options?: DeadLetterOptions): MethodDecorator {
  return addPolicy({ kind: 'deadLetter', options });
}

/**
 * Injects the application's active dead-letter queue (`DEAD_LETTER_QUEUE`): the module
 * option `deadLetterQueue`, or the default `InMemoryDeadLetterQueue`.
 * @publicApi
 */
export const InjectDeadLetterQueue = (): PropertyDecorator & ParameterDecorator =>
  Inject(DEAD_LETTER_QUEUE);
