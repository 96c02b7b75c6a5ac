import { FakeClock } from '../../test/utils/fake-clock';
import { CallContext } from '../common/call-context';
import {
  BulkheadRejectedError,
  CallAbortedError,
  CircuitOpenError,
  RateLimitedError,
  ResilienceConfigError,
  TimeoutError,
} from '../common/errors';
import type { ResilienceEvent, RetryEvent } from '../common/events';
import { RetryPolicy } from './retry.policy';
import { defaultRetryOn, resolveRetryOptions, RetryOptions } from './retry.options';

const NO_JITTER = { jitter: 'none' } as const;

/** A function that fails `failures` times (with the given errors, or fresh ones), then returns 'ok'. */
function flaky(failures: number, errors?: unknown[]) {
  const contexts: CallContext[] = [];
  const fn = jest.fn((context: CallContext): Promise<string> => {
    contexts.push(context);
    const n = contexts.length;
    if (n <= failures) return Promise.reject(errors?.[n - 1] ?? new Error(`failure ${n}`));
    return Promise.resolve('ok');
  });
  return { fn, contexts };
}

function setup(options: RetryOptions = {}, random?: () => number) {
  const clock = new FakeClock();
  const policy = new RetryPolicy('svc.retry', options, { clock }, random);
  const events: RetryEvent[] = [];
  policy.onEvent((event: ResilienceEvent) => {
    if (event.type === 'retry') events.push(event);
  });
  return { clock, policy, events };
}

describe('RetryPolicy', () => {
  it('calls fn synchronously for the first attempt', () => {
    const { policy } = setup();
    const fn = jest.fn(() => 'value');
    const result = policy.run(fn, undefined);
    expect(fn).toHaveBeenCalledTimes(1);
    return expect(result).resolves.toBe('value');
  });

  it('passes the caller context to every attempt', async () => {
    const { policy, clock } = setup({ backoff: { ...NO_JITTER, type: 'fixed', initialDelay: 10 } });
    const { fn, contexts } = flaky(2);
    const context = new CallContext();
    const result = policy.run(fn, context);
    await clock.advance(10);
    await clock.advance(10);
    await expect(result).resolves.toBe('ok');
    expect(contexts).toEqual([context, context, context]);
  });

  it('gives every attempt of one call the same context when the caller has none', async () => {
    const { policy, clock } = setup({ backoff: { ...NO_JITTER, initialDelay: 0 } });
    const { fn, contexts } = flaky(1);
    const result = policy.run(fn, undefined);
    await clock.advance(0);
    await expect(result).resolves.toBe('ok');
    expect(contexts).toHaveLength(2);
    expect(contexts[0]).toBeInstanceOf(CallContext);
    expect(contexts[1]).toBe(contexts[0]);
  });

  describe('maxAttempts', () => {
    it('makes exactly maxAttempts calls and rethrows the last error as the same object', async () => {
      const errors = [new Error('1'), new TypeError('2'), new RangeError('3')];
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const { fn } = flaky(10, errors);
      const result = policy.run(fn, undefined);
      const assertion = expect(result).rejects.toBe(errors[2]);
      await clock.advance(100);
      await clock.advance(200);
      await assertion;
      expect(fn).toHaveBeenCalledTimes(3);
      await clock.advance(100_000);
      expect(fn).toHaveBeenCalledTimes(3);
      expect(clock.pendingTimers).toBe(0);
    });

    it('keeps the class of the rethrown error', async () => {
      class DbError extends Error {}
      const error = new DbError('down');
      const { policy, clock } = setup({ maxAttempts: 2, backoff: NO_JITTER });
      const result = policy.run(() => Promise.reject(error), undefined);
      const assertion = expect(result).rejects.toBeInstanceOf(DbError);
      await clock.advance(100);
      await assertion;
      await expect(result).rejects.toBe(error);
    });

    it('succeeds on the last allowed attempt', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const { fn } = flaky(2);
      const result = policy.run(fn, undefined);
      await clock.advance(100);
      await clock.advance(200);
      await expect(result).resolves.toBe('ok');
      expect(fn).toHaveBeenCalledTimes(3);
    });

    it('maxAttempts 1 never retries and starts no timer', async () => {
      const { policy, clock, events } = setup({ maxAttempts: 1 });
      const error = new Error('once');
      const fn = jest.fn(() => Promise.reject(error));
      await expect(policy.run(fn, undefined)).rejects.toBe(error);
      expect(fn).toHaveBeenCalledTimes(1);
      expect(clock.pendingTimers).toBe(0);
      expect(events).toHaveLength(0);
    });

    it('retries a synchronous throw like a rejection', async () => {
      const { policy, clock } = setup({ maxAttempts: 2, backoff: NO_JITTER });
      let n = 0;
      const result = policy.run(() => {
        if (++n === 1) throw new Error('sync');
        return 'second';
      }, undefined);
      await clock.advance(100);
      await expect(result).resolves.toBe('second');
    });
  });

  describe('default retryOn', () => {
    it.each([
      ['CircuitOpenError', new CircuitOpenError('cb', 1000)],
      ['BulkheadRejectedError', new BulkheadRejectedError('bh', 'full')],
      ['RateLimitedError', new RateLimitedError('rl', 500)],
    ])('does not retry %s', async (_name, error) => {
      const { policy, clock } = setup({ maxAttempts: 5 });
      const fn = jest.fn(() => Promise.reject(error));
      await expect(policy.run(fn, undefined)).rejects.toBe(error);
      expect(fn).toHaveBeenCalledTimes(1);
      expect(clock.pendingTimers).toBe(0);
    });

    it('does not retry subclasses of those errors (recognised by class)', () => {
      class QuotaExceededError extends RateLimitedError {}
      class PoolFullError extends BulkheadRejectedError {}
      class TrippedError extends CircuitOpenError {}
      expect(defaultRetryOn(new QuotaExceededError('rl', 1))).toBe(false);
      expect(defaultRetryOn(new PoolFullError('bh', 'full'))).toBe(false);
      expect(defaultRetryOn(new TrippedError('cb', 1))).toBe(false);
      expect(new QuotaExceededError('rl', 1).name).toBe('QuotaExceededError');
    });

    it('does not retry the same errors coming from another copy of the package', async () => {
      // a second copy has other classes but the same names and brand
      class CircuitOpenError extends Error {
        readonly isResilienceError = true;
        constructor() {
          super('open');
          this.name = 'CircuitOpenError';
        }
      }
      const foreign = new CircuitOpenError();
      expect(defaultRetryOn(foreign)).toBe(false);
      const { policy } = setup({ maxAttempts: 5 });
      const fn = jest.fn(() => Promise.reject(foreign));
      await expect(policy.run(fn, undefined)).rejects.toBe(foreign);
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it('retries an unbranded error that merely shares the name', () => {
      const lookalike = Object.assign(new Error('x'), { name: 'RateLimitedError' });
      expect(defaultRetryOn(lookalike)).toBe(true);
    });

    it('retries other errors, TimeoutError and non-Error values included', async () => {
      expect(defaultRetryOn(new TimeoutError('t', 10))).toBe(true);
      expect(defaultRetryOn('a string')).toBe(true);
      expect(defaultRetryOn(undefined)).toBe(true);
      const { policy, clock } = setup({ maxAttempts: 2, backoff: NO_JITTER });
      const { fn } = flaky(1, [new TimeoutError('t', 10)]);
      const result = policy.run(fn, undefined);
      await clock.advance(100);
      await expect(result).resolves.toBe('ok');
    });

    it('never retries once the context was aborted', async () => {
      const { policy, clock } = setup({ maxAttempts: 5 });
      const context = new CallContext();
      const error = new Error('work failed');
      const fn = jest.fn(() => {
        context.abort(new Error('cancelled'));
        return Promise.reject(error);
      });
      await expect(policy.run(fn, context)).rejects.toBe(error);
      expect(fn).toHaveBeenCalledTimes(1);
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('retryOn', () => {
    it('receives the error and the 1-based number of the call that just failed', async () => {
      const errors = [new Error('a'), new Error('b'), new Error('c')];
      const retryOn = jest.fn(() => true);
      const { policy, clock, events } = setup({ maxAttempts: 3, backoff: NO_JITTER, retryOn });
      const result = policy.run(flaky(3, errors).fn, undefined);
      const assertion = expect(result).rejects.toBe(errors[2]);
      await clock.advance(100);
      await clock.advance(200);
      await assertion;
      // the third failure is the last allowed call: nothing left to decide
      expect(retryOn.mock.calls).toEqual([
        [errors[0], 1],
        [errors[1], 2],
      ]);
      expect(events.map((e) => [e.attempt, e.error])).toEqual([
        [1, errors[0]],
        [2, errors[1]],
      ]);
    });

    it('stops when it returns false', async () => {
      const { policy, clock } = setup({
        maxAttempts: 5,
        backoff: NO_JITTER,
        retryOn: (_e, attempt) => attempt < 2,
      });
      const { fn } = flaky(10);
      const result = policy.run(fn, undefined);
      const assertion = expect(result).rejects.toThrow('failure 2');
      await clock.advance(100);
      await assertion;
      expect(fn).toHaveBeenCalledTimes(2);
    });

    it('replaces the default rule', async () => {
      const { policy, clock } = setup({ maxAttempts: 2, backoff: NO_JITTER, retryOn: () => true });
      const { fn } = flaky(1, [new CircuitOpenError('cb', 10)]);
      const result = policy.run(fn, undefined);
      await clock.advance(100);
      await expect(result).resolves.toBe('ok');
      expect(fn).toHaveBeenCalledTimes(2);
    });

    it('counts as false when it throws, and the call fails with its own error', async () => {
      const error = new Error('work');
      const { policy } = setup({
        maxAttempts: 3,
        retryOn: () => {
          throw new Error('broken predicate');
        },
      });
      const fn = jest.fn(() => Promise.reject(error));
      await expect(policy.run(fn, undefined)).rejects.toBe(error);
      expect(fn).toHaveBeenCalledTimes(1);
    });
  });

  describe('backoff delays', () => {
    it.each([
      ['exponential', [100, 200, 400, 800]],
      ['linear', [100, 200, 300, 400]],
      ['fixed', [100, 100, 100, 100]],
    ] as const)('%s waits %j ms with jitter none', async (type, expected) => {
      const { policy, clock, events } = setup({ maxAttempts: 5, backoff: { ...NO_JITTER, type } });
      const { fn } = flaky(4);
      const result = policy.run(fn, undefined);
      for (let i = 0; i < expected.length; i++) {
        await clock.advance(expected[i] - 1);
        expect(fn).toHaveBeenCalledTimes(i + 1);
        await clock.advance(1);
        expect(fn).toHaveBeenCalledTimes(i + 2);
      }
      await expect(result).resolves.toBe('ok');
      expect(events.map((e) => e.delay)).toEqual(expected);
    });

    it('caps delays at maxDelay', async () => {
      const { policy, clock, events } = setup({
        maxAttempts: 5,
        backoff: { ...NO_JITTER, initialDelay: 100, maxDelay: 250 },
      });
      const result = policy.run(flaky(4).fn, undefined);
      await clock.advance(100 + 200 + 250 + 250);
      await expect(result).resolves.toBe('ok');
      expect(events.map((e) => e.delay)).toEqual([100, 200, 250, 250]);
    });

    it('uses the injected random source for jitter', async () => {
      const { policy, clock, events } = setup(
        { maxAttempts: 3, backoff: { jitter: 'full' } },
        () => 0.5,
      );
      const { fn } = flaky(2);
      const result = policy.run(fn, undefined);
      await clock.advance(49);
      expect(fn).toHaveBeenCalledTimes(1);
      await clock.advance(1);
      expect(fn).toHaveBeenCalledTimes(2);
      await clock.advance(100);
      await expect(result).resolves.toBe('ok');
      expect(events.map((e) => e.delay)).toEqual([50, 100]);
    });

    it('with full jitter and random 0 retries after a zero delay', async () => {
      const { policy, clock, events } = setup({ maxAttempts: 2 }, () => 0);
      const result = policy.run(flaky(1).fn, undefined);
      await clock.advance(0);
      await expect(result).resolves.toBe('ok');
      expect(events[0].delay).toBe(0);
    });

    it('feeds each decorrelated delay into the next one', async () => {
      const { policy, clock, events } = setup(
        { maxAttempts: 4, backoff: { jitter: 'decorrelated', initialDelay: 100, maxDelay: 1000 } },
        () => 1,
      );
      const result = policy.run(flaky(3).fn, undefined);
      await clock.advance(300 + 900 + 1000);
      await expect(result).resolves.toBe('ok');
      expect(events.map((e) => e.delay)).toEqual([300, 900, 1000]);
    });

    it('restarts the decorrelated chain for every call', async () => {
      const { policy, clock, events } = setup(
        { maxAttempts: 2, backoff: { jitter: 'decorrelated', initialDelay: 100 } },
        () => 1,
      );
      for (let i = 0; i < 2; i++) {
        const result = policy.run(flaky(1).fn, undefined);
        await clock.advance(300);
        await expect(result).resolves.toBe('ok');
      }
      expect(events.map((e) => e.delay)).toEqual([300, 300]);
    });

    it('emits the retry event before the wait, with name, attempt, delay, error and time', async () => {
      const { policy, clock, events } = setup({ maxAttempts: 2, backoff: NO_JITTER });
      const error = new Error('boom');
      const start = clock.now();
      const result = policy.run(flaky(1, [error]).fn, undefined);
      await clock.advance(0);
      expect(events).toEqual([
        { type: 'retry', name: 'svc.retry', attempt: 1, delay: 100, error, at: start },
      ]);
      await clock.advance(100);
      await expect(result).resolves.toBe('ok');
      expect(events).toHaveLength(1);
    });
  });

  describe('cancellation', () => {
    it('an abort during the backoff rejects at once with the reason and clears the timer', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const context = new CallContext();
      const { fn } = flaky(10);
      const result = policy.run(fn, context);
      const reason = new Error('caller gave up');
      const assertion = expect(result).rejects.toBe(reason);
      await clock.advance(50);
      expect(clock.pendingTimers).toBe(1);
      context.abort(reason);
      await assertion;
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(10_000);
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it('a non-Error abort reason becomes CallAbortedError with the reason as cause', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const context = new CallContext();
      const result = policy.run(flaky(10).fn, context);
      const caught = result.catch((e: unknown) => e);
      await clock.advance(10);
      context.abort('shutdown');
      const error = (await caught) as CallAbortedError;
      expect(error).toBeInstanceOf(CallAbortedError);
      expect(error.policyName).toBe('svc.retry');
      expect(error.cause).toBe('shutdown');
    });

    it('an AbortSignal given to execute() stops the backoff', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const controller = new AbortController();
      const { fn } = flaky(10);
      const result = policy.execute(fn, controller.signal);
      const caught = result.catch((e: unknown) => e);
      await clock.advance(10);
      controller.abort();
      const error = (await caught) as Error;
      expect(error.name).toBe('AbortError');
      expect(clock.pendingTimers).toBe(0);
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it('unsubscribes from the context after each wait', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const context = new CallContext();
      const original = context.onAbort.bind(context);
      const unsubscribers: jest.Mock[] = [];
      context.onAbort = (listener) => {
        const unsubscribe = jest.fn(original(listener));
        unsubscribers.push(unsubscribe);
        return unsubscribe;
      };
      const result = policy.run(flaky(2).fn, context);
      await clock.advance(300);
      await expect(result).resolves.toBe('ok');
      expect(unsubscribers).toHaveLength(2);
      for (const unsubscribe of unsubscribers) expect(unsubscribe).toHaveBeenCalledTimes(1);
    });
  });

  describe('dispose', () => {
    it('ends a waiting retry: the call rejects with its last error and the timer is cleared', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      const error = new Error('last');
      const fn = jest.fn(() => Promise.reject(error));
      const result = policy.run(fn, undefined);
      const assertion = expect(result).rejects.toBe(error);
      await clock.advance(10);
      expect(clock.pendingTimers).toBe(1);
      policy.dispose();
      await assertion;
      expect(clock.pendingTimers).toBe(0);
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it('after dispose, calls still run once but are not retried', async () => {
      const { policy, clock } = setup({ maxAttempts: 3 });
      policy.dispose();
      const { fn } = flaky(1);
      await expect(policy.run(fn, undefined)).rejects.toThrow('failure 1');
      expect(fn).toHaveBeenCalledTimes(1);
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('stats', () => {
    it('counts calls, outcomes and attempts', async () => {
      const { policy, clock } = setup({ maxAttempts: 3, backoff: NO_JITTER });
      expect(policy.stats()).toEqual({
        calls: 0,
        successWithoutRetry: 0,
        successWithRetry: 0,
        failedWithRetry: 0,
        failedWithoutRetry: 0,
        attempts: 0,
      });

      await policy.run(flaky(0).fn, undefined); // 1 attempt, success

      const retried = policy.run(flaky(1).fn, undefined); // 2 attempts, success
      await clock.advance(100);
      await retried;

      const exhausted = policy.run(flaky(10).fn, undefined); // 3 attempts, failure
      const exhaustedDone = exhausted.catch(() => undefined);
      await clock.advance(300);
      await exhaustedDone;

      const rejected = policy.run(() => Promise.reject(new CircuitOpenError('cb', 1)), undefined);
      await rejected.catch(() => undefined); // 1 attempt, not retried

      const context = new CallContext();
      const aborted = policy.run(flaky(10).fn, context); // 1 attempt, aborted while waiting
      const abortedDone = aborted.catch(() => undefined);
      await clock.advance(1);
      context.abort(new Error('stop'));
      await abortedDone;

      const stats = policy.stats();
      expect(stats).toEqual({
        calls: 5,
        successWithoutRetry: 1,
        successWithRetry: 1,
        failedWithRetry: 1,
        failedWithoutRetry: 2,
        attempts: 8,
      });
      expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
    });

    it('returns a copy', () => {
      const { policy } = setup();
      const stats = policy.stats();
      stats.calls = 99;
      expect(policy.stats().calls).toBe(0);
    });
  });
});

describe('resolveRetryOptions', () => {
  it('applies the defaults', () => {
    expect(resolveRetryOptions('r', undefined)).toEqual({
      maxAttempts: 3,
      backoff: {
        type: 'exponential',
        initialDelay: 100,
        maxDelay: 30_000,
        multiplier: 2,
        jitter: 'full',
      },
      retryOn: undefined,
    });
    expect(new RetryPolicy('r').kind).toBe('retry');
  });

  it('keeps given values and fills in the rest of backoff', () => {
    const retryOn = () => true;
    expect(
      resolveRetryOptions('r', {
        maxAttempts: 7,
        backoff: { type: 'linear', maxDelay: 500 },
        retryOn,
      }),
    ).toEqual({
      maxAttempts: 7,
      backoff: { type: 'linear', initialDelay: 100, maxDelay: 500, multiplier: 2, jitter: 'full' },
      retryOn,
    });
  });

  it.each([
    ['maxAttempts', { maxAttempts: 0 }, 0],
    ['maxAttempts', { maxAttempts: 1.5 }, 1.5],
    ['maxAttempts', { maxAttempts: '3' }, '3'],
    ['backoff', { backoff: 5 }, 5],
    ['backoff.type', { backoff: { type: 'random' } }, 'random'],
    ['backoff.initialDelay', { backoff: { initialDelay: -1 } }, -1],
    ['backoff.initialDelay', { backoff: { initialDelay: NaN } }, NaN],
    ['backoff.maxDelay', { backoff: { maxDelay: Infinity } }, Infinity],
    ['backoff.maxDelay', { backoff: { maxDelay: 2 ** 31 } }, 2 ** 31],
    ['backoff.multiplier', { backoff: { multiplier: 0.5 } }, 0.5],
    ['backoff.jitter', { backoff: { jitter: 'half' } }, 'half'],
    ['retryOn', { retryOn: true }, true],
    ['maxAtempts', { maxAtempts: 3 }, 3],
    ['backoff.delay', { backoff: { delay: 3 } }, 3],
  ])('rejects a bad %s', (key, options, value) => {
    let error: ResilienceConfigError | undefined;
    try {
      new RetryPolicy('Payments.charge', options as RetryOptions);
    } catch (e) {
      error = e as ResilienceConfigError;
    }
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error!.policyName).toBe('Payments.charge');
    expect(error!.key).toBe(key);
    expect(error!.value).toEqual(value);
    expect(error!.message).toContain('"Payments.charge"');
    expect(error!.message).toContain(`"${key}"`);
  });

  it('names maxDelay when it is set below initialDelay', () => {
    expect(() =>
      resolveRetryOptions('r', { backoff: { initialDelay: 500, maxDelay: 200 } }),
    ).toThrow(expect.objectContaining({ key: 'backoff.maxDelay', value: 200 }));
  });

  it('names initialDelay when it exceeds the default maxDelay', () => {
    expect(() => resolveRetryOptions('r', { backoff: { initialDelay: 60_000 } })).toThrow(
      expect.objectContaining({ key: 'backoff.initialDelay', value: 60_000 }),
    );
  });

  it('accepts maxDelay equal to initialDelay and initialDelay 0', () => {
    expect(
      resolveRetryOptions('r', { backoff: { initialDelay: 50, maxDelay: 50 } }).backoff.maxDelay,
    ).toBe(50);
    expect(resolveRetryOptions('r', { backoff: { initialDelay: 0 } }).backoff.initialDelay).toBe(0);
  });
});
