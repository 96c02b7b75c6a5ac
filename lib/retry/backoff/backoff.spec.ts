import type { ResolvedBackoffOptions } from './backoff.interface';
import { baseDelay, computeDelay } from './backoff';
import { exponentialDelay } from './exponential.backoff';
import { fixedDelay } from './fixed.backoff';
import { linearDelay } from './linear.backoff';

const options = (overrides: Partial<ResolvedBackoffOptions> = {}): ResolvedBackoffOptions => ({
  type: 'exponential',
  initialDelay: 100,
  maxDelay: 30_000,
  multiplier: 2,
  jitter: 'none',
  ...overrides,
});
const neverCalled = () => {
  throw new Error('random must not be read');
};
const delays = (o: ResolvedBackoffOptions, count: number) =>
  Array.from({ length: count }, (_, i) => computeDelay(o, i + 1, o.initialDelay, neverCalled));

describe('backoff strategies', () => {
  describe('exponential', () => {
    it('multiplies initialDelay by multiplier^(n-1)', () => {
      expect(delays(options(), 5)).toEqual([100, 200, 400, 800, 1600]);
      expect(delays(options({ multiplier: 3, initialDelay: 10 }), 4)).toEqual([10, 30, 90, 270]);
    });

    it('with multiplier 1 stays at initialDelay', () => {
      expect(delays(options({ multiplier: 1 }), 3)).toEqual([100, 100, 100]);
    });

    it('is capped at maxDelay', () => {
      expect(delays(options({ maxDelay: 500 }), 6)).toEqual([100, 200, 400, 500, 500, 500]);
    });

    it('stays at maxDelay (not Infinity or NaN) for very large attempt numbers', () => {
      expect(exponentialDelay(5000, 100, 2, 30_000)).toBe(30_000);
      expect(exponentialDelay(5000, 0, 2, 30_000)).toBe(0);
    });
  });

  describe('linear', () => {
    it('grows by initialDelay per failed call', () => {
      expect(delays(options({ type: 'linear' }), 4)).toEqual([100, 200, 300, 400]);
      expect(linearDelay(7, 50, 1000)).toBe(350);
    });

    it('is capped at maxDelay', () => {
      expect(delays(options({ type: 'linear', maxDelay: 250 }), 4)).toEqual([100, 200, 250, 250]);
    });

    it('ignores multiplier', () => {
      expect(delays(options({ type: 'linear', multiplier: 5 }), 3)).toEqual([100, 200, 300]);
    });
  });

  describe('fixed', () => {
    it('always waits initialDelay', () => {
      expect(delays(options({ type: 'fixed', initialDelay: 250 }), 4)).toEqual([
        250, 250, 250, 250,
      ]);
      expect(fixedDelay(70, 30_000)).toBe(70);
    });

    it('is capped at maxDelay', () => {
      expect(fixedDelay(500, 300)).toBe(300);
    });
  });

  it('baseDelay ignores jitter', () => {
    expect(baseDelay(options({ jitter: 'full' }), 3)).toBe(400);
    expect(baseDelay(options({ jitter: 'decorrelated', type: 'linear' }), 3)).toBe(300);
  });

  it('computeDelay with jitter none returns the base delay exactly', () => {
    for (const type of ['exponential', 'linear', 'fixed'] as const) {
      for (let n = 1; n <= 10; n++) {
        const o = options({ type, maxDelay: 5000 });
        expect(computeDelay(o, n, 100, neverCalled)).toBe(baseDelay(o, n));
      }
    }
  });
});
