import { TimeWindow } from './time-window';

const T0 = 1_700_000_000_000; // a multiple of the 1000 ms buckets of a 10 s window

describe('TimeWindow', () => {
  it('keeps running totals of calls, failures and slow calls', () => {
    const window = new TimeWindow(10_000);
    window.record(T0, true, false);
    window.record(T0 + 500, false, true);
    window.record(T0 + 2_500, true, true);
    expect([window.calls, window.failures, window.slow]).toEqual([3, 2, 2]);
  });

  it('counts an outcome until it is `size` ms old, at bucket granularity (size / 10)', () => {
    const window = new TimeWindow(10_000);
    window.record(T0, true, true);
    window.evict(T0 + 9_999);
    expect([window.calls, window.failures, window.slow]).toEqual([1, 1, 1]);
    window.evict(T0 + 10_000);
    expect([window.calls, window.failures, window.slow]).toEqual([0, 0, 0]);
  });

  it('always counts an outcome younger than 90% of size', () => {
    const window = new TimeWindow(10_000);
    window.record(T0 + 999, true, false); // last ms of its bucket
    window.evict(T0 + 999 + 8_999);
    expect(window.failures).toBe(1);
    window.evict(T0 + 10_000); // its bucket leaves the window: 9001 ms old
    expect(window.failures).toBe(0);
  });

  it('drops old buckets one by one as time passes', () => {
    const window = new TimeWindow(10_000);
    for (let s = 0; s < 5; s++) window.record(T0 + s * 1_000, true, false);
    expect(window.failures).toBe(5);
    window.evict(T0 + 10_000);
    expect(window.failures).toBe(4);
    window.evict(T0 + 12_000);
    expect(window.failures).toBe(2);
    window.record(T0 + 13_500, false, false);
    expect([window.calls, window.failures]).toEqual([2, 1]);
  });

  it('empties at once after a gap longer than the window', () => {
    const window = new TimeWindow(10_000);
    window.record(T0, true, true);
    window.record(T0 + 5_000, true, true);
    window.record(T0 + 60_000, false, false);
    expect([window.calls, window.failures, window.slow]).toEqual([1, 0, 0]);
  });

  it('reuses a bucket after it left the window without keeping its old counts', () => {
    const window = new TimeWindow(1_000); // buckets of 100 ms
    window.record(T0, true, false);
    window.record(T0 + 1_000, false, false); // same bucket slot, next lap
    expect([window.calls, window.failures]).toEqual([1, 0]);
  });

  it('keeps writing to the newest bucket when the clock steps back', () => {
    const window = new TimeWindow(10_000);
    window.record(T0 + 5_000, true, false);
    window.record(T0, true, false);
    expect(window.failures).toBe(2);
    window.evict(T0 + 15_000);
    expect(window.failures).toBe(0);
  });

  it('reset() forgets every outcome', () => {
    const window = new TimeWindow(10_000);
    window.record(T0, true, true);
    window.reset();
    expect([window.calls, window.failures, window.slow]).toEqual([0, 0, 0]);
    window.record(T0 + 1, false, false);
    expect(window.calls).toBe(1);
  });
});
