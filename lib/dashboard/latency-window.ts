/** How the calls of one circuit breaker went during one stats interval. @publicApi */
export interface LatencySummary {
  /** Calls that ended during the interval (admitted calls; rejected ones are not calls here). */
  calls: number;
  /** Of those, the ones that counted as failures. */
  failures: number;
  /** Mean duration, ms. */
  mean: number;
  /** 95th percentile of the durations, ms. */
  p95: number;
  /** 99th percentile of the durations, ms. */
  p99: number;
  /** Longest duration, ms. */
  max: number;
}

/** Durations kept per breaker and interval; past it, a uniform sample is kept. */
export const MAX_SAMPLES = 4_096;

interface Bucket {
  calls: number;
  failures: number;
  sum: number;
  max: number;
  samples: number[];
}

/**
 * Collects call durations per circuit breaker for one interval at a time: `record()` is
 * cheap (it runs on the call's path), `flush()` summarises and starts a new interval.
 * Memory stays bounded: beyond `MAX_SAMPLES` calls in one interval, percentiles come from
 * a uniform reservoir sample (mean, max and counts stay exact).
 * @internal
 */
export class LatencyWindow {
  private buckets = new Map<string, Bucket>();

  constructor(
    private readonly maxSamples = MAX_SAMPLES,
    private readonly random: () => number = Math.random,
  ) {}

  record(name: string, duration: number, failed: boolean): void {
    if (!Number.isFinite(duration)) return;
    const ms = Math.max(0, duration);
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = { calls: 0, failures: 0, sum: 0, max: 0, samples: [] };
      this.buckets.set(name, bucket);
    }
    bucket.calls++;
    if (failed) bucket.failures++;
    bucket.sum += ms;
    if (ms > bucket.max) bucket.max = ms;
    if (bucket.samples.length < this.maxSamples) {
      bucket.samples.push(ms);
    } else {
      // reservoir sampling: every call of the interval has the same chance to be kept
      const slot = Math.floor(this.random() * bucket.calls);
      if (slot < this.maxSamples) bucket.samples[slot] = ms;
    }
  }

  /** Summaries of the interval that ends now, by breaker name; starts a new interval. */
  flush(): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    for (const [name, bucket] of this.buckets) {
      const sorted = bucket.samples.sort((a, b) => a - b);
      out[name] = {
        calls: bucket.calls,
        failures: bucket.failures,
        mean: round(bucket.sum / bucket.calls),
        p95: round(percentile(sorted, 0.95)),
        p99: round(percentile(sorted, 0.99)),
        max: round(bucket.max),
      };
    }
    this.buckets = new Map();
    return out;
  }

  /** Forgets the current interval. */
  clear(): void {
    this.buckets = new Map();
  }
}

/** Nearest-rank percentile of ascending `sorted` (not empty). */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
