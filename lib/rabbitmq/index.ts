// nestjs-fault-tolerance/rabbitmq: needs the optional peer dependency amqplib.
export { RabbitMqDeadLetterQueue, RequeueLimitExceededError } from './rabbitmq-dead-letter-queue';
export type {
  AmqpConnectionLike,
  RabbitMqConsumeOptions,
  RabbitMqDeadLetterQueueOptions,
} from './rabbitmq-dead-letter-queue';
