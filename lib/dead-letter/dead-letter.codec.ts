import type { DeadLetter } from './dead-letter.interface';

/**
 * A broker message that does not hold a dead letter (not JSON, or a field missing or of the
 * wrong type). Consumers hand it to their `onError` instead of the handler.
 * @publicApi
 */
export class MalformedDeadLetterError extends Error {
  override readonly name = 'MalformedDeadLetterError';
  constructor(
    message: string,
    /** The raw message text (cut to 1000 characters). */
    readonly raw: string,
  ) {
    super(message);
  }
}

/** A letter as the JSON text brokers carry. @internal */
export function encodeDeadLetter(letter: DeadLetter): string {
  return JSON.stringify(letter);
}

/**
 * The letter in a broker message's text, checked field by field.
 * @throws MalformedDeadLetterError naming the first field that is wrong.
 * @internal
 */
export function decodeDeadLetter(text: string): DeadLetter {
  const raw = text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MalformedDeadLetterError(
      `Not a dead letter: the message is not JSON (${(error as Error).message}).`,
      raw,
    );
  }
  const bad = (field: string, expected: string): never => {
    throw new MalformedDeadLetterError(`Not a dead letter: "${field}" must be ${expected}.`, raw);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    bad('(message)', 'a JSON object');
  }
  const letter = value as Record<string, unknown>;
  for (const field of ['id', 'policy', 'target', 'failedAt'] as const) {
    if (typeof letter[field] !== 'string') bad(field, 'a string');
  }
  if (!Array.isArray(letter.args)) bad('args', 'an array');
  if (typeof letter.attempts !== 'number' || !Number.isInteger(letter.attempts)) {
    bad('attempts', 'an integer');
  }
  const error = letter.error as Record<string, unknown> | null;
  if (typeof error !== 'object' || error === null) bad('error', 'an object');
  if (typeof error?.name !== 'string') bad('error.name', 'a string');
  if (typeof error?.message !== 'string') bad('error.message', 'a string');
  if (error?.stack !== undefined && typeof error.stack !== 'string') {
    bad('error.stack', 'a string when present');
  }
  return letter as unknown as DeadLetter;
}
