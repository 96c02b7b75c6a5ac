// nestjs-fault-tolerance/redis: needs the optional peer dependency ioredis.
export { RedisCircuitStateStore } from './redis-circuit-state-store';
export type { RedisCircuitStateStoreOptions } from './redis-circuit-state-store';
export {
  RedisStreamsDeadLetterQueue,
  RedisStreamsDeliveryLimitError,
} from './redis-streams-dead-letter-queue';
export type {
  RedisStreamEntry,
  RedisStreamsConsumeOptions,
  RedisStreamsDeadLetterQueueOptions,
  RedisStreamsDrainOptions,
  RedisStreamsErrorHandler,
} from './redis-streams-dead-letter-queue';
