import { FakeClock } from '../../test/utils/fake-clock';
import { configErrorOf } from '../../test/utils/config-error';
import { rejectionOf, settle } from '../../test/utils/promises';
import { CircuitBreakerPolicy } from '../circuit-breaker/circuit-breaker.policy';
import { CallContext } from '../common/call-context';
import { wrap } from '../common/compose';
import { CallAbortedError, CircuitOpenError, TimeoutError } from '../common/errors';
import type { ChaosEvent, ResilienceEvent } from '../common/events';
import { RetryPolicy } from '../retry/retry.policy';
import { TimeoutPolicy } from '../timeout/timeout.policy';
import { ChaosOptions, resolveChaosOptions } from './chaos.options';
import { ChaosPolicy } from './chaos.policy';

/** A random source that returns `values` in turn (then repeats the last one). */
const scripted = (...values: number[]) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
};

/** A small seeded generator (mulberry32), for rate checks over many calls. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class InjectedError extends Error {
  override name = 'InjectedError';
}

function setup(options: ChaosOptions, random: () => number = () => 0) {
  const clock = new FakeClock();
  const policy = new ChaosPolicy('svc.chaos', options, { clock }, random);
  const events: ChaosEvent[] = [];
  policy.onEvent((event: ResilienceEvent) => {
    if (event.type === 'chaos') events.push(event);
  });
  return { clock, policy, events };
}

describe('resolveChaosOptions', () => {
  const fault = () => new InjectedError('boom');

  it.each([
    [{ rate: -0.1, fault }, 'rate'],
    [{ rate: 1.5, fault }, 'rate'],
    [{ rate: Number.NaN, fault }, 'rate'],
    [{ fault }, 'rate'],
    [{ rate: 0.5 }, 'fault'],
    [{ rate: 0.5, fault, result: () => 1 }, 'result'],
    [{ rate: 0.5, fault: new Error('not a factory') }, 'fault'],
    [{ rate: 0.5, latency: -1 }, 'latency'],
    [{ rate: 0.5, fault: InjectedError }, 'fault'], // the class, not a factory
    [{ rate: 0.5, latency: 0 }, 'fault'], // a zero delay alone injects nothing
    [{ rate: 0.5, latency: 10, enabled: 'yes' }, 'enabled'],
    [{ rate: 0.5, latncy: 10 }, 'latncy'],
  ])('rejects %p naming the key %s', (options, key) => {
    const error = configErrorOf(() => resolveChaosOptions('svc.chaos', options as never));
    expect(error.key).toBe(key);
    expect(error.message).toContain('svc.chaos');
    expect(error.message).toContain(`"${key}"`);
  });

  it('names the class and shows the factory to write when a class is given as fault', () => {
    const error = configErrorOf(() =>
      resolveChaosOptions('svc.chaos', { rate: 1, fault: InjectedError as never }),
    );
    expect(error.message).toContain('() => new InjectedError()');
  });

  it('accepts the rates 0 and 1 and latency combined with a fault or a result', () => {
    expect(resolveChaosOptions('a', { rate: 0, fault })).toMatchObject({ rate: 0, latency: 0 });
    expect(resolveChaosOptions('a', { rate: 1, latency: 5, fault })).toMatchObject({
      rate: 1,
      latency: 5,
      enabled: true,
    });
    expect(resolveChaosOptions('a', { rate: 1, latency: 5, result: () => 1 }).latency).toBe(5);
  });
});

describe('ChaosPolicy', () => {
  it('injects the fault into the calls whose random draw is below the rate', async () => {
    const { policy } = setup(
      { rate: 0.5, fault: () => new InjectedError('injected') },
      scripted(0.1, 0.9, 0.49999, 0.5),
    );
    const work = jest.fn(() => 'real');
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await policy.execute(work).catch((e: Error) => e));
    expect(outcomes[0]).toBeInstanceOf(InjectedError);
    expect(outcomes[1]).toBe('real');
    expect(outcomes[2]).toBeInstanceOf(InjectedError);
    expect(outcomes[3]).toBe('real'); // 0.5 is not below 0.5
    expect(work).toHaveBeenCalledTimes(2);
    expect(policy.stats()).toEqual({
      enabled: true,
      rate: 0.5,
      calls: 4,
      injected: 2,
      faults: 2,
      results: 0,
      delayed: 0,
    });
  });

  it('injects into about `rate` of many calls with a seeded random source', async () => {
    const { policy } = setup({ rate: 0.2, result: () => 'fake' }, seeded(42));
    let fakes = 0;
    for (let i = 0; i < 5_000; i++) if ((await policy.execute(() => 'real')) === 'fake') fakes++;
    expect(fakes).toBe(policy.stats().results);
    expect(fakes / 5_000).toBeGreaterThan(0.18);
    expect(fakes / 5_000).toBeLessThan(0.22);
  });

  it('rate 0 never injects and rate 1 always does', async () => {
    const never = setup({ rate: 0, fault: () => new InjectedError('x') }, () => 0);
    await expect(never.policy.execute(() => 'real')).resolves.toBe('real');
    const always = setup({ rate: 1, fault: () => new InjectedError('x') }, () => 0.999999);
    await expect(always.policy.execute(() => 'real')).rejects.toBeInstanceOf(InjectedError);
  });

  it('calls the work synchronously when the call gets no fault', () => {
    const { policy } = setup({ rate: 0.5, fault: () => new InjectedError('x') }, () => 0.9);
    const work = jest.fn(() => 'real');
    void policy.execute(work);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('hands the method arguments to the fault and result factories', async () => {
    const fault = jest.fn((id: string) => new InjectedError(`no ${id}`));
    const failing = setup({ rate: 1, fault });
    const error = await rejectionOf(failing.policy.run(() => 'real', undefined, ['c1', 2]));
    expect(fault).toHaveBeenCalledWith('c1', 2);
    expect(error.message).toBe('no c1');

    const result = jest.fn((id: string) => ({ id, fake: true }));
    const answering = setup({ rate: 1, result });
    const work = jest.fn();
    await expect(answering.policy.run(work, undefined, ['c2'])).resolves.toEqual({
      id: 'c2',
      fake: true,
    });
    expect(work).not.toHaveBeenCalled();
  });

  it('fails with what the fault factory throws, too', async () => {
    const thrown = new InjectedError('thrown');
    const { policy } = setup({
      rate: 1,
      fault: () => {
        throw thrown;
      },
    });
    await expect(policy.execute(() => 'real')).rejects.toBe(thrown);
  });

  it('delays the call by `latency` on the scheduler, then runs the work', async () => {
    const { clock, policy, events } = setup({ rate: 1, latency: 300 });
    const work = jest.fn(() => 'real');
    const outcome = settle(policy.execute(work), clock);
    await clock.advance(299);
    expect(work).not.toHaveBeenCalled();
    expect(outcome.settled).toBe(false);
    await clock.advance(1);
    expect(outcome).toMatchObject({ status: 'resolved', value: 'real', at: clock.now() });
    expect(events).toEqual([
      { type: 'chaos', name: 'svc.chaos', outcome: 'latency', latency: 300, at: clock.now() - 300 },
    ]);
    expect(policy.stats()).toMatchObject({ injected: 1, delayed: 1, faults: 0 });
  });

  it('with latency and a fault, fails after the delay', async () => {
    const { clock, policy, events } = setup({
      rate: 1,
      latency: 100,
      fault: () => new InjectedError('late'),
    });
    const work = jest.fn();
    const outcome = settle(policy.execute(work), clock);
    await clock.advance(99);
    expect(outcome.settled).toBe(false);
    await clock.advance(1);
    expect(outcome.status).toBe('rejected');
    expect(outcome.error).toBeInstanceOf(InjectedError);
    expect(work).not.toHaveBeenCalled();
    expect(events[0]).toMatchObject({ outcome: 'fault', latency: 100 });
  });

  it('stops an injected delay when the call is cancelled, and clears its timer', async () => {
    const { clock, policy } = setup({ rate: 1, latency: 1_000 });
    const controller = new AbortController();
    const work = jest.fn();
    const outcome = settle(policy.execute(work, controller.signal), clock);
    await clock.advance(10);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error('caller left');
    controller.abort(reason);
    await clock.advance(0);
    expect(outcome).toMatchObject({ status: 'rejected', error: reason });
    expect(clock.pendingTimers).toBe(0);
    expect(work).not.toHaveBeenCalled();
  });

  it('fails at once when the call is already cancelled', async () => {
    const { clock, policy } = setup({ rate: 1, latency: 1_000 });
    const context = new CallContext();
    context.abort();
    await expect(policy.run(() => 'real', context)).rejects.toBeInstanceOf(CallAbortedError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('dispose() ends every injected delay with CallAbortedError', async () => {
    const { clock, policy } = setup({ rate: 1, latency: 1_000 });
    const outcome = settle(policy.execute(() => 'real'));
    await clock.advance(1);
    policy.dispose();
    await clock.advance(0);
    expect(outcome.error).toBeInstanceOf(CallAbortedError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('is switched at run time: disable(), enable(), setRate(), update()', async () => {
    const { policy } = setup({ rate: 1, fault: () => new InjectedError('x') });
    policy.disable();
    await expect(policy.execute(() => 'real')).resolves.toBe('real');
    expect(policy.stats()).toMatchObject({ enabled: false, calls: 1, injected: 0 });
    policy.enable().setRate(0);
    await expect(policy.execute(() => 'real')).resolves.toBe('real');
    policy.setRate(1);
    await expect(policy.execute(() => 'real')).rejects.toBeInstanceOf(InjectedError);
    policy.update({ fault: undefined, result: () => 'fake' });
    await expect(policy.execute(() => 'real')).resolves.toBe('fake');
    expect(policy.stats()).toMatchObject({ enabled: true, rate: 1, injected: 2 });
  });

  it('refuses a bad run-time change and keeps its options', () => {
    const { policy } = setup({ rate: 0.3, fault: () => new InjectedError('x') });
    expect(configErrorOf(() => policy.setRate(2)).key).toBe('rate');
    expect(configErrorOf(() => policy.update({ result: () => 1 })).key).toBe('result');
    expect(policy.rate).toBe(0.3);
    expect(policy.options.result).toBeUndefined();
  });

  it('can start disabled', async () => {
    const { policy } = setup({ rate: 1, fault: () => new InjectedError('x'), enabled: false });
    expect(policy.enabled).toBe(false);
    await expect(policy.execute(() => 'real')).resolves.toBe('real');
  });
});

describe('ChaosPolicy inside other policies', () => {
  it('a retry retries an injected fault', async () => {
    const clock = new FakeClock();
    const chaos = new ChaosPolicy(
      'c',
      { rate: 0.5, fault: () => new InjectedError('x') },
      { clock },
      scripted(0.1, 0.1, 0.9),
    );
    const retry = new RetryPolicy(
      'r',
      { maxAttempts: 3, backoff: { type: 'fixed', initialDelay: 10, jitter: 'none' } },
      { clock },
    );
    const work = jest.fn(() => 'real');
    const outcome = settle(wrap(retry, chaos).execute(work), clock);
    await clock.advance(20);
    expect(outcome).toMatchObject({ status: 'resolved', value: 'real' });
    expect(work).toHaveBeenCalledTimes(1);
    expect(retry.stats()).toMatchObject({ successWithRetry: 1, attempts: 3 });
  });

  it('a circuit breaker counts injected faults and opens', async () => {
    const clock = new FakeClock();
    const chaos = new ChaosPolicy('c', { rate: 1, fault: () => new InjectedError('x') }, { clock });
    const breaker = new CircuitBreakerPolicy('b', { failureThreshold: 3 }, { clock });
    const set = wrap(breaker, chaos);
    for (let i = 0; i < 3; i++) await expect(set.execute(() => 'real')).rejects.toThrow('x');
    expect(breaker.state).toBe('open');
    await expect(set.execute(() => 'real')).rejects.toBeInstanceOf(CircuitOpenError);
    expect(chaos.stats().calls).toBe(3); // the open breaker kept the fourth call away
  });

  it('a timeout cuts an injected delay and the delay timer is cleared', async () => {
    const clock = new FakeClock();
    const chaos = new ChaosPolicy('c', { rate: 1, latency: 5_000 }, { clock });
    const timeout = new TimeoutPolicy('t', { timeout: 100 }, { clock });
    const work = jest.fn(() => 'real');
    const outcome = settle(wrap(timeout, chaos).execute(work), clock);
    await clock.advance(100);
    expect(outcome.status).toBe('rejected');
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(outcome.at).toBe(clock.now());
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(10_000);
    expect(work).not.toHaveBeenCalled();
  });
});
