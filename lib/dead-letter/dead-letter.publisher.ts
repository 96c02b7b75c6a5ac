import type { Clock } from '../common/clock';
import { Disposable, Emitter } from '../common/emitter';
import type { DeadLetterEvent } from '../common/events';
import type { Scheduler } from '../common/scheduler';
import type { DeadLetter, DeadLetterQueue } from './dead-letter.interface';
import type { ResolvedDeadLetterBufferOptions } from './dead-letter.options';
import { messageOf } from './json-safe';

/** Dead-letter counters (`ResilienceRegistry.stats().deadLetters`). @publicApi */
export interface DeadLetterStats {
  /** Letters the queue accepted (`publish` resolved in time). */
  published: number;
  /** `publish` calls that threw, rejected or did not settle within `publishTimeout`. */
  failedToPublish: number;
  /** Letters waiting in the local buffer now, to be published again. */
  buffered: number;
  /**
   * Letters lost: dropped from the full local buffer, not delivered at shutdown or after
   * it, plus the queue's own `dropped` count when it has one (`InMemoryDeadLetterQueue`
   * drops its oldest letter when full).
   */
  dropped: number;
  /** Calls of `serializeArgs` that threw (their letters carry a placeholder instead). */
  serializeFailures: number;
}

/** Where the publisher writes what it has to say. @internal */
export interface PublisherLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What a dead-letter step hands its letters to. @internal */
export interface DeadLetterSink {
  /** Publishes or buffers the letter; never rejects. */
  submit(letter: DeadLetter): Promise<void>;
  /** Notes that `serializeArgs` of `target` threw. */
  serializeFailed(target: string, error: unknown): void;
}

const TIMED_OUT = Symbol('timed out');
const CANCELLED = Symbol('cancelled');

/** A scheduler that may run a hook when it clears a timer itself (the module's, at shutdown). */
type CancellableScheduler = Scheduler & {
  setTimeout(callback: () => void, ms: number, onCancel?: () => void): unknown;
};

/**
 * Sits between the dead-letter steps and the queue, so that no letter is lost when the
 * queue misbehaves:
 * - a letter is published at once while nothing is buffered; the failing call waits for
 *   that publish, at most `publishTimeout` ms;
 * - a publish that throws, rejects or takes longer moves the letter to a bounded local
 *   buffer, and so does every later letter while the buffer holds any (order is kept);
 * - the buffer is published again, oldest first, one letter at a time, after
 *   `initialDelay` ms, then `multiplier` times longer after each failed attempt (at most
 *   `maxDelay`), on the module's scheduler;
 * - a full buffer drops its oldest letter (counted, and logged once per outage);
 * - `close()` flushes the buffer within a time limit and logs whatever is left.
 *
 * Delivery is at least once: a publish that timed out may still have stored its letter,
 * which is then published a second time.
 * @internal
 */
export class DeadLetterPublisher implements DeadLetterSink {
  private readonly buffer: DeadLetter[] = [];
  private readonly emitter = new Emitter<DeadLetterEvent>();
  /** Subscribes to `'dead-letter'` events. */
  readonly onEvent: (listener: (event: DeadLetterEvent) => void) => Disposable =
    this.emitter.subscribe;

  private published = 0;
  private failedToPublish = 0;
  private dropped = 0;
  private serializeFailures = 0;

  /** Failed attempts in a row (sets the next delay); 0 while publishing works. */
  private failures = 0;
  /** The letter of the buffer being published now, if any. */
  private sending?: DeadLetter;
  private retryTimer: unknown;
  private pumping = false;
  private outage = false;
  private droppedInOutage = 0;
  private warnedSerialize = new Set<string>();
  private closed = false;
  /** While closing: the epoch ms by which the flush must end. */
  private deadline?: number;
  private flushed?: () => void;
  /** True once `close()` has flushed and logged the buffer: nothing buffered later is seen. */
  private closeDone = false;
  /** Why the last publish failed. */
  private lastError: unknown;

  constructor(
    private readonly queue: DeadLetterQueue,
    private readonly options: ResolvedDeadLetterBufferOptions,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly logger: PublisherLogger,
  ) {}

  stats(): DeadLetterStats {
    const own = (this.queue as { dropped?: unknown }).dropped;
    return {
      published: this.published,
      failedToPublish: this.failedToPublish,
      buffered: this.buffer.length,
      dropped: this.dropped + (typeof own === 'number' && Number.isFinite(own) ? own : 0),
      serializeFailures: this.serializeFailures,
    };
  }

  serializeFailed(target: string, error: unknown): void {
    this.serializeFailures++;
    if (this.warnedSerialize.has(target)) return;
    this.warnedSerialize.add(target);
    this.logger.warn(
      `serializeArgs threw for ${target} (${messageOf(error)}); its dead letters carry a ` +
        'placeholder instead of the arguments. Logged once per method.',
    );
  }

  async submit(letter: DeadLetter): Promise<void> {
    if (this.emitter.hasListeners) {
      this.emitter.emit({
        type: 'dead-letter',
        name: letter.policy,
        at: this.clock.now(),
        letter,
      });
    }
    if (this.closed) return this.publishAfterClose(letter);
    if (this.buffer.length > 0) {
      this.keep(letter);
      return;
    }
    if (await this.attempt(letter)) return;
    if (this.closeDone) {
      // the publish was in flight when close() flushed the buffer: nothing would retry it
      this.lose(letter, 'could not be published before shutdown', this.lastError);
      return;
    }
    this.keep(letter);
    this.schedule();
  }

  /**
   * Flushes the buffer to the queue, within `timeout` ms (publish attempts and the waits
   * between them included), then logs the letters still buffered. Letters that arrive
   * after this are published once, directly, and logged if that fails.
   */
  async close(timeout: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.buffer.length > 0) {
      this.deadline = this.clock.now() + timeout;
      let timer: unknown;
      const done = new Promise<void>((resolve) => (this.flushed = resolve));
      const expired = new Promise<void>((resolve) => {
        timer = this.scheduler.setTimeout(resolve, timeout);
      });
      // a pump already waiting on a publish carries on and sees the deadline afterwards
      if (!this.pumping) void this.pump();
      await Promise.race([done, expired]);
      this.scheduler.clearTimeout(timer);
    }
    if (this.buffer.length > 0) {
      const left = this.buffer.splice(0, this.buffer.length);
      this.dropped += left.length;
      this.logger.error(
        `${left.length} dead letter(s) could not be published before shutdown ` +
          `(shutdownTimeout ${timeout}ms); they are logged here so that they are not lost: ` +
          safeJson(left),
      );
    }
    this.closeDone = true;
    await this.closeQueue(timeout);
  }

  /** Lets the queue close what it opened (`DeadLetterQueue.close`), within `timeout` ms. */
  private async closeQueue(timeout: number): Promise<void> {
    if (typeof this.queue.close !== 'function') return;
    let timer: unknown;
    try {
      const outcome = await Promise.race([
        Promise.resolve().then(() => this.queue.close?.()),
        new Promise<typeof TIMED_OUT>((resolve) => {
          timer = this.scheduler.setTimeout(() => resolve(TIMED_OUT), Math.max(0, timeout));
        }),
      ]);
      if (outcome === TIMED_OUT) {
        this.logger.warn(`The dead-letter queue did not close within ${timeout}ms.`);
      }
    } catch (error) {
      this.logger.warn(
        `The dead-letter queue failed to close: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      this.scheduler.clearTimeout(timer);
    }
  }

  /** Publishes one letter within `publishTimeout`; true when the queue accepted it. */
  private async attempt(letter: DeadLetter, limit = this.options.publishTimeout): Promise<boolean> {
    let timer: unknown;
    try {
      const outcome = await Promise.race([
        Promise.resolve().then(() => this.queue.publish(letter)),
        new Promise<typeof TIMED_OUT | typeof CANCELLED>((resolve) => {
          // the module clears its timers at shutdown: a publish still pending then fails
          timer = (this.scheduler as CancellableScheduler).setTimeout(
            () => resolve(TIMED_OUT),
            Math.max(0, limit),
            () => resolve(CANCELLED),
          );
        }),
      ]);
      if (outcome === TIMED_OUT || outcome === CANCELLED) {
        this.failed(
          new Error(
            outcome === TIMED_OUT
              ? `publish did not settle within ${limit}ms`
              : 'publish was still pending at shutdown',
          ),
        );
        return false;
      }
      this.published++;
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    } finally {
      this.scheduler.clearTimeout(timer);
    }
  }

  private failed(error: unknown): void {
    this.lastError = error;
    this.failedToPublish++;
    this.failures++;
    if (this.outage) return;
    this.outage = true;
    this.logger.warn(
      `The dead-letter queue failed to publish (${messageOf(error)}). Letters are kept in a ` +
        `local buffer (capacity ${this.options.capacity}) and published again with backoff; ` +
        'see stats().deadLetters. Logged once until publishing works again.',
    );
  }

  /** Appends to the buffer; when full, drops the oldest letter not being published. */
  private keep(letter: DeadLetter): void {
    this.buffer.push(letter);
    if (this.buffer.length <= this.options.capacity) return;
    const index = this.buffer[0] === this.sending ? 1 : 0;
    this.buffer.splice(index, 1);
    this.dropped++;
    if (this.droppedInOutage++ === 0) {
      this.logger.error(
        `The dead-letter buffer is full (capacity ${this.options.capacity}); the oldest ` +
          'buffered letters are being dropped (counted in stats().deadLetters.dropped).',
      );
    }
  }

  private schedule(): void {
    if (this.pumping || this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = this.scheduler.setTimeout(() => {
      this.retryTimer = undefined;
      void this.pump();
    }, this.nextDelay());
  }

  /** Publishes the buffer, oldest first, until it is empty or an attempt fails. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.buffer.length > 0) {
        const letter = this.buffer[0];
        this.sending = letter;
        const limit = this.remaining() ?? this.options.publishTimeout;
        const ok =
          limit > 0 && (await this.attempt(letter, Math.min(limit, this.options.publishTimeout)));
        this.sending = undefined;
        if (ok) {
          const index = this.buffer.indexOf(letter);
          if (index >= 0) this.buffer.splice(index, 1);
          continue;
        }
        if (!this.closed) return;
        // closing: wait for the next attempt within the deadline, or give up
        const left = this.remaining() ?? 0;
        if (left <= 0) return;
        await this.wait(Math.min(left, this.nextDelay()));
      }
      this.recovered();
    } finally {
      this.pumping = false;
      this.sending = undefined;
      if (this.closed) this.flushed?.();
      else if (this.buffer.length > 0) this.schedule();
    }
  }

  private recovered(): void {
    if (!this.outage) return;
    this.outage = false;
    this.failures = 0;
    const dropped = this.droppedInOutage;
    this.droppedInOutage = 0;
    this.logger.log(
      'The dead-letter queue accepts letters again; the local buffer is empty' +
        (dropped > 0 ? ` (${dropped} letter(s) were dropped while it was full).` : '.'),
    );
  }

  private nextDelay(): number {
    const { initialDelay, multiplier, maxDelay } = this.options;
    return Math.min(maxDelay, initialDelay * multiplier ** Math.max(0, this.failures - 1));
  }

  private remaining(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - this.clock.now();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.setTimeout(resolve, ms));
  }

  private async publishAfterClose(letter: DeadLetter): Promise<void> {
    const limit = this.options.publishTimeout;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => this.queue.publish(letter)),
        new Promise<never>((_resolve, reject) => {
          // the module's timers are gone after shutdown: a plain timer that does not keep
          // the process alive bounds the publish, so a hanging queue cannot hang the call
          timer = setTimeout(
            () => reject(new Error(`publish did not settle within ${limit}ms`)),
            limit,
          );
          timer.unref();
        }),
      ]);
      this.published++;
    } catch (error) {
      this.failedToPublish++;
      this.lose(letter, 'arrived after shutdown and could not be published', error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Counts a letter as dropped and logs it whole, so that it is not lost. */
  private lose(letter: DeadLetter, what: string, error: unknown): void {
    this.dropped++;
    this.logger.error(`A dead letter ${what} (${messageOf(error)}): ${safeJson(letter)}`);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
