import {
  AckPolicy,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  headers,
  nanos,
  RetentionPolicy,
  StorageType,
  type ConnectionOptions,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { checks, invalid } from '../common/validate';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
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
  noop,
  resolvesWithin,
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
import { subjectCovers, subjectProblem, subjectToken } from './nats-subject';

/** Options of `NatsDeadLetterQueue`. Every duration is in milliseconds. @publicApi */
export interface NatsDeadLetterQueueOptions {
  /**
   * Where the queue connects when no `connection` is given. It opens one connection of its
   * own, which reconnects by itself after an outage, and closes it in `close()`.
   * @default 'nats://127.0.0.1:4222'
   */
  servers?: string | string[];
  /**
   * More options for the queue's own connection (credentials, TLS, `name`,
   * `reconnectTimeWait`, …); not with `connection`. `servers` goes in its own option.
   * @default { maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: connectTimeout }
   */
  connectionOptions?: Omit<ConnectionOptions, 'servers'>;
  /**
   * A connection of your own to use instead. The queue never closes or drains it; it only
   * stops what it started on it (status watcher, consumers). It is taken as connected when
   * the queue first uses it, then followed through its `disconnect`/`reconnect` status
   * events; give it `maxReconnectAttempts: -1` so that it outlives an outage.
   */
  connection?: NatsConnection;
  /**
   * The JetStream stream holding the letters. It is created when missing (file storage,
   * limits retention, subjects `<subjectPrefix>.>`); an existing stream is used as it is when
   * one of its subjects covers `<subjectPrefix>.>`.
   * @default 'RESILIENCE_DLQ'
   */
  stream?: string;
  /**
   * First token(s) of the letters' subjects: a letter goes to `<subjectPrefix>.<policy>`
   * (the policy name made a valid subject token, see `subjectFor`).
   * @default 'dlq'
   */
  subjectPrefix?: string;
  /**
   * How long `publish` may take, connecting included, before it rejects. It also rejects at
   * once while the connection is down (reconnecting), so that no letter waits in the
   * client's buffer.
   * @default 500
   */
  publishTimeout?: number;
  /** How long one attempt to open the queue's own connection may take. @default 2000 */
  connectTimeout?: number;
  /** Stream limit when the queue creates the stream: the most letters kept (oldest dropped). */
  maxMessages?: number;
  /** Stream limit when the queue creates the stream: how long a letter is kept. */
  maxAge?: number;
  /**
   * How long `close()` waits for the handler calls of running consumers (and a running
   * drain) to settle before it closes the connection anyway. Their letters are neither
   * acknowledged nor deleted: JetStream delivers them again after the consumer's ack wait.
   * @default 5000
   */
  closeTimeout?: number;
}

/** Called with a message that is not a dead letter, or with a letter's last handler error. @publicApi */
export type NatsDeadLetterErrorHandler = (error: unknown, raw: string) => void;

/** Options of `NatsDeadLetterQueue.consume()`. Durations in milliseconds. @publicApi */
export interface NatsConsumeOptions {
  /**
   * Name of the durable pull consumer. Workers that use the same name share the letters;
   * the consumer is created when missing and kept when the subscription stops.
   * @default 'resilience-dlq'
   */
  durable?: string;
  /**
   * Receives a message that does not hold a dead letter (`MalformedDeadLetterError`; the
   * message is then deleted from the stream), and the handler's error for a letter that
   * failed its `maxDeliver`-th delivery (the letter stays in the stream, see `consume`).
   * @default logs with Nest's Logger under the context 'Resilience'
   */
  onError?: NatsDeadLetterErrorHandler;
  /** How long JetStream waits before it delivers a letter again after its handler failed. @default 1000 */
  nakDelay?: number;
  /** Deliveries of one letter before the consumer gives up on it. @default 5 */
  maxDeliver?: number;
  /**
   * Ack wait of a consumer the queue creates: a letter not settled within it is delivered
   * again (the queue extends it while its handler runs). An existing consumer keeps its own.
   * @default 30000
   */
  ackWait?: number;
}

/** Options of `NatsDeadLetterQueue.drain()`. @publicApi */
export interface NatsDrainOptions {
  /**
   * Receives each message that does not hold a dead letter (`MalformedDeadLetterError`);
   * the message is deleted from the stream and the drain goes on.
   * @default logs with Nest's Logger under the context 'Resilience'
   */
  onError?: NatsDeadLetterErrorHandler;
}

const OWNER = 'NatsDeadLetterQueue';
const OPTION_KEYS = [
  'servers',
  'connectionOptions',
  'connection',
  'stream',
  'subjectPrefix',
  'publishTimeout',
  'connectTimeout',
  'maxMessages',
  'maxAge',
  'closeTimeout',
];
const CONSUME_KEYS = ['durable', 'onError', 'nakDelay', 'maxDeliver', 'ackWait'];
const DRAIN_KEYS = ['onError'];
const DEFAULTS = {
  servers: 'nats://127.0.0.1:4222',
  stream: 'RESILIENCE_DLQ',
  subjectPrefix: 'dlq',
  publishTimeout: 500,
  connectTimeout: 2_000,
  durable: 'resilience-dlq',
  nakDelay: 1_000,
  maxDeliver: 5,
  ackWait: 30_000,
  closeTimeout: 5_000,
};
/** Timeout of the JetStream management requests (stream and consumer set-up, drain reads). */
const API_TIMEOUT = 5_000;
/** Letters one consumer pulls ahead of its handler. */
const CONSUME_BATCH = 16;
/** How long `close()` lets the queue's own connection flush before closing it. */
const CLOSE_GRACE = 2_000;
/** JetStream API error codes. */
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NOT_FOUND = 10014;
const NO_MESSAGE_FOUND = 10037;

/** One usable connection and what the queue tracks about it. */
interface Link {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The queue opened it, so the queue closes it. */
  owned: boolean;
  /** False between a 'disconnect' and the next 'reconnect' status. */
  connected: boolean;
  /** The stream was found or created on this connection (reset when it disappears). */
  streamReady?: Promise<void>;
  stopWatching(): void;
}

/**
 * Dead letters in a NATS JetStream stream (API §8; sub-path `nestjs-fault-tolerance/nats`,
 * peer dependency `nats`).
 *
 * - `publish` sends each letter to `<subjectPrefix>.<policy>` with JetStream de-duplication
 *   on `letter.id` (`Nats-Msg-Id`) and the headers `x-error` (`Name: message`) and
 *   `x-original-target`, and resolves on the stream's acknowledgement. It rejects at once
 *   while the connection is down and after `publishTimeout` at the latest, so the module
 *   buffers the letter and publishes it again later. A letter sent as the connection
 *   dropped may still reach the stream after the reconnection, and a timed-out one may
 *   have been stored: the copy the module publishes again within the stream's duplicate
 *   window (2 minutes by default) is dropped by JetStream, so the letter is kept once.
 * - The stream keeps exactly the letters not handled yet: `drain()` and `consume()` delete
 *   each letter from the stream once its handler resolved. With limits retention an
 *   acknowledged message would stay in the stream and be handed out again by the next
 *   drain or by any new consumer; deleting it makes the stream the queue's single truth,
 *   readable by every tool (`nats stream view`), and drains need no consumer state.
 * - Delivery to handlers is at least once: a handler that resolved may run again for the
 *   same letter when its deletion did not reach the server.
 * @publicApi
 */
export class NatsDeadLetterQueue implements DrainableDeadLetterQueue, ConsumableDeadLetterQueue {
  readonly stream: string;
  readonly subjectPrefix: string;
  private readonly publishTimeout: number;
  private readonly connectTimeout: number;
  private readonly servers: string | string[];
  private readonly connectionOptions: Omit<ConnectionOptions, 'servers'>;
  private readonly userConnection?: NatsConnection;
  private readonly maxMessages?: number;
  private readonly maxAge?: number;
  private readonly closeTimeout: number;
  private link?: Link;
  private linking?: Promise<Link>;
  private readonly subscriptions = new RunningSubscriptions<DeadLetterSubscription>();
  private readonly drains = new DrainSequence();
  private closed = false;
  private closing?: Promise<void>;

  constructor(options: NatsDeadLetterQueueOptions = {}) {
    const o = checkOptions(options);
    this.stream = o.stream ?? DEFAULTS.stream;
    this.subjectPrefix = o.subjectPrefix ?? DEFAULTS.subjectPrefix;
    this.publishTimeout = o.publishTimeout ?? DEFAULTS.publishTimeout;
    this.connectTimeout = o.connectTimeout ?? DEFAULTS.connectTimeout;
    this.servers = o.servers ?? DEFAULTS.servers;
    this.connectionOptions = o.connectionOptions ?? {};
    this.userConnection = o.connection;
    this.maxMessages = o.maxMessages;
    this.maxAge = o.maxAge;
    this.closeTimeout = o.closeTimeout ?? DEFAULTS.closeTimeout;
  }

  /**
   * The subject of a policy's letters: `<subjectPrefix>.<token>`. The token keeps ASCII
   * letters, digits, `_` and `-`, and writes every other character as `%XX` per UTF-8 byte
   * (`Payments.charge` → `dlq.Payments%2Echarge`), so any name is a valid, distinct subject;
   * the letter itself keeps the real name. Subscribe to one policy's letters with it.
   */
  subjectFor(policy: string): string {
    return `${this.subjectPrefix}.${subjectToken(policy)}`;
  }

  async publish(letter: DeadLetter): Promise<void> {
    const started = Date.now();
    const link = await withTimeout(
      this.ready(),
      this.publishTimeout,
      () => `${OWNER}: NATS was not ready within publishTimeout (${this.publishTimeout}ms).`,
    );
    if (!link.connected) throw this.notConnected();
    const subject = this.subjectFor(letter.policy);
    const h = headers();
    h.set('x-error', headerValue(`${letter.error.name}: ${letter.error.message}`));
    h.set('x-original-target', headerValue(letter.target));
    const timeout = Math.max(1, this.publishTimeout - (Date.now() - started));
    try {
      await link.js.publish(subject, encodeDeadLetter(letter), {
        msgID: letter.id,
        headers: h,
        timeout,
      });
    } catch (error) {
      // no responders: the stream is gone; look for it (and create it) again next time
      if (natsCode(error) === '503') link.streamReady = undefined;
      throw new Error(
        `${OWNER}: JetStream did not accept dead letter ${letter.id} on "${subject}": ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Hands the letters in the stream now to `handler`, oldest first, one at a time, and
   * deletes each one from the stream when its handler call resolves. When a handler call
   * throws or rejects, the drain stops and rejects with that error: that letter and every
   * later one stay in the stream. Letters published while the drain runs wait for the next
   * one; a second `drain()` starts once the first ends. A message that is not a dead letter
   * goes to `onError` (it never reaches the handler) and is deleted.
   * @returns the number of letters handled.
   */
  drain(handler: DeadLetterHandler, options: NatsDrainOptions = {}): Promise<number> {
    return this.drains.start(
      handler,
      () => {
        checkKeys(`${OWNER}.drain`, options, DRAIN_KEYS);
        checkValue(`${OWNER}.drain`, 'onError', options.onError, checks.fn);
        return options.onError;
      },
      (onError) => this.drainNow(handler, onError),
    );
  }

  /**
   * Hands letters to `handler` as they arrive, through a durable pull consumer, until the
   * subscription stops. A letter is deleted from the stream and acknowledged when its
   * handler resolves. When the handler fails, the letter is delivered again after
   * `nakDelay`; after `maxDeliver` deliveries it is terminated: this consumer no longer hands
   * it out, it stays in the stream (`drain()` or a new consumer gets it) and the error goes to
   * `onError`. A message that is not a dead letter goes to `onError`, is terminated and
   * deleted. `stop()` waits for the handler call in flight and keeps the durable consumer.
   */
  async consume(
    handler: DeadLetterHandler,
    options: NatsConsumeOptions = {},
  ): Promise<DeadLetterSubscription> {
    checkHandler(handler, 'consume(handler)');
    const o = checkConsumeOptions(options);
    const link = await this.ready();
    const ackWait = await this.ensureConsumer(link.jsm, o.durable, o.ackWait);
    const consumer = await link.js.consumers.get(this.stream, o.durable);
    const messages = await consumer.consume({ max_messages: CONSUME_BATCH });
    let stopping = false;
    const loop = (async () => {
      try {
        for await (const msg of messages) {
          // pulled ahead but not handed over: release it at once
          if (stopping) msg.nak();
          else await this.handleConsumed(link, msg, handler, o, ackWait);
        }
      } catch (error) {
        if (!stopping) {
          adapterLogger.error(
            `${OWNER}: consumer "${o.durable}" of stream "${this.stream}" stopped: ${messageOf(error)}`,
          );
        }
      }
    })();
    const subscription: DeadLetterSubscription = {
      stop: async () => {
        if (!stopping) {
          stopping = true;
          this.subscriptions.delete(subscription);
          messages.stop();
        }
        await loop;
      },
    };
    this.subscriptions.add(subscription);
    if (this.closed) await subscription.stop();
    return subscription;
  }

  /**
   * Stops the subscriptions and a drain in progress, waiting up to `closeTimeout` for their
   * handler calls in flight, then drains and closes the connection when the queue opened it.
   * A connection given as `connection` stays open. Later calls reject.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const inTime = await Promise.all([
      this.subscriptions.stopAll(this.closeTimeout),
      resolvesWithin(this.drains.idle(), this.closeTimeout),
    ]);
    if (inTime.includes(false)) {
      adapterLogger.warn(
        `${OWNER}: handler calls still running after closeTimeout (${this.closeTimeout}ms); ` +
          'closing anyway. Their letters were not acknowledged and will be delivered again.',
      );
    }
    await this.linking?.catch(noop);
    const link = this.link;
    this.link = undefined;
    if (link) await release(link);
  }

  private async drainNow(handler: DeadLetterHandler, onError?: NatsDeadLetterErrorHandler) {
    const link = await this.ready();
    const { state } = await link.jsm.streams.info(this.stream);
    const last = state.last_seq;
    const filter = `${this.subjectPrefix}.>`;
    let seq = Math.max(1, state.first_seq);
    let drained = 0;
    while (seq <= last) {
      if (this.closed) throw new Error(`${OWNER}: the drain stopped because the queue was closed.`);
      const query = { seq, next_by_subj: filter };
      let stored;
      try {
        stored = await link.jsm.streams.getMessage(this.stream, query);
      } catch (error) {
        if (apiErrorCode(error) === NO_MESSAGE_FOUND) break;
        throw error;
      }
      if (stored.seq > last) break;
      seq = stored.seq + 1;
      const raw = stored.string();
      let letter: DeadLetter;
      try {
        letter = decodeDeadLetter(raw);
      } catch (error) {
        await this.deleteMessage(link, stored.seq);
        this.report(onError, error, raw, () => this.malformedMessage(error, stored.seq));
        continue;
      }
      await handler(letter);
      await this.deleteMessage(link, stored.seq);
      drained++;
    }
    return drained;
  }

  private async handleConsumed(
    link: Link,
    msg: JsMsg,
    handler: DeadLetterHandler,
    o: ResolvedConsumeOptions,
    ackWait: number,
  ): Promise<void> {
    const raw = msg.string();
    let letter: DeadLetter;
    try {
      letter = decodeDeadLetter(raw);
    } catch (error) {
      msg.term();
      await this.deleteMessage(link, msg.seq).catch((e: unknown) => this.cannotDelete(msg.seq, e));
      this.report(o.onError, error, raw, () => this.malformedMessage(error, msg.seq));
      return;
    }
    // tell JetStream the letter is still being worked on, so it is not delivered elsewhere;
    // a handler that outlives the connection (close() after closeTimeout) keeps no timer alive
    const working = setInterval(
      () => (link.nc.isClosed() ? clearInterval(working) : msg.working()),
      Math.max(100, Math.floor(ackWait / 2)),
    );
    working.unref();
    try {
      await handler(letter);
    } catch (error) {
      const deliveries = msg.info.deliveryCount;
      if (deliveries >= o.maxDeliver) {
        msg.term();
        this.report(
          o.onError,
          error,
          raw,
          () =>
            `${OWNER}: dead letter ${letter.id} (${letter.target}) failed ${deliveries} deliveries; ` +
            `consumer "${o.durable}" gives up on it and it stays in stream "${this.stream}": ${messageOf(error)}`,
        );
      } else {
        msg.nak(o.nakDelay);
      }
      return;
    } finally {
      clearInterval(working);
    }
    await this.deleteMessage(link, msg.seq).catch((e: unknown) => this.cannotDelete(msg.seq, e));
    msg.ack();
  }

  /** Deletes a handled message (a message already gone counts as deleted). */
  private async deleteMessage(link: Link, seq: number): Promise<void> {
    try {
      await link.jsm.streams.deleteMessage(this.stream, seq, false);
    } catch (error) {
      if (apiErrorCode(error) === NO_MESSAGE_FOUND) return;
      throw new Error(
        `${OWNER}: cannot delete message ${seq} from stream "${this.stream}": ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  private cannotDelete(seq: number, error: unknown): void {
    adapterLogger.warn(
      `${messageOf(error)} The letter was handled but stays in the stream; a drain may hand it out again (message ${seq}).`,
    );
  }

  private malformedMessage(error: unknown, seq: number): string {
    return `${OWNER}: deleted message ${seq} of stream "${this.stream}", which is not a dead letter: ${messageOf(error)}`;
  }

  private report(
    onError: NatsDeadLetterErrorHandler | undefined,
    error: unknown,
    raw: string,
    describe: () => string,
  ): void {
    callOnError(onError, [error, cut(raw, 1000)], (failed) =>
      adapterLogger.error(
        failed ? `${describe()} (onError threw: ${messageOf(failed.thrown)})` : describe(),
      ),
    );
  }

  /** The connection, with the stream found or created. */
  private async ready(): Promise<Link> {
    const link = await this.getLink();
    if (!link.connected) throw this.notConnected();
    if (!link.streamReady) {
      const ensuring = this.ensureStream(link.jsm);
      link.streamReady = ensuring;
      ensuring.catch(() => {
        if (link.streamReady === ensuring) link.streamReady = undefined;
      });
    }
    await link.streamReady;
    return link;
  }

  private getLink(): Promise<Link> {
    if (this.closed) return Promise.reject(new Error(`${OWNER} is closed.`));
    const link = this.link;
    if (link && !link.nc.isClosed()) return Promise.resolve(link);
    if (link) {
      // a connection that ended for good (not closed by the queue): open a new one
      this.link = undefined;
      link.stopWatching();
    }
    if (!this.linking) {
      const linking = this.openLink().finally(() => {
        if (this.linking === linking) this.linking = undefined;
      });
      this.linking = linking;
      // awaited by the caller; a caller that gave up (publishTimeout) must not leave it unhandled
      linking.catch(noop);
    }
    return this.linking;
  }

  private async openLink(): Promise<Link> {
    let nc: NatsConnection;
    const owned = this.userConnection === undefined;
    if (this.userConnection) {
      nc = this.userConnection;
      if (nc.isClosed()) {
        throw new Error(`${OWNER}: the NATS connection given as "connection" is closed.`);
      }
    } else {
      try {
        nc = await connect({
          name: 'nestjs-fault-tolerance dead letters',
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
          timeout: this.connectTimeout,
          ...this.connectionOptions,
          servers: this.servers,
          waitOnFirstConnect: false,
        });
      } catch (error) {
        throw new Error(
          `${OWNER}: cannot connect to NATS at ${[this.servers].flat().join(', ')}: ${messageOf(error)}`,
          { cause: error },
        );
      }
    }
    const jsm = await nc.jetstreamManager({ timeout: API_TIMEOUT, checkAPI: false });
    const status = nc.status() as ReturnType<NatsConnection['status']> & { stop?(): void };
    const link: Link = {
      nc,
      js: nc.jetstream({ timeout: API_TIMEOUT }),
      jsm,
      owned,
      connected: true,
      stopWatching: () => status.stop?.(),
    };
    void (async () => {
      for await (const s of status) {
        if (s.type === 'disconnect') link.connected = false;
        else if (s.type === 'reconnect') link.connected = true;
      }
    })().catch(noop);
    nc.closed().then(() => {
      link.connected = false;
    }, noop);
    if (this.closed) {
      await release(link);
      throw new Error(`${OWNER} is closed.`);
    }
    this.link = link;
    return link;
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const filter = `${this.subjectPrefix}.>`;
    for (let attempt = 0; ; attempt++) {
      let info: StreamInfo | undefined;
      try {
        info = await jsm.streams.info(this.stream);
      } catch (error) {
        if (apiErrorCode(error) !== STREAM_NOT_FOUND) throw this.streamError('read', error);
      }
      if (info) {
        const subjects = info.config.subjects ?? [];
        if (!subjects.some((s) => subjectCovers(s, filter))) {
          throw new ResilienceConfigError(
            `${OWNER}: stream "${this.stream}" exists with subjects [${subjects.join(', ')}], which do not ` +
              `cover "${filter}". Choose another "stream" or "subjectPrefix", or add "${filter}" to the stream's subjects.`,
            OWNER,
            'stream',
            this.stream,
          );
        }
        return;
      }
      const config: Partial<StreamConfig> = {
        name: this.stream,
        subjects: [filter],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_msgs: this.maxMessages ?? -1,
        max_age: this.maxAge === undefined ? 0 : nanos(this.maxAge),
      };
      try {
        await jsm.streams.add(config);
        return;
      } catch (error) {
        // created by another instance meanwhile: check the one that exists
        if (attempt === 0 && apiErrorCode(error) === STREAM_NAME_IN_USE) continue;
        throw this.streamError('create', error);
      }
    }
  }

  /** Finds or creates the durable consumer; returns its ack wait in ms. */
  private async ensureConsumer(
    jsm: JetStreamManager,
    durable: string,
    ackWait: number,
  ): Promise<number> {
    const filter = `${this.subjectPrefix}.>`;
    try {
      const { config } = await jsm.consumers.info(this.stream, durable);
      const filters = [config.filter_subject, ...(config.filter_subjects ?? [])].filter(Boolean);
      if (
        config.ack_policy !== AckPolicy.Explicit ||
        !filters.every((f) => subjectCovers(filter, f!))
      ) {
        throw new ResilienceConfigError(
          `${OWNER}: consumer "${durable}" of stream "${this.stream}" exists with ack policy ` +
            `"${config.ack_policy}" and filter [${filters.join(', ')}]; expected explicit acks and a filter ` +
            `within "${filter}". Choose another "durable".`,
          `${OWNER}.consume`,
          'durable',
          durable,
        );
      }
      return config.ack_wait ? Math.round(config.ack_wait / 1e6) : ackWait;
    } catch (error) {
      if (apiErrorCode(error) !== CONSUMER_NOT_FOUND) throw error;
    }
    await jsm.consumers.add(this.stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filter,
      ack_wait: nanos(ackWait),
      max_deliver: -1,
    });
    return ackWait;
  }

  private streamError(action: 'read' | 'create', error: unknown): Error {
    const hint =
      natsCode(error) === '503'
        ? ' (no JetStream answered: is JetStream enabled on the server, e.g. nats-server -js?)'
        : '';
    return new Error(
      `${OWNER}: cannot ${action} stream "${this.stream}": ${messageOf(error)}${hint}`,
      { cause: error },
    );
  }

  private notConnected(): Error {
    return new Error(
      `${OWNER}: not connected to NATS (the client is reconnecting); the letter was not sent.`,
    );
  }
}

type ResolvedConsumeOptions = Required<Omit<NatsConsumeOptions, 'onError'>> &
  Pick<NatsConsumeOptions, 'onError'>;

async function release(link: Link): Promise<void> {
  link.stopWatching();
  if (!link.owned || link.nc.isClosed()) return;
  if (link.connected) {
    await resolvesWithin(link.nc.drain(), CLOSE_GRACE);
  }
  if (!link.nc.isClosed()) await link.nc.close().catch(noop);
}

/** A header value: one line, at most 1024 characters. */
function headerValue(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length > 1024 ? `${line.slice(0, 1023)}…` : line;
}

function natsCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return code === undefined ? undefined : String(code);
}

function apiErrorCode(error: unknown): number | undefined {
  return (error as { api_error?: { err_code?: number } } | null)?.api_error?.err_code;
}

/** Stream and consumer names: no whitespace, `.`, `*`, `>`, `/` or `\`. */
const nameCheck = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= 255 && !/[\s.*>/\\]/.test(v)
    ? undefined
    : 'a NATS stream or consumer name: 1 to 255 characters, without whitespace, ".", "*", ">", "/" or "\\"';

function checkOptions(options: NatsDeadLetterQueueOptions): NatsDeadLetterQueueOptions {
  checkKeys(OWNER, options, OPTION_KEYS);
  const o = options;
  checkValue(OWNER, 'servers', o.servers, (v) =>
    (typeof v === 'string' && v.length > 0) ||
    (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s.length > 0))
      ? undefined
      : 'a server URL or a non-empty array of them',
  );
  checkValue(OWNER, 'connection', o.connection, (v) => {
    const c = v as Partial<NatsConnection> | null;
    return typeof c === 'object' &&
      c !== null &&
      typeof c.jetstream === 'function' &&
      typeof c.jetstreamManager === 'function' &&
      typeof c.status === 'function' &&
      typeof c.isClosed === 'function'
      ? undefined
      : 'a NatsConnection from the nats package';
  });
  if (o.connection !== undefined && o.servers !== undefined) {
    invalid(OWNER, 'servers', o.servers, 'no value when a connection is given');
  }
  if (o.connection !== undefined && o.connectionOptions !== undefined) {
    invalid(OWNER, 'connectionOptions', o.connectionOptions, 'no value when a connection is given');
  }
  checkValue(OWNER, 'connectionOptions', o.connectionOptions, (v) =>
    !isPlainObject(v)
      ? 'an object of nats ConnectionOptions'
      : 'servers' in v
        ? 'nats ConnectionOptions without "servers" (use the "servers" option)'
        : undefined,
  );
  checkValue(OWNER, 'stream', o.stream, nameCheck);
  checkValue(OWNER, 'subjectPrefix', o.subjectPrefix, (v) =>
    typeof v === 'string' ? subjectProblem(v) : 'a NATS subject such as "dlq" or "app.dlq"',
  );
  checkValue(OWNER, 'publishTimeout', o.publishTimeout, checks.positiveDuration);
  checkValue(OWNER, 'connectTimeout', o.connectTimeout, checks.positiveDuration);
  checkValue(OWNER, 'maxMessages', o.maxMessages, checks.positiveInt);
  checkValue(OWNER, 'maxAge', o.maxAge, checks.positiveDuration);
  checkValue(OWNER, 'closeTimeout', o.closeTimeout, checks.duration);
  return o;
}

function checkConsumeOptions(options: NatsConsumeOptions): ResolvedConsumeOptions {
  const owner = `${OWNER}.consume`;
  checkKeys(owner, options, CONSUME_KEYS);
  checkValue(owner, 'durable', options.durable, nameCheck);
  checkValue(owner, 'onError', options.onError, checks.fn);
  checkValue(owner, 'nakDelay', options.nakDelay, checks.duration);
  checkValue(owner, 'maxDeliver', options.maxDeliver, checks.positiveInt);
  checkValue(owner, 'ackWait', options.ackWait, checks.positiveDuration);
  return {
    durable: options.durable ?? DEFAULTS.durable,
    onError: options.onError,
    nakDelay: options.nakDelay ?? DEFAULTS.nakDelay,
    maxDeliver: options.maxDeliver ?? DEFAULTS.maxDeliver,
    ackWait: options.ackWait ?? DEFAULTS.ackWait,
  };
}
