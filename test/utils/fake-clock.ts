import type { Clock, Scheduler } from '../../lib/common';

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** Lets pending promise chains run (microtasks and one macrotask turn). */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A virtual clock and scheduler: time moves only when a test calls `advance`.
 * Timers due within the advanced span fire in time order, each at its own instant,
 * with pending work flushed before and after each, so chains of sleeps behave as
 * they would with real time.
 */
export class FakeClock implements Clock, Scheduler {
  private time: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), callback };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Number of timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await flush();
    for (;;) {
      const due = this.timers
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
      await flush();
    }
    this.time = end;
    await flush();
  }

  /** Sets the time without firing timers (for clock-only logic). */
  set(time: number): void {
    this.time = time;
  }
}
