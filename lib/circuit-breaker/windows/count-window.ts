import type { SlidingWindow } from './sliding-window';

const FAILED = 1;
const SLOW = 2;
const INITIAL_CAPACITY = 64;

/**
 * The outcomes of the last `size` calls, in a ring buffer of one byte per call. When the
 * window is full, each new outcome replaces the oldest one and the running totals are
 * corrected by both, so `record` is O(1). The buffer grows (doubling) up to `size` as calls
 * arrive, so a large window costs memory only once it is used.
 * @internal
 */
export class CountWindow implements SlidingWindow {
  private outcomes: Uint8Array;
  /** Next slot to write; equals `filled` until the buffer has wrapped. */
  private head = 0;
  private filled = 0;
  private failureTotal = 0;
  private slowTotal = 0;

  constructor(readonly size: number) {
    this.outcomes = new Uint8Array(Math.min(size, INITIAL_CAPACITY));
  }

  get calls(): number {
    return this.filled;
  }

  get failures(): number {
    return this.failureTotal;
  }

  get slow(): number {
    return this.slowTotal;
  }

  record(_now: number, failed: boolean, slow: boolean): void {
    const outcome = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (this.filled === this.size) {
      const oldest = this.outcomes[this.head];
      this.failureTotal -= oldest & FAILED;
      this.slowTotal -= (oldest & SLOW) >> 1;
    } else {
      if (this.filled === this.outcomes.length) this.grow();
      this.filled++;
    }
    this.outcomes[this.head] = outcome;
    this.failureTotal += outcome & FAILED;
    this.slowTotal += (outcome & SLOW) >> 1;
    this.head = this.head + 1 === this.size ? 0 : this.head + 1;
  }

  evict(_now: number): void {
    // outcomes leave a count window only when newer ones replace them
  }

  reset(): void {
    this.head = 0;
    this.filled = 0;
    this.failureTotal = 0;
    this.slowTotal = 0;
  }

  /** Before the buffer wraps, slots 0..filled-1 hold every outcome, so a copy keeps order. */
  private grow(): void {
    const next = new Uint8Array(Math.min(this.size, this.outcomes.length * 2));
    next.set(this.outcomes);
    this.outcomes = next;
  }
}
