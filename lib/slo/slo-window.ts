/** Buckets an SLO window is divided into. @internal */
export const SLO_WINDOW_BUCKETS = 60;

/**
 * Calls and failures of the last `size` ms, kept in `buckets` buckets of `size / buckets` ms
 * each, with running totals: recording a call and reading the totals cost O(1), and moving
 * on after a quiet spell clears at most `buckets` buckets. The window holds the current
 * bucket and the `buckets - 1` before it, so a call leaves it between `size - size/buckets`
 * and `size` ms after it was recorded. Time comes from the caller (the module clock); a
 * clock that steps back records into the newest bucket.
 * @internal
 */
export class SloWindow {
  private readonly width: number;
  private readonly callCounts: Float64Array;
  private readonly failureCounts: Float64Array;
  /** Absolute index (time / width) of the newest bucket; NaN before the first call. */
  private head = Number.NaN;
  private totalCalls = 0;
  private totalFailures = 0;

  constructor(
    readonly size: number,
    readonly buckets: number = SLO_WINDOW_BUCKETS,
  ) {
    this.width = size / buckets;
    this.callCounts = new Float64Array(buckets);
    this.failureCounts = new Float64Array(buckets);
  }

  /** Calls in the window (as of the last `record` or `evict`). */
  get calls(): number {
    return this.totalCalls;
  }

  /** Failed calls in the window (as of the last `record` or `evict`). */
  get failures(): number {
    return this.totalFailures;
  }

  /** Counts one call ending at `now`. */
  record(now: number, failed: boolean): void {
    this.evict(now);
    const slot = this.slotOf(this.head);
    this.callCounts[slot]++;
    this.totalCalls++;
    if (failed) {
      this.failureCounts[slot]++;
      this.totalFailures++;
    }
  }

  /** Drops the buckets that have left the window by `now`. */
  evict(now: number): void {
    const index = Math.floor(now / this.width);
    const head = this.head;
    if (!(index > head)) {
      if (Number.isNaN(head)) this.head = index;
      return; // same bucket, or a clock that stepped back
    }
    this.head = index;
    if (index - head >= this.buckets) {
      this.callCounts.fill(0);
      this.failureCounts.fill(0);
      this.totalCalls = 0;
      this.totalFailures = 0;
      return;
    }
    const steps = index - head; // fewer than `buckets`
    for (let step = 1; step <= steps; step++) {
      const slot = this.slotOf(head + step);
      this.totalCalls -= this.callCounts[slot];
      this.totalFailures -= this.failureCounts[slot];
      this.callCounts[slot] = 0;
      this.failureCounts[slot] = 0;
    }
  }

  /** Empties the window. */
  reset(): void {
    this.callCounts.fill(0);
    this.failureCounts.fill(0);
    this.totalCalls = 0;
    this.totalFailures = 0;
    this.head = Number.NaN;
  }

  private slotOf(index: number): number {
    const slot = index % this.buckets;
    return slot < 0 ? slot + this.buckets : slot;
  }
}
