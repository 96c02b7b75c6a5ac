import type { ResolvedBackoffOptions } from './backoff.interface';
import { baseDelay, computeDelay } from './backoff';
import { decorrelatedJitter, equalJitter, fullJitter } from './jitter';

/** A small seeded generator, so that the "many draws" tests are repeatable. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const fixed = (value: number) => () => value;
const DRAWS = 5000;

const options = (overrides: Partial<ResolvedBackoffOptions> = {}): ResolvedBackoffOptions => ({
  type: 'exponential',
  initialDelay: 100,
  maxDelay: 30_000,
  multiplier: 2,
  jitter: 'full',
  ...overrides,
});

describe('jitter', () => {
  describe('full', () => {
    it('maps random 0 to 0 and random 0.999 to just under the delay', () => {
      expect(fullJitter(400, fixed(0))).toBe(0);
      expect(fullJitter(400, fixed(0.999))).toBeCloseTo(399.6, 10);
    });

    it('stays within [0, d] over many draws and spreads over the range', () => {
      const random = seeded(1);
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < DRAWS; i++) {
        const d = fullJitter(800, random);
        min = Math.min(min, d);
        max = Math.max(max, d);
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThanOrEqual(800);
      expect(min).toBeLessThan(80);
      expect(max).toBeGreaterThan(720);
    });

    it('is applied by computeDelay to the capped base delay', () => {
      const o = options({ maxDelay: 300 });
      expect(computeDelay(o, 1, 100, fixed(0.5))).toBe(50);
      expect(computeDelay(o, 3, 100, fixed(0.5))).toBe(150); // base 400 capped at 300
      expect(computeDelay(o, 3, 100, fixed(0))).toBe(0);
    });
  });

  describe('equal', () => {
    it('maps random 0 to d/2 and random 0.999 to just under d', () => {
      expect(equalJitter(400, fixed(0))).toBe(200);
      expect(equalJitter(400, fixed(0.999))).toBeCloseTo(399.8, 10);
    });

    it('stays within [d/2, d] over many draws and spreads over the range', () => {
      const random = seeded(2);
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < DRAWS; i++) {
        const d = equalJitter(800, random);
        min = Math.min(min, d);
        max = Math.max(max, d);
      }
      expect(min).toBeGreaterThanOrEqual(400);
      expect(max).toBeLessThanOrEqual(800);
      expect(min).toBeLessThan(440);
      expect(max).toBeGreaterThan(760);
    });

    it('is applied by computeDelay to the base delay of the type', () => {
      const o = options({ type: 'linear', jitter: 'equal' });
      expect(computeDelay(o, 3, 100, fixed(0))).toBe(150);
      expect(computeDelay(o, 3, 100, fixed(0.5))).toBe(225);
    });
  });

  describe('decorrelated', () => {
    it('maps random 0 to initialDelay and random 0.999 to just under previous * 3', () => {
      expect(decorrelatedJitter(100, 100, 30_000, fixed(0))).toBe(100);
      expect(decorrelatedJitter(100, 100, 30_000, fixed(0.999))).toBeCloseTo(299.8, 10);
      expect(decorrelatedJitter(1000, 100, 30_000, fixed(0))).toBe(100);
      expect(decorrelatedJitter(1000, 100, 30_000, fixed(0.999))).toBeCloseTo(2997.1, 10);
    });

    it('is capped at maxDelay', () => {
      expect(decorrelatedJitter(20_000, 100, 30_000, fixed(0.999))).toBe(30_000);
      expect(decorrelatedJitter(20_000, 100, 30_000, fixed(0))).toBe(100);
    });

    it('chains over many draws within [initialDelay, min(maxDelay, previous * 3)]', () => {
      const random = seeded(3);
      const o = options({ jitter: 'decorrelated', initialDelay: 50, maxDelay: 5000 });
      let previous = o.initialDelay;
      let reachedCap = false;
      for (let i = 0; i < DRAWS; i++) {
        const d = computeDelay(o, (i % 10) + 1, previous, random);
        expect(d).toBeGreaterThanOrEqual(50);
        expect(d).toBeLessThanOrEqual(Math.min(5000, previous * 3));
        if (d > 4000) reachedCap = true;
        previous = d;
      }
      expect(reachedCap).toBe(true);
    });

    it('with random 0.999 grows by almost 3x per retry from initialDelay, then stays at maxDelay', () => {
      const o = options({ jitter: 'decorrelated', initialDelay: 100, maxDelay: 2000 });
      let previous = o.initialDelay;
      const seen: number[] = [];
      for (let n = 1; n <= 5; n++) {
        previous = computeDelay(o, n, previous, fixed(0.999));
        seen.push(Math.round(previous));
      }
      expect(seen).toEqual([300, 899, 2000, 2000, 2000]);
    });

    it('ignores type and multiplier', () => {
      const a = computeDelay(options({ jitter: 'decorrelated' }), 5, 100, fixed(0.5));
      const b = computeDelay(
        options({ jitter: 'decorrelated', type: 'fixed', multiplier: 7 }),
        5,
        100,
        fixed(0.5),
      );
      expect(a).toBe(200);
      expect(b).toBe(200);
      expect(baseDelay(options(), 5)).toBe(1600);
    });
  });
});
