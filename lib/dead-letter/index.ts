export { DEAD_LETTER_QUEUE } from './dead-letter.interface';
export type {
  ConsumableDeadLetterQueue,
  DeadLetterHandler,
  DeadLetterQueue,
  DeadLetterSubscription,
  DrainableDeadLetterQueue,
} from './dead-letter.interface';
export type { DeadLetterBufferOptions, DeadLetterOptions } from './dead-letter.options';
export { DeadLetter, InjectDeadLetterQueue } from './dead-letter.decorator';
export { InMemoryDeadLetterQueue } from './in-memory-dead-letter-queue';
export { toJsonSafe } from './json-safe';
export type { DeadLetterStats } from './dead-letter.publisher';
export { MalformedDeadLetterError } from './dead-letter.codec';
export { DeadLetterReplayError, replayDeadLetters } from './replay';
export type {
  DeadLetterReplayer,
  ReplayDeadLettersOptions,
  ReplayDeadLettersResult,
} from './replay';
