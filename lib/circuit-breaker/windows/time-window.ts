import type { SlidingWindow } from './sliding-window';

/** Number of buckets a time window is divided into. @internal */
export const TIME_WINDOW_BUCKETS = 10;

/**
 * The outcomes of the last `size` ms, counted in 10 buckets of `size / 10` ms each.
 * Time is cut into fixed slices of `size / 10` ms (slice k covers
 * `[k * size / 10, (k + 1) * size / 10)`); the window holds the current slice and the
 * 9 before it, and a whole slice leaves the window at once.
 *
 * How old an outcome may be and still count: an outcome younger than `0.9 * size` ms always
 * counts; one that is `size` ms old or older never does; in between it counts until its
 * slice leaves the window. With the default 10000 ms window, a failure counts for at least
 * 9 s and at most 10 s.
 *
 * `record` and `evict` are O(1): each bucket that leaves the window is subtracted from the
 * running totals once (at most 10 per call, however much time has passed).
 * @internal
 */
export class TimeWindow implements SlidingWindow {
  private readonly bucketWidth: number;
  private readonly bucketCalls = new Array<number>(TIME_WINDOW_BUCKETS).fill(0);
  private readonly bucketFailures = new Array<number>(TIME_WINDOW_BUCKETS).fill(0);
  private readonly bucketSlow = new Array<number>(TIME_WINDOW_BUCKETS).fill(0);
  /** Index of the newest slice the buckets hold (-Infinity when empty). */
  private newestSlice = Number.NEGATIVE_INFINITY;
  private callTotal = 0;
  private failureTotal = 0;
  private slowTotal = 0;

  constructor(readonly size: number) {
    this.bucketWidth = size / TIME_WINDOW_BUCKETS;
  }

  get calls(): number {
    return this.callTotal;
  }

  get failures(): number {
    return this.failureTotal;
  }

  get slow(): number {
    return this.slowTotal;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    this.evict(now);
    const bucket = this.bucketOf(this.newestSlice);
    this.bucketCalls[bucket]++;
    this.callTotal++;
    if (failed) {
      this.bucketFailures[bucket]++;
      this.failureTotal++;
    }
    if (slow) {
      this.bucketSlow[bucket]++;
      this.slowTotal++;
    }
  }

  evict(now: number): void {
    const slice = Math.floor(now / this.bucketWidth);
    // a clock that stepped back keeps writing to the newest slice
    if (slice <= this.newestSlice) return;
    if (slice - this.newestSlice >= TIME_WINDOW_BUCKETS) {
      this.reset();
    } else {
      for (let s = this.newestSlice + 1; s <= slice; s++) this.clearBucket(this.bucketOf(s));
    }
    this.newestSlice = slice;
  }

  reset(): void {
    this.bucketCalls.fill(0);
    this.bucketFailures.fill(0);
    this.bucketSlow.fill(0);
    this.callTotal = 0;
    this.failureTotal = 0;
    this.slowTotal = 0;
    this.newestSlice = Number.NEGATIVE_INFINITY;
  }

  private bucketOf(slice: number): number {
    const index = slice % TIME_WINDOW_BUCKETS;
    return index < 0 ? index + TIME_WINDOW_BUCKETS : index;
  }

  private clearBucket(bucket: number): void {
    this.callTotal -= this.bucketCalls[bucket];
    this.failureTotal -= this.bucketFailures[bucket];
    this.slowTotal -= this.bucketSlow[bucket];
    this.bucketCalls[bucket] = 0;
    this.bucketFailures[bucket] = 0;
    this.bucketSlow[bucket] = 0;
  }
}
