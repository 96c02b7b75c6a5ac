// nestjs-fault-tolerance/nats: needs the optional peer dependency nats (JetStream).
export { NatsDeadLetterQueue } from './nats-dead-letter-queue';
export type {
  NatsConsumeOptions,
  NatsDeadLetterErrorHandler,
  NatsDeadLetterQueueOptions,
  NatsDrainOptions,
} from './nats-dead-letter-queue';
