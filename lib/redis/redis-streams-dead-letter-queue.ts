import Redis, { RedisOptions } from 'ioredis';
import { checks, invalid, Schema, validateOptions } from '../common/validate';
import {
  adapterLogger as logger,
  callOnError,
  checkHandler,
  DrainSequence,
  messageOf,
  Naps,
  noop,
  resolvesWithin,
  RunningSubscriptions,
  withTimeout,
} from '../dead-letter/adapter-support';
import {
  decodeDeadLetter,
  encodeDeadLetter,
  MalformedDeadLetterError,
} from '../dead-letter/dead-letter.codec';
import type {
  ConsumableDeadLetterQueue,
  DeadLetter,
  DeadLetterHandler,
  DeadLetterSubscription,
  DrainableDeadLetterQueue,
} from '../dead-letter/dead-letter.interface';
import { failFastSettings, redisClientFor } from './redis-client';

/** Options of `RedisStreamsDeadLetterQueue`. Every duration is in milliseconds. @publicApi */
export interface RedisStreamsDeadLetterQueueOptions {
  /**
   * An ioredis client to send commands with. The queue never closes it (it belongs to the
   * caller); each running `consume()` opens one extra connection of its own
   * (`client.duplicate()`) for its blocking reads and closes it when stopped. Commands are
   * only sent while the client is connected, so none waits in its offline queue.
   */
  client?: Redis;
  /**
   * Where to connect when no `client` is given: a `redis://` URL or ioredis options. The
   * queue connects on first use, reconnects by itself after an outage, and closes its
   * connections in `close()`.
   * @default 'redis://127.0.0.1:6379'
   */
  connection?: string | RedisOptions;
  /**
   * Key prefix: letters go to the stream `<prefix>:dlq`.
   * @default 'resilience'
   */
  prefix?: string;
  /**
   * Cap of the stream (`XADD ... MAXLEN ~ maxLength`): Redis trims the oldest entries in
   * whole nodes, so the stream may hold somewhat more than this, never much less.
   * @default 100000
   */
  maxLength?: number;
  /**
   * How long one command may take, waiting for the connection included, before it fails.
   * A `publish` while Redis is unreachable rejects after at most this long.
   * @default 500
   */
  commandTimeout?: number;
  /**
   * How long `close()` waits for the handler calls of running consumers to settle before it
   * closes the connections anyway. Their letters stay pending and are reclaimed later.
   * @default 5000
   */
  closeTimeout?: number;
}

/** One entry of the stream, as read from Redis. @publicApi */
export interface RedisStreamEntry {
  /** The stream entry id (`<ms>-<seq>`). */
  id: string;
  /** Its fields: `letter` (the JSON), `error`, `policy`, `target`, `id`. */
  fields: Record<string, string>;
}

/**
 * Told about what a consumer or a drain could not hand to its handler: an entry that holds
 * no valid letter (`MalformedDeadLetterError`), a letter given up after `maxDeliveries`
 * (`RedisStreamsDeliveryLimitError`) — both with the entry — and, for consumers, a lost
 * connection to Redis (once per outage, without an entry).
 * @publicApi
 */
export type RedisStreamsErrorHandler = (error: Error, entry?: RedisStreamEntry) => void;

/** Options of `RedisStreamsDeadLetterQueue.consume()`. Durations in ms. @publicApi */
export interface RedisStreamsConsumeOptions {
  /** Consumer group: the consumers of one group share the letters (each goes to one). */
  group: string;
  /** This consumer's name in the group; keep it stable across restarts of one worker. */
  consumer: string;
  /** Entries read (and reclaimed) per command. @default 10 */
  batchSize?: number;
  /** How long one blocking read waits for new letters. @default 5000 */
  blockMs?: number;
  /**
   * A letter whose handler failed, or that a consumer took and never acknowledged (it
   * crashed or was stopped mid-batch), is handed out again (`XAUTOCLAIM`, to this or any
   * consumer of the group) once it has been pending this long. Checked every
   * `claimIdleMs / 2`, at least every 5 s. Keep it longer than a batch takes to handle.
   * @default 30000
   */
  claimIdleMs?: number;
  /**
   * The most times a letter is handed to a handler. A letter whose handler failed that many
   * times is acknowledged (it stays in the stream, out of the group's pending list) and
   * reported to `onError` with a `RedisStreamsDeliveryLimitError`.
   * @default unlimited
   */
  maxDeliveries?: number;
  /**
   * See `RedisStreamsErrorHandler`.
   * @default logs with Nest's `Logger` under the context 'Resilience'
   */
  onError?: RedisStreamsErrorHandler;
}

/** Options of `RedisStreamsDeadLetterQueue.drain()`. @publicApi */
export interface RedisStreamsDrainOptions {
  /** Entries read per `XRANGE`. @default 100 */
  batchSize?: number;
  /**
   * Told about each entry that holds no valid letter (which the drain deletes).
   * @default logs with Nest's `Logger` under the context 'Resilience'
   */
  onError?: RedisStreamsErrorHandler;
}

/**
 * A letter that consumers kept failing on was given up (`maxDeliveries`): acknowledged in
 * the group, still in the stream. @publicApi
 */
export class RedisStreamsDeliveryLimitError extends Error {
  override readonly name = 'RedisStreamsDeliveryLimitError';
  constructor(
    readonly letter: DeadLetter,
    /** Handler calls the letter had (the consumer's `maxDeliveries`). */
    readonly deliveries: number,
    readonly group: string,
    /** The stream entry id. */
    readonly entryId: string,
  ) {
    super(
      `Dead letter ${letter.id} (${letter.target}) was not handled after ${deliveries} ` +
        `deliveries (maxDeliveries); it was acknowledged in group "${group}" and stays in ` +
        `the stream as entry ${entryId}.`,
    );
  }
}

const OWNER = 'RedisStreamsDeadLetterQueue';
const DEFAULTS = {
  connection: 'redis://127.0.0.1:6379',
  prefix: 'resilience',
  maxLength: 100_000,
  commandTimeout: 500,
  closeTimeout: 5_000,
  batchSize: 10,
  blockMs: 5_000,
  claimIdleMs: 30_000,
  drainBatchSize: 100,
};
/** Longest wait between two reads of a consumer that lost Redis. */
const MAX_BACKOFF_MS = 1_000;

/**
 * Dead letters in a Redis stream (API §8), through ioredis.
 *
 * Layout: each letter is one entry of the stream `<prefix>:dlq` (`XADD ... MAXLEN ~
 * maxLength`), with the fields `letter` (the letter as JSON), `error` (`Name: message`),
 * `policy`, `target` and `id`, so that `XRANGE` in `redis-cli` shows what failed.
 *
 * - `publish` resolves once Redis answered the `XADD`. While Redis is unreachable it
 *   rejects within `commandTimeout` (nothing waits in an offline queue); the connection is
 *   re-established in the background, so the module's buffered letters get through later.
 *   An `XADD` that timed out may still have been applied: the module then publishes the
 *   letter again, so the stream can hold it twice (same `id` field). A letter Redis
 *   answered for is as durable as Redis' persistence makes it (AOF survives a crash).
 * - `consume` reads through a consumer group: letters are acknowledged when the handler
 *   resolves, failed or abandoned ones come back after `claimIdleMs` (at least once).
 * - `drain` reads the stream itself, oldest first, and DELETES each entry (`XDEL`) once its
 *   handler resolved: the one-shot replay of what is stored now.
 *
 * Needs Redis 6.2 or later (`XAUTOCLAIM`, exclusive `XRANGE` bounds).
 * @publicApi
 */
export class RedisStreamsDeadLetterQueue
  implements DrainableDeadLetterQueue, ConsumableDeadLetterQueue
{
  /** The stream's key, `<prefix>:dlq`. */
  readonly key: string;
  private readonly maxLength: number;
  private readonly commandTimeout: number;
  private readonly closeTimeout: number;
  private readonly ownsClient: boolean;
  private readonly client: Redis;
  private readonly consumers = new RunningSubscriptions<RedisStreamsConsumer>();
  /** The last connection error of each connection, to say why a command failed. */
  private readonly lastErrors = new WeakMap<Redis, Error>();
  private readonly readyWaits = new Map<Redis, { promise: Promise<void>; cancel(): void }>();
  private readonly onClientError = (error: Error) => this.lastErrors.set(this.client, error);
  private readonly drains = new DrainSequence();
  private closing?: Promise<void>;

  constructor(options: RedisStreamsDeadLetterQueueOptions = {}) {
    const o = checkOptions(options);
    this.key = `${o.prefix ?? DEFAULTS.prefix}:dlq`;
    this.maxLength = o.maxLength ?? DEFAULTS.maxLength;
    this.commandTimeout = o.commandTimeout ?? DEFAULTS.commandTimeout;
    this.closeTimeout = o.closeTimeout ?? DEFAULTS.closeTimeout;
    const { client, owned } = redisClientFor(o.client, o.connection ?? DEFAULTS.connection, () =>
      this.settings(),
    );
    this.client = client;
    this.ownsClient = owned;
    this.client.on('error', this.onClientError);
  }

  /** Appends the letter to the stream; resolves once Redis replied to the `XADD`. */
  async publish(letter: DeadLetter): Promise<void> {
    if (this.closing) throw new Error(`${OWNER}: publish() after close().`);
    const error = letter.error ?? { name: 'Error', message: '' };
    await this.command(
      this.client,
      `publish dead letter ${letter.id}`,
      'XADD',
      this.key,
      'MAXLEN',
      '~',
      this.maxLength,
      '*',
      'letter',
      encodeDeadLetter(letter),
      'error',
      `${error.name}: ${error.message}`,
      'policy',
      letter.policy,
      'target',
      letter.target,
      'id',
      letter.id,
    );
  }

  /**
   * Hands the letters stored now to `handler`, oldest first, one at a time, and deletes
   * each entry from the stream (`XDEL`) once its handler call resolved. When the handler
   * throws or rejects, the drain stops and rejects with that error: that letter and the
   * later ones stay in the stream. Letters added while the drain runs wait for the next
   * one. An entry that holds no valid letter is reported to `onError` and deleted. Drains of
   * one queue object run one after another; drains from several processes at once may hand
   * a letter out twice (each removes it once handled).
   * @returns the number of letters handled.
   */
  drain(handler: DeadLetterHandler, options: RedisStreamsDrainOptions = {}): Promise<number> {
    return this.drains.start(
      handler,
      (): Required<RedisStreamsDrainOptions> => {
        if (this.closing) throw new Error(`${OWNER}: drain() after close().`);
        validateOptions(`${OWNER}.drain`, options, DRAIN_SCHEMA);
        return {
          batchSize: options.batchSize ?? DEFAULTS.drainBatchSize,
          onError: options.onError ?? logEntryError,
        };
      },
      (o) => this.drainNow(handler, o),
    );
  }

  /**
   * Starts a consumer in a consumer group (created from the start of the stream if it does
   * not exist): new letters are read with a blocking `XREADGROUP` on a connection of the
   * consumer's own and handed to `handler` one at a time. A letter is acknowledged (`XACK`)
   * when the handler resolves; after a failure it stays pending and is handed out again once
   * it has been pending `claimIdleMs` (to whichever consumer of the group claims it first),
   * until `maxDeliveries`. Entries stay in the stream after acknowledgement (the stream is
   * capped by `maxLength`; `drain` deletes).
   *
   * Resolves once the group exists and the consumer runs; rejects when Redis cannot be
   * reached. A running consumer rides out Redis outages (reported to `onError`).
   */
  async consume(
    handler: DeadLetterHandler,
    options: RedisStreamsConsumeOptions,
  ): Promise<DeadLetterSubscription> {
    checkHandler(handler, 'consume(handler, options)');
    const o = checkConsumeOptions(options);
    if (this.closing) throw new Error(`${OWNER}: consume() after close().`);
    await this.createGroup(o.group);
    if (this.closing) throw new Error(`${OWNER}: consume() after close().`);
    const blocking = this.client.duplicate({
      ...this.settings(),
      // a blocking read lasts longer than any command: bounded by the consumer instead
      commandTimeout: undefined,
    });
    blocking.on('error', (error: Error) => this.lastErrors.set(blocking, error));
    const consumer = new RedisStreamsConsumer(this, blocking, handler, o, () =>
      this.consumers.delete(consumer),
    );
    this.consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  /**
   * Stops every running consumer (waiting up to `closeTimeout` for their handler calls),
   * then closes the connections the queue opened. A client passed in stays open. Later
   * calls reject, with a client passed in too.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  // ---- internals shared with the consumers ---------------------------------------------

  /** @internal */
  get connection(): Redis {
    return this.client;
  }

  /** @internal */
  get timeout(): number {
    return this.commandTimeout;
  }

  /**
   * Sends one command once `connection` is ready, all within `commandTimeout` (or `ms`).
   * Never hands a command to ioredis while disconnected, so nothing is queued offline.
   * @internal
   */
  async command<T = unknown>(
    connection: Redis,
    what: string,
    name: string,
    ...args: Array<string | number>
  ): Promise<T> {
    const deadline = Date.now() + this.commandTimeout;
    try {
      await this.whenReady(connection, this.commandTimeout);
      return (await within(
        connection.call(name, ...args),
        Math.max(1, deadline - Date.now()),
      )) as T;
    } catch (error) {
      throw this.failure(connection, what, error);
    }
  }

  /**
   * Resolves when `connection` is ready, rejects after `ms` or when it is closed for good.
   * @internal
   */
  whenReady(connection: Redis, ms: number): Promise<void> {
    if (connection.status === 'ready') return Promise.resolve();
    if (connection.status === 'end') {
      return Promise.reject(new Error('the connection to Redis is closed'));
    }
    if (connection.status === 'wait') connection.connect().catch(noop);
    let wait = this.readyWaits.get(connection);
    if (!wait) {
      // one pair of listeners per connection, however many callers wait
      let cancel = noop as () => void;
      const promise = new Promise<void>((resolve, reject) => {
        const done = (error?: Error) => {
          connection.off('ready', onReady);
          connection.off('end', onEnd);
          this.readyWaits.delete(connection);
          if (error) reject(error);
          else resolve();
        };
        const onReady = () => done();
        const onEnd = () => done(new Error('the connection to Redis is closed'));
        cancel = onEnd;
        connection.on('ready', onReady);
        connection.on('end', onEnd);
      });
      promise.catch(noop);
      wait = { promise, cancel };
      this.readyWaits.set(connection, wait);
    }
    return within(wait.promise, ms);
  }

  /** Creates the consumer group from the start of the stream; an existing one is fine. @internal */
  async createGroup(group: string): Promise<void> {
    try {
      await this.command(
        this.client,
        `create consumer group "${group}"`,
        'XGROUP',
        'CREATE',
        this.key,
        group,
        '0',
        'MKSTREAM',
      );
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /** An error saying which operation failed and why (the last connection error). @internal */
  failure(connection: Redis, what: string, error: unknown): Error {
    let reason = error instanceof Error ? error.message : String(error);
    // ioredis' words for "disconnected, and commands are not queued while disconnected"
    if (reason.startsWith("Stream isn't writeable")) reason = 'the connection to Redis is down';
    const last = this.lastErrors.get(connection);
    const detail =
      last && !reason.includes(last.message) ? `; last connection error: ${last.message}` : '';
    if (error instanceof TimedOut) {
      return new Error(
        `${OWNER}: could not ${what} within ${this.commandTimeout}ms (commandTimeout): ` +
          `Redis did not answer${detail}.`,
        { cause: last ?? error },
      );
    }
    return new Error(`${OWNER}: could not ${what}: ${reason}${detail}.`, { cause: error });
  }

  // ---- drain ---------------------------------------------------------------------------

  private async drainNow(
    handler: DeadLetterHandler,
    o: Required<RedisStreamsDrainOptions>,
  ): Promise<number> {
    const last = await this.command<Array<[string, string[]]>>(
      this.client,
      'read the stream',
      'XREVRANGE',
      this.key,
      '+',
      '-',
      'COUNT',
      1,
    );
    if (last.length === 0) return 0;
    const end = last[0][0];
    let start = '-';
    let drained = 0;
    for (;;) {
      const entries = await this.command<Array<[string, string[]]>>(
        this.client,
        'read the stream',
        'XRANGE',
        this.key,
        start,
        end,
        'COUNT',
        o.batchSize,
      );
      if (entries.length === 0) return drained;
      for (const [id, flat] of entries) {
        start = `(${id}`;
        const entry = toEntry(id, flat);
        let letter: DeadLetter;
        try {
          letter = decodeEntry(entry);
        } catch (error) {
          report(o.onError, error as Error, entry);
          await this.command(this.client, `delete entry ${id}`, 'XDEL', this.key, id);
          continue;
        }
        await handler(letter);
        await this.command(this.client, `delete entry ${id}`, 'XDEL', this.key, id);
        drained++;
      }
      if (start === `(${end}`) return drained;
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------

  private async closeNow(): Promise<void> {
    const inTime = await this.consumers.stopAll(this.closeTimeout);
    if (!inTime) {
      logger.warn(
        `${OWNER}: handler calls still running after closeTimeout (${this.closeTimeout}ms); ` +
          'closing anyway. Their letters are not acknowledged once the connection is closed: ' +
          'they stay pending in the consumer group and are handed out again after claimIdleMs.',
      );
    }
    for (const wait of [...this.readyWaits.values()]) wait.cancel();
    this.client.off('error', this.onClientError);
    if (!this.ownsClient) return;
    await quit(this.client, this.commandTimeout);
  }

  private settings(): RedisOptions {
    return failFastSettings(this.commandTimeout);
  }
}

/** One running `consume()`: a loop of claims and blocking reads. @internal */
class RedisStreamsConsumer implements DeadLetterSubscription {
  private stopping = false;
  private done: Promise<void> = Promise.resolve();
  private readonly naps = new Naps();
  private readonly claimEvery: number;

  constructor(
    private readonly queue: RedisStreamsDeadLetterQueue,
    private readonly blocking: Redis,
    private readonly handler: DeadLetterHandler,
    private readonly o: ResolvedConsumeOptions,
    private readonly onStopped: () => void,
  ) {
    this.claimEvery = Math.min(Math.max(o.claimIdleMs / 2, 10), 5_000);
  }

  start(): void {
    this.done = this.run()
      .catch((error: unknown) => report(this.o.onError, asError(error)))
      .finally(() => closed(this.blocking, this.queue.timeout, () => this.blocking.disconnect()))
      .finally(this.onStopped);
  }

  /**
   * Ends the loop at once (a blocking read is cut off) and waits for the handler in flight,
   * whose letter is then acknowledged. Letters read in the same batch but not handed over yet
   * stay pending and are handed out again after `claimIdleMs`.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.naps.wakeAll();
      this.blocking.disconnect();
    }
    return this.done;
  }

  private async run(): Promise<void> {
    let nextClaim = 0;
    let failures = 0;
    let outage = false;
    while (!this.stopping) {
      try {
        if (Date.now() >= nextClaim) {
          await this.claim();
          nextClaim = Date.now() + this.claimEvery;
        }
        if (this.stopping) break;
        const block = Math.max(1, Math.min(this.o.blockMs, nextClaim - Date.now()));
        const entries = await this.read(block);
        failures = 0;
        outage = false;
        for (const entry of entries) {
          if (this.stopping) break; // the rest stays pending: reclaimed after claimIdleMs
          await this.deliver(entry, 1);
        }
      } catch (error) {
        if (this.stopping) break;
        if (isNoGroup(error)) {
          // the group (or the whole stream) was deleted: start again from what is there
          await this.queue.createGroup(this.o.group).catch(noop);
        } else if (!outage) {
          outage = true;
          report(this.o.onError, asError(error));
        }
        await this.naps.sleep(Math.min(50 * 2 ** Math.min(failures++, 10), MAX_BACKOFF_MS));
      }
    }
  }

  private async read(block: number): Promise<RedisStreamEntry[]> {
    const q = this.queue;
    try {
      await q.whenReady(this.blocking, Math.max(q.timeout, block));
      const reply = (await within(
        this.blocking.call(
          'XREADGROUP',
          'GROUP',
          this.o.group,
          this.o.consumer,
          'COUNT',
          this.o.batchSize,
          'BLOCK',
          block,
          'STREAMS',
          q.key,
          '>',
        ),
        block + q.timeout,
      )) as Array<[string, Array<[string, string[]]>]> | null;
      if (!reply) return [];
      return reply[0][1].map(([id, flat]) => toEntry(id, flat));
    } catch (error) {
      // a read that never answered would leave its reply to a later one: start afresh
      if (error instanceof TimedOut && this.blocking.status === 'ready') {
        this.blocking.disconnect(true);
      }
      throw q.failure(this.blocking, `read the stream ${q.key}`, error);
    }
  }

  /** Hands out again the letters pending longer than claimIdleMs (any consumer's). */
  private async claim(): Promise<void> {
    const q = this.queue;
    let cursor = '0-0';
    do {
      const [next, claimed] = await q.command<[string, Array<[string, string[] | null] | null>]>(
        q.connection,
        `reclaim pending letters of group "${this.o.group}"`,
        'XAUTOCLAIM',
        q.key,
        this.o.group,
        this.o.consumer,
        this.o.claimIdleMs,
        cursor,
        'COUNT',
        this.o.batchSize,
      );
      cursor = next;
      const entries: RedisStreamEntry[] = [];
      for (const item of claimed) {
        if (!item) continue;
        // Redis 6.2 lists entries deleted while pending with no fields: drop them
        if (item[1] === null) await this.ack(item[0]);
        else entries.push(toEntry(item[0], item[1]));
      }
      const deliveries = await this.deliveries(entries);
      for (let i = 0; i < entries.length; i++) {
        if (this.stopping) return;
        await this.deliver(entries[i], deliveries[i]);
      }
    } while (cursor !== '0-0' && !this.stopping);
  }

  /** How many times each claimed entry was delivered (this claim included). */
  private async deliveries(entries: RedisStreamEntry[]): Promise<number[]> {
    if (this.o.maxDeliveries === undefined || entries.length === 0) return entries.map(() => 0);
    const q = this.queue;
    const pipeline = q.connection.pipeline();
    for (const { id } of entries) {
      pipeline.call('XPENDING', q.key, this.o.group, id, id, 1);
    }
    await q.whenReady(q.connection, q.timeout);
    const replies = (await within(pipeline.exec(), q.timeout)) ?? [];
    return entries.map((_, i) => {
      const [error, rows] = replies[i] ?? [];
      if (error) throw error;
      const row = (rows as Array<[string, string, number, number]> | undefined)?.[0];
      return row ? Number(row[3]) : 0;
    });
  }

  private async deliver(entry: RedisStreamEntry, deliveries: number): Promise<void> {
    let letter: DeadLetter;
    try {
      letter = decodeEntry(entry);
    } catch (error) {
      report(this.o.onError, error as Error, entry);
      await this.ack(entry.id);
      return;
    }
    const max = this.o.maxDeliveries;
    if (max !== undefined && deliveries > max) {
      report(
        this.o.onError,
        new RedisStreamsDeliveryLimitError(letter, max, this.o.group, entry.id),
        entry,
      );
      await this.ack(entry.id);
      return;
    }
    try {
      await this.handler(letter);
    } catch {
      return; // stays pending; handed out again after claimIdleMs
    }
    await this.ack(entry.id);
  }

  private async ack(id: string): Promise<void> {
    const q = this.queue;
    await q.command(q.connection, `acknowledge entry ${id}`, 'XACK', q.key, this.o.group, id);
  }
}

// ---- helpers -------------------------------------------------------------------------------

class TimedOut extends Error {}

/** `promise`, or a `TimedOut` rejection after `ms` (a timer that keeps no process alive). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return withTimeout(promise, ms, () => new TimedOut(`no answer within ${ms}ms`), {
    unref: true,
  });
}

/** Closes a connection politely (QUIT) or, failing that within `ms`, drops it. */
async function quit(connection: Redis, ms: number): Promise<void> {
  await closed(connection, ms, async () => {
    try {
      if (connection.status === 'ready') await within(connection.quit(), ms);
    } catch {
      // too slow: drop the socket
    }
    if (connection.status !== 'end') connection.disconnect();
  });
}

/** Runs `close` and waits (at most `ms`) until the connection has ended. */
async function closed(connection: Redis, ms: number, close: () => unknown): Promise<void> {
  if (connection.status === 'end') return;
  const ended = new Promise<void>((resolve) => connection.once('end', resolve));
  await close();
  await resolvesWithin(ended, ms, { unref: true });
}

function toEntry(id: string, flat: string[]): RedisStreamEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return { id, fields };
}

function decodeEntry(entry: RedisStreamEntry): DeadLetter {
  const text = entry.fields.letter;
  if (typeof text !== 'string') {
    throw new MalformedDeadLetterError(
      `Not a dead letter: stream entry ${entry.id} has no "letter" field.`,
      JSON.stringify(entry.fields).slice(0, 1000),
    );
  }
  return decodeDeadLetter(text);
}

function isNoGroup(error: unknown): boolean {
  return error instanceof Error && /NOGROUP/.test(error.message);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function report(onError: RedisStreamsErrorHandler, error: Error, entry?: RedisStreamEntry): void {
  callOnError(onError, [error, entry], (failed) =>
    logger.error(
      `${OWNER}: onError threw (${messageOf(failed?.thrown)}) while reporting: ${error.message}`,
    ),
  );
}

function logEntryError(error: Error, entry?: RedisStreamEntry): void {
  if (entry) logger.error(`${OWNER}: stream entry ${entry.id} not handled: ${error.message}`);
  else logger.warn(`${OWNER}: consumer lost Redis, retrying: ${error.message}`);
}

// ---- options ---------------------------------------------------------------------------------

interface ResolvedConsumeOptions {
  group: string;
  consumer: string;
  batchSize: number;
  blockMs: number;
  claimIdleMs: number;
  maxDeliveries?: number;
  onError: RedisStreamsErrorHandler;
}

const SCHEMA: Schema = {
  client: (v) =>
    typeof v === 'object' && v !== null && typeof (v as Redis).duplicate === 'function'
      ? undefined
      : 'an ioredis client',
  connection: (v) =>
    typeof v === 'string' || (typeof v === 'object' && v !== null)
      ? undefined
      : 'a redis:// URL or ioredis options',
  prefix: checks.string,
  maxLength: checks.positiveInt,
  commandTimeout: checks.positiveDuration,
  closeTimeout: checks.duration,
};

const CONSUME_SCHEMA: Schema = {
  group: checks.string,
  consumer: checks.string,
  batchSize: checks.positiveInt,
  blockMs: checks.positiveDuration,
  claimIdleMs: checks.positiveDuration,
  maxDeliveries: checks.positiveInt,
  onError: checks.fn,
};

const DRAIN_SCHEMA: Schema = { batchSize: checks.positiveInt, onError: checks.fn };

function checkOptions(
  options: RedisStreamsDeadLetterQueueOptions,
): RedisStreamsDeadLetterQueueOptions {
  validateOptions(OWNER, options, SCHEMA);
  if (options.client !== undefined && options.connection !== undefined) {
    invalid(OWNER, 'connection', options.connection, 'no value when a client is given');
  }
  return options;
}

function checkConsumeOptions(options: RedisStreamsConsumeOptions): ResolvedConsumeOptions {
  const owner = `${OWNER}.consume`;
  validateOptions(owner, options ?? {}, CONSUME_SCHEMA);
  for (const key of ['group', 'consumer'] as const) {
    if (options?.[key] === undefined) invalid(owner, key, undefined, 'a non-empty string');
  }
  return {
    group: options.group,
    consumer: options.consumer,
    batchSize: options.batchSize ?? DEFAULTS.batchSize,
    blockMs: options.blockMs ?? DEFAULTS.blockMs,
    claimIdleMs: options.claimIdleMs ?? DEFAULTS.claimIdleMs,
    maxDeliveries: options.maxDeliveries,
    onError: options.onError ?? logEntryError,
  };
}
