import { CountWindow } from './count-window';

describe('CountWindow', () => {
  it('starts empty', () => {
    const window = new CountWindow(3);
    expect([window.calls, window.failures, window.slow]).toEqual([0, 0, 0]);
  });

  it('keeps running totals of calls, failures and slow calls', () => {
    const window = new CountWindow(5);
    window.record(0, true, false);
    window.record(0, false, true);
    window.record(0, true, true);
    expect([window.calls, window.failures, window.slow]).toEqual([3, 2, 2]);
  });

  it('holds only the last `size` outcomes, replacing the oldest', () => {
    const window = new CountWindow(3);
    window.record(0, true, true); // falls out first
    window.record(0, false, false);
    window.record(0, false, false);
    expect([window.calls, window.failures, window.slow]).toEqual([3, 1, 1]);
    window.record(0, false, false);
    expect([window.calls, window.failures, window.slow]).toEqual([3, 0, 0]);
    window.record(0, true, false);
    window.record(0, true, false);
    window.record(0, false, true);
    expect([window.calls, window.failures, window.slow]).toEqual([3, 2, 1]);
  });

  it('slides correctly over many wraps and past its initial buffer capacity', () => {
    const size = 150;
    const window = new CountWindow(size);
    const outcomes: Array<[boolean, boolean]> = [];
    for (let i = 0; i < 1000; i++) {
      const outcome: [boolean, boolean] = [i % 3 === 0, i % 7 === 0];
      outcomes.push(outcome);
      window.record(i, ...outcome);
      const last = outcomes.slice(-size);
      expect(window.calls).toBe(last.length);
      expect(window.failures).toBe(last.filter(([failed]) => failed).length);
      expect(window.slow).toBe(last.filter(([, slow]) => slow).length);
    }
  });

  it('ignores time', () => {
    const window = new CountWindow(2);
    window.record(0, true, false);
    window.evict(Number.MAX_SAFE_INTEGER);
    expect(window.failures).toBe(1);
  });

  it('reset() forgets every outcome and starts over', () => {
    const window = new CountWindow(2);
    window.record(0, true, true);
    window.record(0, true, true);
    window.reset();
    expect([window.calls, window.failures, window.slow]).toEqual([0, 0, 0]);
    window.record(0, false, false);
    window.record(0, true, false);
    window.record(0, true, false);
    expect([window.calls, window.failures, window.slow]).toEqual([2, 2, 0]);
  });

  it('works with a window of one call', () => {
    const window = new CountWindow(1);
    window.record(0, true, true);
    window.record(0, false, false);
    expect([window.calls, window.failures, window.slow]).toEqual([1, 0, 0]);
  });
});
