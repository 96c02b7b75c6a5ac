import { AggregatorRegistry, Registry } from 'prom-client';
import { CallDurationHistogram, DurationSeries } from './call-duration.histogram';

describe('CallDurationHistogram', () => {
  const bounds = [0.01, 0.1, 1];
  const setup = () => {
    const registry = new Registry();
    const fast = new DurationSeries({ name: 'a', result: 'success' }, bounds);
    const slow = new DurationSeries({ name: 'a', result: 'failure' }, bounds);
    const histogram = new CallDurationHistogram(
      {
        name: 'd_seconds',
        help: 'durations',
        labelNames: ['name', 'result'],
        buckets: bounds,
        registers: [registry],
      },
      () => [fast, slow],
    );
    return { registry, fast, slow, histogram };
  };

  it('counts a value on a bound in that bucket (le is inclusive), above the last only in +Inf', async () => {
    const { registry, fast, slow } = setup();
    for (const seconds of [0, 0.01, 0.05, 0.1]) fast.observe(seconds);
    slow.observe(1.5);
    expect(await registry.metrics()).toBe(
      [
        '# HELP d_seconds durations',
        '# TYPE d_seconds histogram',
        'd_seconds_bucket{name="a",result="success",le="0.01"} 2',
        'd_seconds_bucket{name="a",result="success",le="0.1"} 4',
        'd_seconds_bucket{name="a",result="success",le="1"} 4',
        'd_seconds_bucket{name="a",result="success",le="+Inf"} 4',
        'd_seconds_sum{name="a",result="success"} 0.16',
        'd_seconds_count{name="a",result="success"} 4',
        'd_seconds_bucket{name="a",result="failure",le="0.01"} 0',
        'd_seconds_bucket{name="a",result="failure",le="0.1"} 0',
        'd_seconds_bucket{name="a",result="failure",le="1"} 0',
        'd_seconds_bucket{name="a",result="failure",le="+Inf"} 1',
        'd_seconds_sum{name="a",result="failure"} 1.5',
        'd_seconds_count{name="a",result="failure"} 1',
        '',
      ].join('\n'),
    );
  });

  it('reads the same through getMetricsAsJSON(), so cluster aggregation sums it', async () => {
    const { registry, fast } = setup();
    fast.observe(0.05);
    const json = await registry.getMetricsAsJSON();
    expect(json).toEqual([
      expect.objectContaining({ name: 'd_seconds', type: 'histogram', aggregator: 'sum' }),
    ]);
    const merged = AggregatorRegistry.aggregate([json, json]);
    expect(await merged.metrics()).toContain(
      'd_seconds_bucket{name="a",result="success",le="0.1"} 2',
    );
  });

  it('lists nothing without series, and is a registered prom-client Histogram', async () => {
    const registry = new Registry();
    const histogram = new CallDurationHistogram(
      { name: 'empty_seconds', help: 'h', labelNames: ['name'], registers: [registry] },
      () => [],
    );
    expect(registry.getSingleMetric('empty_seconds')).toBe(histogram);
    expect(await registry.metrics()).toBe(
      '# HELP empty_seconds h\n# TYPE empty_seconds histogram\n',
    );
  });
});
