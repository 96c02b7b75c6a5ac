import type { DeadLetterQueue } from '../../lib';
import { NatsDeadLetterQueue } from '../../lib/nats';
import { RabbitMqDeadLetterQueue } from '../../lib/rabbitmq';
import { RedisStreamsDeadLetterQueue } from '../../lib/redis';
import type { SampleConfig } from './config';

/**
 * The dead-letter queue chosen with `DEAD_LETTER_QUEUE`. `undefined` keeps the module's
 * default, an `InMemoryDeadLetterQueue`. The broker adapters open their own connection and
 * close it when the app shuts down; while the broker is unreachable, letters wait in the
 * module's local buffer (`stats().deadLetters.buffered`) and go out once it is back.
 * In a real app, import them from `nestjs-fault-tolerance/redis`, `/rabbitmq` or `/nats`.
 */
export function createDeadLetterQueue(config: SampleConfig): DeadLetterQueue | undefined {
  const url = config.deadLetterUrl;
  switch (config.deadLetterQueue) {
    case 'memory':
      return undefined;
    case 'redis':
      return new RedisStreamsDeadLetterQueue({ connection: url, prefix: 'sample' });
    case 'rabbitmq':
      return new RabbitMqDeadLetterQueue({ url, exchange: 'sample.dlq', queue: 'sample.dlq' });
    case 'nats':
      return new NatsDeadLetterQueue({
        servers: url,
        stream: 'SAMPLE_DLQ',
        subjectPrefix: 'sample',
      });
  }
}
