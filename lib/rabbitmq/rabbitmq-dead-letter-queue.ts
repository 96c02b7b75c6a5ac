import * as amqp from 'amqplib';
import type { Channel, ConfirmChannel, ConsumeMessage, Message, Options } from 'amqplib';
import { checks, invalid } from '../common/validate';
import {
  adapterLogger,
  callOnError,
  checkHandler,
  checkKeys,
  checkValue,
  cut,
  DrainSequence,
  isPlainObject,
  messageOf,
  Naps,
  noop,
  RunningSubscriptions,
  withTimeout,
} from '../dead-letter/adapter-support';
import { decodeDeadLetter, encodeDeadLetter } from '../dead-letter/dead-letter.codec';
import type {
  ConsumableDeadLetterQueue,
  DeadLetter,
  DeadLetterHandler,
  DeadLetterSubscription,
  DrainableDeadLetterQueue,
} from '../dead-letter/dead-letter.interface';

/* eslint-disable @typescript-eslint/no-explicit-any -- event listener signatures of amqplib */
/**
 * The part of an amqplib connection (what `await amqplib.connect(url)` returns, in every
 * amqplib version from 0.10 on) that the queue uses.
 * @publicApi
 */
export interface AmqpConnectionLike {
  createChannel(): Promise<Channel>;
  createConfirmChannel(): Promise<ConfirmChannel>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Options of `RabbitMqDeadLetterQueue`. Every duration is in milliseconds. @publicApi */
export interface RabbitMqDeadLetterQueueOptions {
  /**
   * Where to connect when no `connection` is given: an `amqp://` or `amqps://` URL, or
   * amqplib's connect options. The queue opens this connection itself (on the first call
   * that needs it, and again after it was lost) and closes it in `close()`.
   * @default 'amqp://guest:guest@127.0.0.1:5672'
   */
  url?: string | Options.Connect;
  /**
   * Socket options for the connection the queue opens from `url` (TLS certificates,
   * `keepAlive`...). `timeout` is set from `connectTimeout`; `noDelay` defaults to true.
   */
  socketOptions?: Record<string, unknown>;
  /**
   * An open amqplib connection to use instead of `url`. The queue opens and closes its own
   * channels on it but never closes the connection itself; once it has closed, calls reject
   * (the queue cannot reopen a connection it does not own).
   */
  connection?: AmqpConnectionLike;
  /**
   * The durable topic exchange letters are published to, with the routing key
   * `dlq.<policy>`. Declared (if missing) on connect.
   * @default 'resilience.dlq'
   */
  exchange?: string;
  /**
   * The durable queue bound to `exchange` with `dlq.#`, which `drain()` and `consume()`
   * read. Declared (if missing) on connect.
   * @default 'resilience.dlq'
   */
  queue?: string;
  /**
   * `arguments` of the queue declaration, e.g. `{ 'x-dead-letter-exchange': 'parked' }` so
   * that letters `consume()` gives up on are kept by the broker, or `x-max-length`. Must
   * match those of an existing queue (RabbitMQ refuses a declaration that differs).
   */
  queueArguments?: Record<string, unknown>;
  /**
   * How long `publish()` (and the republish of a failed letter in `consume()`) waits for
   * the broker's confirm before it rejects. A publish that times out drops the connection
   * (or, for a given `connection`, the channel) so that the next one starts afresh.
   * @default 2000
   */
  publishTimeout?: number;
  /**
   * How long opening the connection, its channel and the exchange and queue declarations
   * may take before the call that needed them rejects.
   * @default 500
   */
  connectTimeout?: number;
  /**
   * `consume()`: how many times a letter whose handler failed is put back on the queue
   * before it is rejected for good (0: never). The default for `consume()`'s own option.
   * @default 5
   */
  maxRequeues?: number;
  /**
   * `consume()`: how long a letter whose handler failed is held before it is put back on
   * the queue (it stays unacknowledged meanwhile). `stop()` cuts the wait short.
   * @default 1000
   */
  requeueDelay?: number;
  /** `consume()`: how many letters are handled at the same time (basic.qos). @default 16 */
  prefetch?: number;
  /**
   * How long `close()` waits for the handler calls of running consumers to settle before it
   * closes their channels (and its own connection) anyway. Their letters were not
   * acknowledged, so RabbitMQ puts them back on the queue.
   * @default 5000
   */
  closeTimeout?: number;
}

/** Options of `RabbitMqDeadLetterQueue.consume()` and `drain()`. @publicApi */
export interface RabbitMqConsumeOptions {
  /**
   * Called with a message that is not a dead letter (`MalformedDeadLetterError`) and, in
   * `consume()`, with a `RequeueLimitExceededError` for a letter rejected after
   * `maxRequeues`, along with the raw amqplib message. Either way the message has left the
   * queue (rejected without requeue: the queue's dead-letter exchange gets it when
   * `queueArguments` sets one). A throw in `onError` is logged.
   * @default logs the error (and the message text) with Nest's Logger, context 'Resilience'
   */
  onError?: (error: Error, message: Message) => void;
  /** Overrides the queue's `maxRequeues` (`consume()` only). */
  maxRequeues?: number;
  /** Overrides the queue's `requeueDelay` (`consume()` only). */
  requeueDelay?: number;
  /** Overrides the queue's `prefetch` (`consume()` only). */
  prefetch?: number;
}

/**
 * A letter whose handler kept failing in `consume()`: after `maxRequeues` requeues it was
 * rejected without requeue. `cause` is the handler's last error.
 * @publicApi
 */
export class RequeueLimitExceededError extends Error {
  override readonly name = 'RequeueLimitExceededError';
  constructor(
    readonly letter: DeadLetter,
    /** How many times the handler was given the letter. */
    readonly deliveries: number,
    cause: unknown,
  ) {
    super(
      `Dead letter ${letter.id} (${letter.target}) still failed after ${deliveries} ` +
        `deliveries (${messageOf(cause)}); it was rejected without requeue.`,
      { cause },
    );
  }
}

const OWNER = 'RabbitMqDeadLetterQueue';
const DEFAULTS = {
  url: 'amqp://guest:guest@127.0.0.1:5672',
  exchange: 'resilience.dlq',
  queue: 'resilience.dlq',
  publishTimeout: 2_000,
  connectTimeout: 500,
  maxRequeues: 5,
  requeueDelay: 1_000,
  prefetch: 16,
  closeTimeout: 5_000,
};
const OPTION_KEYS = [
  'url',
  'socketOptions',
  'connection',
  'exchange',
  'queue',
  'queueArguments',
  'publishTimeout',
  'connectTimeout',
  'maxRequeues',
  'requeueDelay',
  'prefetch',
  'closeTimeout',
];
const CONSUME_KEYS = ['onError', 'maxRequeues', 'requeueDelay', 'prefetch'];
/** The header counting how many times `consume()` put a letter back on the queue. */
const REQUEUE_HEADER = 'x-requeue-count';
/** How long `close()` waits for the broker to confirm a connection close. */
const CLOSE_TIMEOUT = 1_000;
/** Backoff of a consumer that lost its channel: first and longest wait. */
const RESTART_MIN_DELAY = 100;
const RESTART_MAX_DELAY = 5_000;

interface Settings {
  exchange: string;
  queue: string;
  queueArguments?: Record<string, unknown>;
  publishTimeout: number;
  connectTimeout: number;
  maxRequeues: number;
  requeueDelay: number;
  prefetch: number;
  closeTimeout: number;
}

/** A failure that retrying cannot fix (the given connection has closed, or `close()` ran). */
class PermanentError extends Error {
  readonly permanent = true;
}

/**
 * Dead letters in RabbitMQ (API §8), with amqplib.
 *
 * `publish()` sends each letter as a persistent JSON message (`contentType`
 * `application/json`, `messageId` = the letter's id, headers `x-error` = `Name: message` and
 * `x-original-target`) to a durable topic exchange with the routing key `dlq.<policy>`, on a
 * confirm channel, as a mandatory message. It resolves only once the broker has confirmed
 * it; a nack, an unroutable message, a closed channel or no confirm within `publishTimeout`
 * rejects. When the broker cannot be reached the call rejects within `connectTimeout`
 * (nothing waits in a client-side buffer), and the next call connects again, one
 * connection for any number of concurrent calls. A letter whose confirm timed out may
 * still have been stored: the module then publishes it again, so the queue can hold it
 * twice (same `messageId`).
 *
 * `drain()` reads the letters waiting in the queue, in queue order; `consume()` hands them
 * to a long-running handler and survives broker restarts.
 * @publicApi
 */
export class RabbitMqDeadLetterQueue
  implements DrainableDeadLetterQueue, ConsumableDeadLetterQueue
{
  private readonly settings: Settings;
  private readonly url: string | Options.Connect;
  private readonly socketOptions: Record<string, unknown>;
  private readonly given?: AmqpConnectionLike;

  /** The connection in use (the given one, or the one opened from `url`). */
  private current?: AmqpConnectionLike;
  private connecting?: Promise<AmqpConnectionLike>;
  private givenClosed = false;
  private blocked?: string;
  private publisher?: ConfirmingChannel;
  private opening?: Promise<ConfirmingChannel>;
  private readonly consumers = new RunningSubscriptions<RabbitMqConsumer>();
  private readonly drains = new DrainSequence();
  private closed = false;
  private closing?: Promise<void>;
  private readonly onGivenClose = () => {
    this.givenClosed = true;
    this.current = undefined;
  };
  private readonly onBlocked = (reason: unknown) => {
    this.blocked = String(reason);
  };
  private readonly onUnblocked = () => {
    this.blocked = undefined;
  };

  constructor(options: RabbitMqDeadLetterQueueOptions = {}) {
    const o = checkOptions(options);
    this.settings = {
      exchange: o.exchange ?? DEFAULTS.exchange,
      queue: o.queue ?? DEFAULTS.queue,
      queueArguments: o.queueArguments,
      publishTimeout: o.publishTimeout ?? DEFAULTS.publishTimeout,
      connectTimeout: o.connectTimeout ?? DEFAULTS.connectTimeout,
      maxRequeues: o.maxRequeues ?? DEFAULTS.maxRequeues,
      requeueDelay: o.requeueDelay ?? DEFAULTS.requeueDelay,
      prefetch: o.prefetch ?? DEFAULTS.prefetch,
      closeTimeout: o.closeTimeout ?? DEFAULTS.closeTimeout,
    };
    this.url = o.url ?? DEFAULTS.url;
    this.socketOptions = o.socketOptions ?? {};
    this.given = o.connection;
    this.current = this.given;
    if (this.given) {
      this.given.on('close', this.onGivenClose);
      this.given.on('blocked', this.onBlocked);
      this.given.on('unblocked', this.onUnblocked);
    }
  }

  /** The exchange letters are published to. */
  get exchange(): string {
    return this.settings.exchange;
  }

  /** The queue `drain()` and `consume()` read. */
  get queue(): string {
    return this.settings.queue;
  }

  /**
   * Publishes one letter; resolves once the broker has confirmed it (stored it durably).
   * Rejects when the broker nacks it, cannot route it, or does not confirm it within
   * `publishTimeout`, and within `connectTimeout` when the broker cannot be reached.
   */
  async publish(letter: DeadLetter): Promise<void> {
    this.assertOpen();
    if (this.blocked !== undefined) {
      throw new Error(
        `RabbitMQ has blocked publishing on this connection (${this.blocked}); the dead ` +
          'letter was not sent.',
      );
    }
    const channel = await this.publishChannel();
    const { name, message } = letter.error;
    try {
      await channel.publish(
        this.settings.exchange,
        routingKeyOf(letter.policy),
        Buffer.from(encodeDeadLetter(letter), 'utf8'),
        {
          persistent: true,
          mandatory: true,
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          messageId: letter.id,
          headers: {
            'x-error': cut(`${name}: ${message}`, 1_000),
            'x-original-target': letter.target,
          },
        },
        this.settings.publishTimeout,
      );
    } catch (error) {
      if (error instanceof ConfirmTimeoutError) this.reset(channel);
      throw error;
    }
  }

  /**
   * Hands the letters waiting in the queue now to `handler`, one at a time, in queue order
   * (oldest first). Each is acknowledged once the handler resolves; when the handler throws
   * or rejects, that letter goes back to the head of the queue (with the ones after it
   * untouched) and `drain()` rejects with the error. Only the letters waiting when the drain
   * starts are read. A message that is not a dead letter is reported to `onError` and
   * rejected without requeue. A second `drain()` starts when the first ends.
   * @returns how many letters the handler took.
   */
  drain(
    handler: DeadLetterHandler,
    options: Pick<RabbitMqConsumeOptions, 'onError'> = {},
  ): Promise<number> {
    return this.drains.start(
      handler,
      () => this.errorReporter(checkConsumeOptions('drain', options, ['onError'])),
      (onError) => this.drainNow(handler, onError),
    );
  }

  /**
   * Hands each letter of the queue to `handler` as it arrives, up to `prefetch` at a time.
   * A letter is acknowledged once the handler resolves. When the handler fails, the letter
   * is held `requeueDelay` ms, then published again to the back of the queue with its
   * `x-requeue-count` header increased (a plain nack-requeue keeps no count) and the
   * original acknowledged; once that count has reached `maxRequeues`, a failure rejects the
   * letter without requeue (to the queue's dead-letter exchange, if any) and reports a
   * `RequeueLimitExceededError` to `onError`. Messages that are not dead letters go to
   * `onError` and are rejected without requeue. Delivery is at least once: a letter whose
   * handler ran while the connection dropped is delivered again.
   *
   * When the channel or the connection is lost, the consumer starts again by itself, with
   * backoff (at most every 5 s). Resolves once the consumer is registered with the broker.
   */
  async consume(
    handler: DeadLetterHandler,
    options: RabbitMqConsumeOptions = {},
  ): Promise<DeadLetterSubscription> {
    checkHandler(handler, 'consume(handler)');
    const o = checkConsumeOptions('consume', options, CONSUME_KEYS);
    this.assertOpen();
    const consumer = new RabbitMqConsumer(this.consumerHost(), handler, {
      onError: this.errorReporter(o),
      maxRequeues: o.maxRequeues ?? this.settings.maxRequeues,
      requeueDelay: o.requeueDelay ?? this.settings.requeueDelay,
      prefetch: o.prefetch ?? this.settings.prefetch,
    });
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (error) {
      await consumer.stop();
      throw error;
    }
    return consumer;
  }

  /**
   * Stops every consumer (waiting up to `closeTimeout` for their handler calls), closes the
   * channels, and closes the connection when the queue opened it (never a given
   * `connection`). Later calls reject.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.closed = true;
    const { closeTimeout } = this.settings;
    // a consumer still busy after closeTimeout loses its channel: RabbitMQ requeues its letters
    const inTime = await this.consumers.stopAll(closeTimeout, (consumer) => consumer.cutOff());
    if (!inTime) {
      adapterLogger.warn(
        `${OWNER}: consumers not stopped within closeTimeout (${closeTimeout}ms): handler ` +
          'calls still running or RabbitMQ not answering. Their channels were closed, so ' +
          'RabbitMQ puts the letters they had not acknowledged back on the queue.',
      );
    }
    await this.opening?.catch(noop);
    const publisher = this.publisher;
    this.publisher = undefined;
    if (publisher) await publisher.close(CLOSE_TIMEOUT);
    if (this.given) {
      this.given.removeListener('close', this.onGivenClose);
      this.given.removeListener('blocked', this.onBlocked);
      this.given.removeListener('unblocked', this.onUnblocked);
      this.current = undefined;
      return;
    }
    const connection = this.current ?? (await this.connecting?.catch(noop));
    this.current = undefined;
    if (connection) await closeConnection(connection as amqp.ChannelModel, CLOSE_TIMEOUT);
  }

  private async drainNow(
    handler: DeadLetterHandler,
    onError: (error: Error, message: Message) => void,
  ): Promise<number> {
    this.assertOpen();
    await this.publishChannel(); // connects and declares the exchange and the queue
    const connection = await this.connection();
    const opening = connection.createChannel();
    const channel = await withTimeout(opening, this.settings.connectTimeout, () => {
      opening.then((late) => late.close(), noop).catch(noop);
      return `RabbitMQ did not open a channel within ${this.settings.connectTimeout}ms`;
    });
    let lost: Error | undefined;
    channel.on('error', (error: Error) => (lost = error));
    channel.on('close', () => (lost ??= new Error('the channel closed during the drain')));
    try {
      const { messageCount } = await channel.checkQueue(this.settings.queue);
      let drained = 0;
      for (let i = 0; i < messageCount; i++) {
        const message = await channel.get(this.settings.queue, { noAck: false });
        if (message === false) break;
        let letter: DeadLetter;
        try {
          letter = decodeDeadLetter(message.content.toString('utf8'));
        } catch (error) {
          channel.nack(message, false, false);
          onError(error as Error, message);
          continue;
        }
        try {
          await handler(letter);
        } catch (error) {
          if (!lost) channel.nack(message, false, true);
          throw error;
        }
        if (lost) throw lostChannelError(lost);
        channel.ack(message);
        drained++;
      }
      return drained;
    } finally {
      if (!lost) await channel.close().catch(noop);
    }
  }

  /** The connection, opened (once, for every caller waiting) when there is none. */
  private connection(): Promise<AmqpConnectionLike> {
    this.assertOpen();
    if (this.current) return Promise.resolve(this.current);
    if (this.given) {
      return Promise.reject(
        this.givenClosed
          ? new PermanentError(
              `The amqplib connection given to ${OWNER} (options.connection) has closed; ` +
                'the queue cannot reopen a connection it does not own.',
            )
          : new Error(`${OWNER}: no connection`),
      );
    }
    this.connecting ??= this.openConnection().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async openConnection(): Promise<AmqpConnectionLike> {
    const { connectTimeout } = this.settings;
    const attempt = amqp.connect(this.url as string, {
      // without it, Nagle's algorithm holds the small frames of drain() (ack, then get)
      // for the peer's delayed ACK: about 40 ms per letter
      noDelay: true,
      ...this.socketOptions,
      timeout: connectTimeout,
    }) as Promise<amqp.ChannelModel>;
    let connection: amqp.ChannelModel;
    try {
      connection = await withTimeout(attempt, connectTimeout, () => {
        // a connection that opens after all is closed at once
        attempt.then((late) => late.close(), noop).catch(noop);
        return `RabbitMQ (${describeUrl(this.url)}) did not accept a connection within ${connectTimeout}ms`;
      });
    } catch (error) {
      throw new Error(
        `Cannot connect to RabbitMQ (${describeUrl(this.url)}): ${messageOf(error)}`,
        { cause: error },
      );
    }
    connection.on('error', noop); // 'close' follows and is handled there
    connection.on('close', () => {
      if (this.current === connection) this.current = undefined;
      this.blocked = undefined;
    });
    connection.on('blocked', this.onBlocked);
    connection.on('unblocked', this.onUnblocked);
    if (this.closed) {
      await closeConnection(connection, CLOSE_TIMEOUT);
      throw closedError();
    }
    this.current = connection;
    return connection;
  }

  /** The confirm channel `publish` uses, with the exchange and queue declared. */
  private publishChannel(): Promise<ConfirmingChannel> {
    if (this.publisher && !this.publisher.closed) return Promise.resolve(this.publisher);
    this.opening ??= this.openChannel()
      .then((channel) => {
        this.publisher = channel;
        channel.onClose(() => {
          if (this.publisher === channel) this.publisher = undefined;
        });
        return channel;
      })
      .finally(() => (this.opening = undefined));
    return this.opening;
  }

  /** A new confirm channel on which the exchange, the queue and its binding are declared. */
  private async openChannel(): Promise<ConfirmingChannel> {
    const { exchange, queue, queueArguments, connectTimeout } = this.settings;
    const connection = await this.connection();
    const open = async () => {
      const channel = new ConfirmingChannel(await connection.createConfirmChannel());
      try {
        await channel.channel.assertExchange(exchange, 'topic', { durable: true });
        await channel.channel.assertQueue(queue, { durable: true, arguments: queueArguments });
        await channel.channel.bindQueue(queue, exchange, 'dlq.#');
      } catch (error) {
        void channel.close(CLOSE_TIMEOUT);
        throw new Error(
          `RabbitMQ refused the dead-letter exchange "${exchange}" or queue "${queue}": ` +
            messageOf(error),
          { cause: error },
        );
      }
      return channel;
    };
    const opening = open();
    return withTimeout(opening, connectTimeout, () => {
      opening.then((late) => late.close(CLOSE_TIMEOUT), noop).catch(noop);
      return `RabbitMQ did not open a channel and declare "${exchange}"/"${queue}" within ${connectTimeout}ms`;
    });
  }

  /** After a confirm timeout: start afresh on the next call. */
  private reset(channel: ConfirmingChannel): void {
    if (this.publisher === channel) this.publisher = undefined;
    void channel.close(CLOSE_TIMEOUT);
    const connection = this.current;
    if (!this.given && connection) {
      this.current = undefined;
      void closeConnection(connection as amqp.ChannelModel, CLOSE_TIMEOUT);
    }
  }

  private consumerHost(): ConsumerHost {
    return {
      queue: this.settings.queue,
      publishTimeout: this.settings.publishTimeout,
      isClosed: () => this.closed,
      openChannel: async () => {
        this.assertOpen();
        await this.publishChannel(); // declares the topology once per connection
        return this.openChannel();
      },
      forget: (consumer) => this.consumers.delete(consumer),
    };
  }

  private errorReporter(options: RabbitMqConsumeOptions): (error: Error, message: Message) => void {
    return (error, message) =>
      callOnError(options.onError, [error, message], (failed) => {
        if (failed) adapterLogger.error(`onError of ${OWNER} threw: ${messageOf(failed.thrown)}`);
        adapterLogger.error(
          `${OWNER} removed a message from queue "${this.settings.queue}": ${error.message} ` +
            `Message: ${cut(message.content.toString('utf8'), 10_000)}`,
        );
      });
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}

/** What a consumer needs from its queue. */
interface ConsumerHost {
  queue: string;
  publishTimeout: number;
  isClosed(): boolean;
  openChannel(): Promise<ConfirmingChannel>;
  forget(consumer: RabbitMqConsumer): void;
}

interface ConsumerSettings {
  onError: (error: Error, message: Message) => void;
  maxRequeues: number;
  requeueDelay: number;
  prefetch: number;
}

/** One `consume()` subscription: a consumer on its own confirm channel. */
class RabbitMqConsumer implements DeadLetterSubscription {
  private channel?: ConfirmingChannel;
  private tag?: string;
  private stopping = false;
  private stopped?: Promise<void>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly naps = new Naps();
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;

  constructor(
    private readonly host: ConsumerHost,
    private readonly handler: DeadLetterHandler,
    private readonly settings: ConsumerSettings,
  ) {}

  /** Opens the channel and registers the consumer; rejects when that fails. */
  async start(): Promise<void> {
    const channel = await this.host.openChannel();
    if (this.stopping) {
      await channel.close(CLOSE_TIMEOUT);
      return;
    }
    this.channel = channel;
    channel.onClose((error) => this.lost(channel, error));
    try {
      await channel.channel.prefetch(this.settings.prefetch);
      const { consumerTag } = await channel.channel.consume(
        this.host.queue,
        (message) => this.receive(channel, message),
        { noAck: false },
      );
      this.tag = consumerTag;
    } catch (error) {
      await channel.close(CLOSE_TIMEOUT);
      throw error;
    }
    if (this.failures > 0) {
      adapterLogger.log(`The dead-letter consumer of queue "${this.host.queue}" is back.`);
      this.failures = 0;
    }
  }

  stop(): Promise<void> {
    this.stopped ??= this.stopNow();
    return this.stopped;
  }

  /**
   * For `close()`, when `stop()` took too long: closes the channel under the handler calls
   * still in flight (their letters go back to the queue).
   */
  async cutOff(): Promise<void> {
    await this.channel?.close(CLOSE_TIMEOUT);
  }

  private async stopNow(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.naps.wakeAll();
    const channel = this.channel;
    if (channel && !channel.closed && this.tag !== undefined) {
      await withTimeout(
        channel.channel.cancel(this.tag),
        this.host.publishTimeout,
        () => 'RabbitMQ did not confirm the consumer cancel',
      ).catch(noop);
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    if (channel) await channel.close(CLOSE_TIMEOUT);
    this.host.forget(this);
  }

  private receive(channel: ConfirmingChannel, message: ConsumeMessage | null): void {
    if (message === null) {
      // the broker cancelled the consumer (the queue was deleted): start again
      void channel.close(CLOSE_TIMEOUT);
      return;
    }
    if (this.stopping) {
      attempt(() => channel.channel.nack(message, false, true));
      return;
    }
    const work = this.handle(channel, message).finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
  }

  private async handle(channel: ConfirmingChannel, message: ConsumeMessage): Promise<void> {
    let letter: DeadLetter;
    try {
      letter = decodeDeadLetter(message.content.toString('utf8'));
    } catch (error) {
      attempt(() => channel.channel.nack(message, false, false));
      this.settings.onError(error as Error, message);
      return;
    }
    try {
      await this.handler(letter);
    } catch (error) {
      await this.requeue(channel, message, letter, error);
      return;
    }
    attempt(() => channel.channel.ack(message));
  }

  private async requeue(
    channel: ConfirmingChannel,
    message: ConsumeMessage,
    letter: DeadLetter,
    error: unknown,
  ): Promise<void> {
    const count = requeueCount(message);
    if (count >= this.settings.maxRequeues) {
      attempt(() => channel.channel.nack(message, false, false));
      this.settings.onError(new RequeueLimitExceededError(letter, count + 1, error), message);
      return;
    }
    await this.sleep(this.settings.requeueDelay);
    if (channel.closed) return; // the broker puts the unacknowledged message back itself
    const { properties } = message;
    try {
      await channel.publish(
        '',
        this.host.queue,
        message.content,
        {
          persistent: true,
          mandatory: true,
          contentType: properties.contentType,
          contentEncoding: properties.contentEncoding,
          messageId: properties.messageId,
          timestamp: properties.timestamp,
          headers: { ...properties.headers, [REQUEUE_HEADER]: count + 1 },
        },
        this.host.publishTimeout,
      );
    } catch {
      // the copy may not exist: put the original back instead (not counted)
      attempt(() => channel.channel.nack(message, false, true));
      return;
    }
    attempt(() => channel.channel.ack(message));
  }

  /** The channel closed without `stop()`: register the consumer again, with backoff. */
  private lost(channel: ConfirmingChannel, error: Error | undefined): void {
    if (this.channel !== channel || this.stopping) return;
    this.channel = undefined;
    this.tag = undefined;
    if (this.failures === 0) {
      adapterLogger.warn(
        `The dead-letter consumer of queue "${this.host.queue}" lost its channel` +
          `${error ? ` (${error.message})` : ''}; it reconnects by itself.`,
      );
    }
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopping || this.host.isClosed() || this.restartTimer !== undefined) return;
    const delay = Math.min(RESTART_MAX_DELAY, RESTART_MIN_DELAY * 2 ** this.failures);
    this.failures++;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start().catch((error: unknown) => {
        if (this.stopping) return; // stopped (or the queue closed) while reconnecting
        if ((error as Partial<PermanentError>).permanent) {
          adapterLogger.error(
            `The dead-letter consumer of queue "${this.host.queue}" stopped: ${messageOf(error)}`,
          );
          void this.stop();
          return;
        }
        this.scheduleRestart();
      });
    }, delay);
  }

  private sleep(ms: number): Promise<void> {
    return this.stopping ? Promise.resolve() : this.naps.sleep(ms);
  }
}

class ConfirmTimeoutError extends Error {}

/**
 * A confirm channel whose `publish` resolves on the broker's confirm and rejects on a nack,
 * on a basic.return (mandatory message routed nowhere), on a timeout and when the channel
 * closes first.
 */
class ConfirmingChannel {
  closed = false;
  private lastError?: Error;
  private readonly pending = new Set<(error: Error) => void>();
  private readonly returned = new Map<string, number>();
  private readonly closeListeners: Array<(error?: Error) => void> = [];

  constructor(readonly channel: ConfirmChannel) {
    channel.on('error', (error: Error) => (this.lastError = error));
    channel.on('return', (message: Message) => {
      const id = message.properties.messageId;
      if (typeof id === 'string') this.returned.set(id, (this.returned.get(id) ?? 0) + 1);
    });
    channel.on('close', () => {
      this.closed = true;
      for (const fail of [...this.pending]) fail(this.closedError());
      for (const listener of this.closeListeners) listener(this.lastError);
    });
  }

  onClose(listener: (error?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    timeout: number,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const settle = (error?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(settle);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(
        () =>
          settle(
            new ConfirmTimeoutError(`RabbitMQ did not confirm the message within ${timeout}ms`),
          ),
        timeout,
      );
      this.pending.add(settle);
      if (this.closed) {
        settle(new Error('The channel is closed'));
        return;
      }
      try {
        this.channel.publish(exchange, routingKey, content, options, (error: unknown) => {
          if (error) {
            settle(
              messageOf(error) === 'message nacked'
                ? new Error('RabbitMQ refused the message (nack)')
                : this.closedError(),
            );
          } else if (this.takeReturned(options.messageId)) {
            settle(
              new Error(
                `RabbitMQ could not route the message (routing key "${routingKey}") to any ` +
                  `queue bound to exchange "${exchange || '(default)'}"`,
              ),
            );
          } else {
            settle();
          }
        });
      } catch (error) {
        settle(error as Error);
      }
    });
  }

  /** Closes the channel, waiting at most `timeout` ms; never rejects. */
  async close(timeout: number): Promise<void> {
    if (this.closed) return;
    await withTimeout(this.channel.close(), timeout, () => 'channel close timed out').catch(noop);
  }

  private closedError(): Error {
    return new Error(
      'The channel closed before RabbitMQ confirmed the message' +
        (this.lastError ? ` (${this.lastError.message})` : ''),
    );
  }

  private takeReturned(id: string | undefined): boolean {
    const count = id === undefined ? 0 : (this.returned.get(id) ?? 0);
    if (count === 0) return false;
    if (count === 1) this.returned.delete(id!);
    else this.returned.set(id!, count - 1);
    return true;
  }
}

/** Closes a connection the queue opened, destroying its socket if the broker does not answer. */
async function closeConnection(connection: amqp.ChannelModel, timeout: number): Promise<void> {
  try {
    await withTimeout(connection.close(), timeout, () => 'connection close timed out');
  } catch {
    // not answered in time (or already closed): drop the socket so that no handle is left;
    // the error lets amqplib see it and stop its heartbeat timer
    const socket = (
      connection as unknown as {
        connection?: { stream?: { destroyed?: boolean; destroy?(error: Error): void } };
      }
    ).connection?.stream;
    if (socket && !socket.destroyed) {
      socket.destroy?.(new Error('RabbitMQ did not answer the connection close in time'));
    }
  }
}

function requeueCount(message: Message): number {
  const value = Number(message.properties.headers?.[REQUEUE_HEADER] ?? 0);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/** `dlq.<policy>`, within AMQP's 255-byte limit of a routing key. */
function routingKeyOf(policy: string): string {
  let key = `dlq.${policy}`;
  while (Buffer.byteLength(key, 'utf8') > 255) key = key.slice(0, -1);
  return key;
}

function lostChannelError(error: Error): Error {
  return new Error(`The drain channel was lost: ${error.message}`, { cause: error });
}

function closedError(): PermanentError {
  return new PermanentError(`${OWNER} is closed.`);
}

function describeUrl(url: string | Options.Connect): string {
  if (typeof url !== 'string') {
    return `${url.protocol ?? 'amqp'}://${url.hostname ?? 'localhost'}:${url.port ?? 5672}`;
  }
  try {
    const parsed = new URL(url);
    parsed.password = parsed.password ? '***' : '';
    return parsed.toString();
  } catch {
    return 'the configured url';
  }
}

/** Runs an ack or nack; on a closed channel the broker has already requeued the message. */
function attempt(operation: () => void): void {
  try {
    operation();
  } catch {
    // the channel is gone: nothing left to acknowledge on it
  }
}

/** Exchange and queue names: not empty, not reserved, at most 255 bytes. */
const nameCheck = (v: unknown): string | undefined =>
  checks.string(v) ??
  ((v as string).startsWith('amq.')
    ? 'a name not starting with "amq." (reserved by RabbitMQ)'
    : Buffer.byteLength(v as string, 'utf8') > 255
      ? 'at most 255 bytes'
      : undefined);

const objectCheck = (v: unknown): string | undefined =>
  isPlainObject(v) ? undefined : 'an object';

function checkOptions(options: RabbitMqDeadLetterQueueOptions): RabbitMqDeadLetterQueueOptions {
  checkKeys(OWNER, options, OPTION_KEYS);
  const { url, socketOptions, connection } = options;
  checkValue(OWNER, 'url', url, (v) =>
    (typeof v === 'string' ? /^amqps?:\/\/./.test(v) : isPlainObject(v))
      ? undefined
      : 'an amqp:// or amqps:// URL, or amqplib connect options',
  );
  if (connection !== undefined) {
    checkValue(OWNER, 'connection', connection, (v) => {
      const c = v as Partial<AmqpConnectionLike> | null;
      return typeof c === 'object' &&
        c !== null &&
        typeof c.createConfirmChannel === 'function' &&
        typeof c.createChannel === 'function' &&
        typeof c.on === 'function'
        ? undefined
        : 'an amqplib connection (await amqplib.connect())';
    });
    if (url !== undefined) invalid(OWNER, 'url', url, 'no value when a connection is given');
    if (socketOptions !== undefined) {
      invalid(OWNER, 'socketOptions', socketOptions, 'no value when a connection is given');
    }
  }
  checkValue(OWNER, 'socketOptions', socketOptions, objectCheck);
  checkValue(OWNER, 'queueArguments', options.queueArguments, objectCheck);
  checkValue(OWNER, 'exchange', options.exchange, nameCheck);
  checkValue(OWNER, 'queue', options.queue, nameCheck);
  checkValue(OWNER, 'publishTimeout', options.publishTimeout, checks.positiveDuration);
  checkValue(OWNER, 'connectTimeout', options.connectTimeout, checks.positiveDuration);
  checkValue(OWNER, 'closeTimeout', options.closeTimeout, checks.duration);
  checkConsumeOptions(OWNER, options, OPTION_KEYS);
  return options;
}

function checkConsumeOptions(
  owner: string,
  options: RabbitMqConsumeOptions,
  known: readonly string[],
): RabbitMqConsumeOptions {
  const policy = owner === OWNER ? OWNER : `${OWNER}.${owner}`;
  checkKeys(policy, options, known);
  checkValue(policy, 'onError', options.onError, checks.fn);
  checkValue(policy, 'maxRequeues', options.maxRequeues, checks.nonNegativeInt);
  checkValue(policy, 'requeueDelay', options.requeueDelay, checks.duration);
  checkValue(policy, 'prefetch', options.prefetch, (v) =>
    checks.positiveInt(v) === undefined && (v as number) <= 65_535
      ? undefined
      : 'a whole number from 1 to 65535',
  );
  return options;
}
