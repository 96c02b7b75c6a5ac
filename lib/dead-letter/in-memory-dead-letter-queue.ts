import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { checks } from '../common/validate';
import { INVALID_OPTION } from '../common/resilience.messages';
import type { DeadLetter, DrainableDeadLetterQueue } from './dead-letter.interface';

/**
 * The default dead-letter queue: letters kept in the process, oldest first, at most
 * `capacity` of them. When it is full, a new letter drops the oldest one (counted in
 * `dropped`). Letters are lost when the process ends: use a broker-backed queue where that
 * matters.
 * @publicApi
 */
export class InMemoryDeadLetterQueue implements DrainableDeadLetterQueue {
  /** Letters dropped because the queue was full. */
  dropped = 0;
  private items: DeadLetter[] = [];
  /** Index of the oldest letter in `items` (the slots before it are spent). */
  private head = 0;
  /** The drain running now, so that a second drain waits for it. */
  private draining: Promise<unknown> = Promise.resolve();

  /** @param capacity the most letters kept; a whole number >= 1. */
  constructor(readonly capacity = 10_000) {
    const expected = checks.positiveInt(capacity);
    if (expected !== undefined) {
      throw new ResilienceConfigError(
        INVALID_OPTION('InMemoryDeadLetterQueue', 'capacity', capacity, expected),
        'InMemoryDeadLetterQueue',
        'capacity',
        capacity,
      );
    }
  }

  /** Letters held now. */
  get size(): number {
    return this.items.length - this.head;
  }

  publish(letter: DeadLetter): Promise<void> {
    this.items.push(letter);
    if (this.size > this.capacity) {
      this.removeOldest();
      this.dropped++;
    }
    return Promise.resolve();
  }

  /** The `n` oldest letters (all of them by default), oldest first; they stay queued. */
  peek(n: number = this.size): Promise<DeadLetter[]> {
    const expected = checks.nonNegativeInt(n);
    if (expected !== undefined) {
      return Promise.reject(new RangeError(`peek(n): n is ${String(n)}; expected ${expected}.`));
    }
    return Promise.resolve(this.items.slice(this.head, this.head + n));
  }

  /**
   * Hands the letters to `handler` one at a time, oldest first, each once the previous
   * handler call has resolved. A letter leaves the queue only when its handler call
   * resolves. When a handler call throws or rejects, the drain stops and rejects with
   * that error: the letter and every later one stay queued, in order. Only the letters
   * queued when the drain starts are handed over (a handler that publishes again cannot
   * loop forever); a second `drain()` starts once the first ends.
   * @returns the number of letters drained.
   */
  drain(handler: (letter: DeadLetter) => unknown): Promise<number> {
    if (typeof handler !== 'function') {
      return Promise.reject(new TypeError('drain(handler): handler must be a function.'));
    }
    const run = this.draining.then(() => this.drainNow(handler));
    this.draining = run.catch(() => undefined);
    return run;
  }

  private async drainNow(handler: (letter: DeadLetter) => unknown): Promise<number> {
    let drained = 0;
    let remaining = this.size;
    while (remaining-- > 0 && this.size > 0) {
      const letter = this.items[this.head];
      await handler(letter);
      // the letter may have been dropped (queue full) while the handler ran
      if (this.size > 0 && this.items[this.head] === letter) this.removeOldest();
      drained++;
    }
    return drained;
  }

  private removeOldest(): void {
    this.items[this.head] = undefined as unknown as DeadLetter;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
