import { LatencyWindow, percentile } from './latency-window';
import { serializeEvent, serializeError } from './serialize-event';
import { Ring } from './event-ring';

describe('LatencyWindow', () => {
  it('summarises each breaker over one interval, then starts afresh', () => {
    const window = new LatencyWindow();
    for (let ms = 1; ms <= 100; ms++) window.record('a', ms, ms % 10 === 0);
    window.record('b', 7.126, false);
    expect(window.flush()).toEqual({
      a: { calls: 100, failures: 10, mean: 50.5, p95: 95, p99: 99, max: 100 },
      b: { calls: 1, failures: 0, mean: 7.13, p95: 7.13, p99: 7.13, max: 7.13 },
    });
    expect(window.flush()).toEqual({});
  });

  it('ignores durations that are not numbers and clamps negative ones', () => {
    const window = new LatencyWindow();
    window.record('a', Number.NaN, false);
    window.record('a', -3, true);
    expect(window.flush()).toEqual({
      a: { calls: 1, failures: 1, mean: 0, p95: 0, p99: 0, max: 0 },
    });
  });

  it('keeps a bounded sample under load, with exact counts, mean and max', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const window = new LatencyWindow(500, random);
    for (let i = 0; i < 20_000; i++) window.record('a', i % 100, false);
    window.record('a', 1_000, false);
    const summary = window.flush().a;
    expect(summary).toMatchObject({ calls: 20_001, max: 1_000 });
    expect(summary.mean).toBeCloseTo((99 * 50 * 200 + 1_000) / 20_001, 1);
    // uniform data 0..99: the sampled p95 lands near 95
    expect(summary.p95).toBeGreaterThanOrEqual(90);
    expect(summary.p95).toBeLessThanOrEqual(99);
  });

  it('uses nearest-rank percentiles', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(percentile([5], 0.95)).toBe(5);
  });
});

describe('serializeEvent', () => {
  it('reduces errors to name and message, and dead letters to their identity', () => {
    const error = Object.assign(new RangeError('too far'), { secret: 'x' });
    expect(
      serializeEvent({ type: 'retry', name: 'r', at: 5, attempt: 1, delay: 10, error }, 7),
    ).toEqual({
      type: 'retry',
      name: 'r',
      at: 5,
      attempt: 1,
      delay: 10,
      error: { name: 'RangeError', message: 'too far' },
      seq: 7,
    });
    const letter = {
      id: 'l1',
      policy: 'p',
      target: 'A.b',
      args: [{ card: '4111' }],
      error: { name: 'Error', message: 'boom', stack: 'at …' },
      attempts: 3,
      failedAt: '2026-01-01T00:00:00.000Z',
    };
    const event = serializeEvent({ type: 'dead-letter', name: 'p', at: 1, letter }, 1);
    expect(event.letter).toEqual({
      id: 'l1',
      policy: 'p',
      target: 'A.b',
      attempts: 3,
      failedAt: '2026-01-01T00:00:00.000Z',
      error: { name: 'Error', message: 'boom' },
    });
    expect(JSON.stringify(event)).not.toContain('4111');
  });

  it('survives anything thrown', () => {
    expect(serializeError('plain')).toEqual({ name: 'string', message: 'plain' });
    expect(serializeError(undefined)).toEqual({ name: 'undefined', message: 'undefined' });
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('no reading');
        },
      },
    );
    expect(serializeError(hostile)).toEqual({ name: 'Unreadable', message: 'Error: no reading' });
    expect(serializeError(new Error('x'.repeat(5_000))).message).toHaveLength(1_001);
  });
});

describe('Ring', () => {
  it('keeps the last items, oldest first', () => {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).toEqual([]);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.toArray()).toEqual([3, 4, 5]);
    expect(ring.size).toBe(3);
    ring.clear();
    expect(ring.toArray()).toEqual([]);
  });
});
