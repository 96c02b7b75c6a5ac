import { SloWindow } from './slo-window';

describe('SloWindow', () => {
  // 60 buckets of 1000 ms over a 60 s window
  const T0 = 1_700_000_000_000;

  it('counts calls and failures of the window', () => {
    const window = new SloWindow(60_000);
    window.record(T0, false);
    window.record(T0 + 10, true);
    window.record(T0 + 30_000, false);
    expect([window.calls, window.failures]).toEqual([3, 1]);
  });

  it('drops a bucket once the window has moved past it', () => {
    const window = new SloWindow(60_000);
    window.record(T0, true); // bucket [T0, T0 + 1000)
    window.record(T0 + 999, false); // same bucket
    window.record(T0 + 1_000, false); // next bucket
    window.evict(T0 + 59_999);
    expect([window.calls, window.failures]).toEqual([3, 1]);
    window.evict(T0 + 60_000); // the first bucket leaves, the second stays
    expect([window.calls, window.failures]).toEqual([1, 0]);
    window.evict(T0 + 61_000);
    expect([window.calls, window.failures]).toEqual([0, 0]);
  });

  it('keeps a call at least size - size/buckets ms and at most size ms', () => {
    const window = new SloWindow(60_000);
    window.record(T0 + 999, true); // late in its bucket
    window.evict(T0 + 999 + 59_000);
    expect(window.calls).toBe(1);
    window.evict(T0 + 999 + 59_001); // 59 001 ms later: gone with its bucket
    expect(window.calls).toBe(0);
  });

  it('clears everything after a gap longer than the window', () => {
    const window = new SloWindow(60_000);
    for (let i = 0; i < 60; i++) window.record(T0 + i * 1_000, i % 2 === 0);
    expect([window.calls, window.failures]).toEqual([60, 30]);
    window.record(T0 + 10 * 60_000, false);
    expect([window.calls, window.failures]).toEqual([1, 0]);
  });

  it('rolls bucket by bucket, keeping the totals exact', () => {
    const window = new SloWindow(10_000, 10); // 1000 ms buckets
    for (let s = 0; s < 30; s++) window.record(T0 + s * 1_000, s % 3 === 0);
    // seconds 20..29 are in the window: failures at 21, 24, 27
    expect([window.calls, window.failures]).toEqual([10, 3]);
  });

  it('records into the newest bucket when the clock steps back', () => {
    const window = new SloWindow(60_000);
    window.record(T0 + 5_000, false);
    window.record(T0, true); // earlier than the newest bucket
    expect([window.calls, window.failures]).toEqual([2, 1]);
    window.evict(T0 + 65_000);
    expect(window.calls).toBe(0); // both left with the newest bucket
  });

  it('works with windows shorter than its bucket count in ms', () => {
    const window = new SloWindow(6); // 0.1 ms buckets
    window.record(T0, true);
    window.evict(T0 + 5.9);
    expect(window.calls).toBe(1);
    window.evict(T0 + 6);
    expect(window.calls).toBe(0);
  });

  it('starts empty again after reset()', () => {
    const window = new SloWindow(60_000);
    window.record(T0, true);
    window.reset();
    expect([window.calls, window.failures]).toEqual([0, 0]);
    window.record(T0 + 100, false);
    expect([window.calls, window.failures]).toEqual([1, 0]);
  });
});
