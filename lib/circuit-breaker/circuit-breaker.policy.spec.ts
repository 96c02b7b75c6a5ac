import { FakeClock } from '../../test/utils/fake-clock';
import { deferred } from '../../test/utils/promises';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { TimeoutError } from '../common/errors/timeout.error';
import type { ResilienceEvent, StateChangeEvent } from '../common/events';
import type { Scheduler } from '../common/scheduler';
import { CircuitBreakerOptions, resolveCircuitBreakerOptions } from './circuit-breaker.options';
import { CircuitBreakerPolicy } from './circuit-breaker.policy';

const RESET = 60_000;

function setup(options?: Partial<CircuitBreakerOptions>) {
  const clock = new FakeClock();
  const breaker = new CircuitBreakerPolicy('cb', options, { clock });
  const events: ResilienceEvent[] = [];
  breaker.onEvent((event) => events.push(event));
  const changes = () =>
    events
      .filter((e): e is StateChangeEvent => e.type === 'state-change')
      .map((e) => `${e.from}->${e.to}:${e.reason}`);
  return { clock, breaker, events, changes };
}

const ok = () => Promise.resolve('ok');
const boom = () => Promise.reject(new Error('boom'));

async function succeed(breaker: CircuitBreakerPolicy, times = 1): Promise<void> {
  for (let i = 0; i < times; i++) await expect(breaker.execute(ok)).resolves.toBe('ok');
}

async function fail(breaker: CircuitBreakerPolicy, times = 1): Promise<void> {
  for (let i = 0; i < times; i++) await expect(breaker.execute(boom)).rejects.toThrow('boom');
}

/** A call that takes `ms` of fake time and then resolves or rejects. */
async function timed(
  clock: FakeClock,
  breaker: CircuitBreakerPolicy,
  ms: number,
  outcome: 'ok' | 'fail',
): Promise<void> {
  const d = deferred();
  const result = breaker.execute(() => d.promise);
  await clock.advance(ms);
  if (outcome === 'ok') {
    d.resolve('ok');
    await expect(result).resolves.toBe('ok');
  } else {
    d.reject(new Error('slow boom'));
    await expect(result).rejects.toThrow('slow boom');
  }
}

async function rejection(promise: Promise<unknown>): Promise<CircuitOpenError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CircuitOpenError);
  return error as CircuitOpenError;
}

describe('CircuitBreakerPolicy', () => {
  describe('calls', () => {
    it('has kind circuitBreaker and its name', () => {
      const { breaker } = setup();
      expect(breaker.kind).toBe('circuitBreaker');
      expect(breaker.name).toBe('cb');
    });

    it('calls the work synchronously, with a call context', () => {
      const { breaker } = setup();
      let called = false;
      let signal: AbortSignal | undefined;
      const result = breaker.execute((context) => {
        called = true;
        signal = context.signal;
        return 1;
      });
      expect(called).toBe(true);
      expect(signal).toBeInstanceOf(AbortSignal);
      return expect(result).resolves.toBe(1);
    });

    it('calls a half-open trial synchronously too', async () => {
      const { breaker, clock } = setup({ failureThreshold: 1 });
      await fail(breaker);
      await clock.advance(RESET);
      let called = false;
      const result = breaker.execute(() => {
        called = true;
        return 'trial';
      });
      expect(called).toBe(true);
      await expect(result).resolves.toBe('trial');
    });

    it('turns a synchronous throw into a rejection and counts it', async () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const error = new Error('sync');
      await expect(
        breaker.execute(() => {
          throw error;
        }),
      ).rejects.toBe(error);
      expect(breaker.state).toBe('open');
    });

    it('passes values and errors through unchanged', async () => {
      const { breaker } = setup();
      const value = { a: 1 };
      await expect(breaker.execute(() => Promise.resolve(value))).resolves.toBe(value);
      class MyError extends Error {}
      const error = new MyError('x');
      await expect(breaker.execute(() => Promise.reject(error))).rejects.toBe(error);
    });

    it('accepts a non-native thenable', async () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const thenable: PromiseLike<string> = {
        then: (_resolve, reject) => {
          reject?.(new Error('thenable'));
          return Promise.resolve() as never;
        },
      };
      await expect(breaker.execute(() => thenable)).rejects.toThrow('thenable');
      expect(breaker.state).toBe('open');
    });
  });

  describe('consecutive mode', () => {
    it('stays closed after failureThreshold - 1 failures and opens on the Nth', async () => {
      const { breaker, changes, events, clock } = setup({ failureThreshold: 3 });
      await fail(breaker, 2);
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().failureCount).toBe(2);
      expect(changes()).toEqual([]);
      await fail(breaker);
      expect(breaker.state).toBe('open');
      expect(changes()).toEqual(['closed->open:failure-threshold']);
      expect(events[0]).toEqual({
        type: 'state-change',
        name: 'cb',
        from: 'closed',
        to: 'open',
        reason: 'failure-threshold',
        at: clock.now(),
      });
    });

    it('opens after 5 consecutive failures by default', async () => {
      const { breaker } = setup();
      await fail(breaker, 4);
      expect(breaker.state).toBe('closed');
      await fail(breaker);
      expect(breaker.state).toBe('open');
    });

    it('resets the consecutive failure count on a success', async () => {
      const { breaker } = setup({ failureThreshold: 3 });
      await fail(breaker, 2);
      await succeed(breaker);
      expect(breaker.stats().failureCount).toBe(0);
      await fail(breaker, 2);
      expect(breaker.state).toBe('closed');
      await fail(breaker);
      expect(breaker.state).toBe('open');
    });

    it('emits one transition when concurrent calls fail together', async () => {
      const { breaker, changes } = setup({ failureThreshold: 2 });
      const calls = [deferred(), deferred(), deferred(), deferred()];
      const results = calls.map((d) => breaker.execute(() => d.promise));
      calls.forEach((d) => d.reject(new Error('boom')));
      for (const result of results) await expect(result).rejects.toThrow('boom');
      expect(changes()).toEqual(['closed->open:failure-threshold']);
      expect(breaker.stats()).toMatchObject({ failedCalls: 4, state: 'open' });
    });

    it('does not open on slow calls', async () => {
      const { breaker, clock } = setup({ slowCallDuration: 100, failureThreshold: 1 });
      await timed(clock, breaker, 100, 'ok');
      await timed(clock, breaker, 100, 'ok');
      expect(breaker.state).toBe('closed');
      expect(breaker.stats()).toMatchObject({ slowCalls: 2, slowCallRate: 100 });
    });
  });

  describe('open', () => {
    it('rejects at once with CircuitOpenError whose retryAfter decreases with time', async () => {
      const { breaker, clock } = setup({ failureThreshold: 1, resetTimeout: 1_000 });
      await fail(breaker);
      const work = jest.fn(ok);
      let error = await rejection(breaker.execute(work));
      expect(error.retryAfter).toBe(1_000);
      expect(error.policyName).toBe('cb');
      expect(error.message).toContain('"cb" is open');
      await clock.advance(400);
      error = await rejection(breaker.execute(work));
      expect(error.retryAfter).toBe(600);
      expect(breaker.retryAfter).toBe(600);
      await clock.advance(599);
      error = await rejection(breaker.execute(work));
      expect(error.retryAfter).toBe(1);
      expect(work).not.toHaveBeenCalled();
      expect(breaker.stats().rejectedCalls).toBe(3);
    });

    it('emits call-rejected with state, retryAfter and time', async () => {
      const { breaker, clock, events } = setup({ failureThreshold: 1, resetTimeout: 1_000 });
      await fail(breaker);
      await clock.advance(250);
      await rejection(breaker.execute(ok));
      expect(events.filter((e) => e.type === 'call-rejected')).toEqual([
        { type: 'call-rejected', name: 'cb', state: 'open', retryAfter: 750, at: clock.now() },
      ]);
    });

    it('reads half-open exactly when resetTimeout has passed, not 1 ms before', async () => {
      const { breaker, clock, events } = setup({ failureThreshold: 1 });
      await fail(breaker);
      const openedAt = clock.now();
      clock.set(openedAt + RESET - 1); // time moves, timers do not fire
      expect(breaker.state).toBe('open');
      expect(breaker.retryAfter).toBe(1);
      clock.set(openedAt + RESET);
      expect(breaker.state).toBe('half-open');
      expect(breaker.retryAfter).toBe(0);
      expect(events.at(-1)).toEqual({
        type: 'state-change',
        name: 'cb',
        from: 'open',
        to: 'half-open',
        reason: 'reset-timeout',
        at: openedAt + RESET,
      });
      expect(breaker.stats().stateChangedAt).toBe(openedAt + RESET);
    });

    it('emits open -> half-open from its timer, on time, without any call', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 1 });
      await fail(breaker);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(RESET - 1);
      expect(changes()).toEqual(['closed->open:failure-threshold']);
      await clock.advance(1);
      expect(changes()).toEqual([
        'closed->open:failure-threshold',
        'open->half-open:reset-timeout',
      ]);
      expect(clock.pendingTimers).toBe(0);
    });

    it('emits the half-open transition once, whoever observes it first', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 1 });
      await fail(breaker);
      clock.set(clock.now() + RESET + 5);
      expect(breaker.state).toBe('half-open'); // the getter sees it first
      expect(breaker.stats().state).toBe('half-open');
      await clock.advance(RESET); // the timer was cleared
      expect(breaker.state).toBe('half-open');
      expect(changes()).toEqual([
        'closed->open:failure-threshold',
        'open->half-open:reset-timeout',
      ]);
    });

    it('lets the first call after resetTimeout in as a trial', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 1, successThreshold: 1 });
      await fail(breaker);
      clock.set(clock.now() + RESET);
      await succeed(breaker);
      expect(changes()).toEqual([
        'closed->open:failure-threshold',
        'open->half-open:reset-timeout',
        'half-open->closed:half-open-success',
      ]);
    });

    it('unrefs the timer handle so it never keeps the process alive', async () => {
      const clock = new FakeClock();
      const unref = jest.fn();
      const scheduler: Scheduler = {
        setTimeout: jest.fn(() => ({ unref })),
        clearTimeout: jest.fn(),
      };
      const breaker = new CircuitBreakerPolicy('cb', { failureThreshold: 1 }, { clock, scheduler });
      await fail(breaker);
      expect(scheduler.setTimeout).toHaveBeenCalledWith(expect.any(Function), RESET);
      expect(unref).toHaveBeenCalledTimes(1);
    });

    it('re-arms for the rest when the timer fires before the reset time', async () => {
      const clock = new FakeClock();
      const callbacks: Array<{ callback: () => void; ms: number }> = [];
      const scheduler: Scheduler = {
        setTimeout: (callback, ms) => callbacks.push({ callback, ms }),
        clearTimeout: () => undefined,
      };
      const breaker = new CircuitBreakerPolicy('cb', { failureThreshold: 1 }, { clock, scheduler });
      const events: ResilienceEvent[] = [];
      breaker.onEvent((e) => events.push(e));
      await fail(breaker);
      clock.set(clock.now() + RESET - 2);
      callbacks[0].callback(); // fires 2 ms early
      expect(events.map((e) => e.type)).toEqual(['state-change']);
      expect(callbacks[1]?.ms).toBe(2);
      clock.set(clock.now() + 2);
      callbacks[1].callback();
      expect(events.map((e) => e.type)).toEqual(['state-change', 'state-change']);
      expect(breaker.state).toBe('half-open');
    });
  });

  describe('half-open', () => {
    async function halfOpen(options: Partial<CircuitBreakerOptions>) {
      const context = setup({ failureThreshold: 1, ...options });
      await fail(context.breaker);
      await context.clock.advance(options.resetTimeout ?? RESET);
      expect(context.breaker.state).toBe('half-open');
      return context;
    }

    it('admits at most halfOpenMaxCalls concurrent trials and rejects the rest', async () => {
      const { breaker, events } = await halfOpen({ halfOpenMaxCalls: 2, successThreshold: 5 });
      const trials = [deferred(), deferred(), deferred(), deferred()];
      const work = trials.map((d) => jest.fn(() => d.promise));
      const results = work.map((fn) => breaker.execute(fn));
      expect(work.map((fn) => fn.mock.calls.length)).toEqual([1, 1, 0, 0]);
      for (const result of results.slice(2)) {
        const error = await rejection(result);
        expect(error.retryAfter).toBe(0);
        expect(error.message).toContain('half-open');
        expect(error.message).toContain('2 trial call(s)');
      }
      expect(events.filter((e) => e.type === 'call-rejected')).toEqual([
        expect.objectContaining({ state: 'half-open', retryAfter: 0 }),
        expect.objectContaining({ state: 'half-open', retryAfter: 0 }),
      ]);
      // a finished trial frees its slot
      trials[0].resolve('ok');
      await expect(results[0]).resolves.toBe('ok');
      const next = deferred();
      const admitted = jest.fn(() => next.promise);
      const nextResult = breaker.execute(admitted);
      expect(admitted).toHaveBeenCalled();
      await rejection(breaker.execute(ok));
      trials[1].resolve('ok');
      next.resolve('ok');
      await Promise.all([results[1], nextResult]);
      expect(breaker.stats()).toMatchObject({ state: 'half-open', successCount: 3 });
      expect(breaker.stats().rejectedCalls).toBe(3);
    });

    it('re-opens when a trial throws synchronously', async () => {
      const { breaker } = await halfOpen({ halfOpenMaxCalls: 1 });
      await expect(
        breaker.execute(() => {
          throw new Error('sync');
        }),
      ).rejects.toThrow('sync');
      expect(breaker.state).toBe('open');
    });

    it('closes after successThreshold consecutive trial successes', async () => {
      const { breaker, changes } = await halfOpen({ successThreshold: 3 });
      await succeed(breaker, 2);
      expect(breaker.state).toBe('half-open');
      expect(breaker.stats().successCount).toBe(2);
      await succeed(breaker);
      expect(breaker.state).toBe('closed');
      expect(changes().at(-1)).toBe('half-open->closed:half-open-success');
      expect(breaker.stats()).toMatchObject({ failureCount: 0, successCount: 0 });
    });

    it('closes after 2 trial successes by default', async () => {
      const { breaker } = await halfOpen({});
      await succeed(breaker);
      expect(breaker.state).toBe('half-open');
      await succeed(breaker);
      expect(breaker.state).toBe('closed');
    });

    it('re-opens on a trial failure and starts the reset timeout again', async () => {
      const { breaker, clock, changes } = await halfOpen({ successThreshold: 2 });
      await succeed(breaker);
      await clock.advance(100);
      await fail(breaker);
      expect(breaker.state).toBe('open');
      expect(changes().at(-1)).toBe('half-open->open:half-open-failure');
      expect(breaker.retryAfter).toBe(RESET);
      expect((await rejection(breaker.execute(ok))).retryAfter).toBe(RESET);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(RESET - 1);
      expect(breaker.state).toBe('open');
      await clock.advance(1);
      expect(breaker.state).toBe('half-open');
      expect(breaker.stats().successCount).toBe(0); // the earlier trial success is forgotten
    });

    it('ignores a trial that ends after another trial already decided', async () => {
      const { breaker, changes } = await halfOpen({ halfOpenMaxCalls: 2, successThreshold: 1 });
      const first = deferred();
      const second = deferred();
      const a = breaker.execute(() => first.promise);
      const b = breaker.execute(() => second.promise);
      first.resolve('ok');
      await a;
      expect(breaker.state).toBe('closed');
      second.reject(new Error('late'));
      await expect(b).rejects.toThrow('late');
      expect(breaker.state).toBe('closed');
      expect(breaker.stats()).toMatchObject({ failureCount: 0, failedCalls: 2 });
      expect(changes().at(-1)).toBe('half-open->closed:half-open-success');
    });

    it('uses the same trial rule in rate mode', async () => {
      const { breaker, changes } = await halfOpen({
        failureRateThreshold: 50,
        minimumCalls: 1,
        successThreshold: 2,
      });
      await succeed(breaker);
      expect(breaker.state).toBe('half-open');
      await succeed(breaker);
      expect(changes().at(-1)).toBe('half-open->closed:half-open-success');
    });
  });

  describe('rate mode', () => {
    it('replaces the consecutive failure rule', async () => {
      const { breaker } = setup({
        failureRateThreshold: 100,
        failureThreshold: 1,
        minimumCalls: 8,
      });
      await fail(breaker, 7);
      expect(breaker.state).toBe('closed');
    });

    it('opens at minimumCalls calls at 100% failure, not at minimumCalls - 1', async () => {
      const { breaker, changes } = setup({ failureRateThreshold: 100, minimumCalls: 5 });
      await fail(breaker, 4);
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().failureRate).toBe(100);
      await fail(breaker);
      expect(breaker.state).toBe('open');
      expect(changes()).toEqual(['closed->open:failure-rate']);
    });

    it.each([
      [30, 'open'],
      [30.1, 'closed'],
    ])(
      'with 3 of 10 calls failed and threshold %p%% the breaker is %s',
      async (threshold, state) => {
        const { breaker } = setup({
          failureRateThreshold: threshold,
          minimumCalls: 10,
          slidingWindow: { type: 'count', size: 10 },
        });
        await succeed(breaker, 7);
        await fail(breaker, 3);
        expect(breaker.stats().failureRate).toBe(30);
        expect(breaker.state).toBe(state);
      },
    );

    it('computes the rate over the last `size` calls of a count window', async () => {
      const { breaker } = setup({
        failureRateThreshold: 50,
        minimumCalls: 4,
        slidingWindow: { type: 'count', size: 4 },
      });
      await fail(breaker);
      await succeed(breaker, 3); // 25%
      await fail(breaker); // the first failure leaves: still 25%
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().failureRate).toBe(25);
      await fail(breaker); // 50%
      expect(breaker.state).toBe('open');
    });

    it('lets old failures fall out of a time window', async () => {
      const options: Partial<CircuitBreakerOptions> = {
        failureRateThreshold: 50,
        minimumCalls: 4,
        slidingWindow: { type: 'time', size: 10_000 },
      };
      const control = setup(options);
      await fail(control.breaker, 3);
      await succeed(control.breaker);
      expect(control.breaker.state).toBe('open'); // 75% of 4 calls

      const { breaker, clock } = setup(options);
      await fail(breaker, 3);
      await clock.advance(10_000);
      expect(breaker.stats().failureRate).toBe(0);
      await succeed(breaker);
      await fail(breaker);
      await succeed(breaker); // 3 calls in the window: below minimumCalls
      expect(breaker.state).toBe('closed');
      await succeed(breaker); // 25% of 4
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().failureRate).toBe(25);
    });

    it('counts time-window failures that are not yet `size` ms old', async () => {
      const { breaker, clock } = setup({
        failureRateThreshold: 50,
        minimumCalls: 4,
        slidingWindow: { type: 'time' },
      });
      await fail(breaker, 2);
      await clock.advance(9_000);
      await succeed(breaker);
      await succeed(breaker); // 2 of 4 failed: the old failures still count
      expect(breaker.state).toBe('open');
    });

    it('opens on the slow-call rate, a call of exactly slowCallDuration being slow', async () => {
      const { breaker, clock, changes } = setup({
        slowCallRateThreshold: 50,
        slowCallDuration: 1_000,
        minimumCalls: 4,
      });
      await timed(clock, breaker, 999, 'ok'); // not slow
      await timed(clock, breaker, 1_000, 'ok'); // slow
      await succeed(breaker);
      expect(breaker.stats()).toMatchObject({ slowCalls: 1, state: 'closed' });
      await timed(clock, breaker, 5_000, 'ok');
      expect(breaker.stats()).toMatchObject({ slowCalls: 2, slowCallRate: 50 });
      expect(breaker.state).toBe('open');
      expect(changes()).toEqual(['closed->open:slow-call-rate']);
    });

    it('counts slow failures in the slow-call rate too', async () => {
      const { breaker, clock } = setup({
        slowCallRateThreshold: 100,
        slowCallDuration: 10,
        minimumCalls: 2,
      });
      await timed(clock, breaker, 10, 'fail');
      await timed(clock, breaker, 10, 'fail');
      expect(breaker.stats().slowCallRate).toBe(100);
      expect(breaker.state).toBe('open');
    });

    it('reports failure-rate when both rates are reached', async () => {
      const { breaker, clock, changes } = setup({
        failureRateThreshold: 50,
        slowCallRateThreshold: 50,
        slowCallDuration: 10,
        minimumCalls: 1,
      });
      await timed(clock, breaker, 10, 'fail');
      expect(changes()).toEqual(['closed->open:failure-rate']);
    });

    it('resets the window when the breaker closes', async () => {
      const { breaker, clock } = setup({
        failureRateThreshold: 50,
        minimumCalls: 2,
        successThreshold: 1,
      });
      await fail(breaker, 2);
      expect(breaker.stats().failureRate).toBe(100);
      await clock.advance(RESET);
      await succeed(breaker);
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().failureRate).toBe(0);
      await fail(breaker); // 1 call in the fresh window: below minimumCalls
      expect(breaker.state).toBe('closed');
    });
  });

  describe('isFailure', () => {
    const ignoreNotFound = (error: unknown) => (error as Error).message !== 'not found';
    const notFound = () => Promise.reject(new Error('not found'));

    it('propagates ignored errors but counts them as successes', async () => {
      const isFailure = jest.fn(ignoreNotFound);
      const { breaker } = setup({ failureThreshold: 2, isFailure });
      await fail(breaker);
      await expect(breaker.execute(notFound)).rejects.toThrow('not found');
      expect(isFailure).toHaveBeenCalledWith(expect.objectContaining({ message: 'not found' }));
      expect(breaker.stats()).toMatchObject({
        failureCount: 0,
        successfulCalls: 1,
        failedCalls: 1,
      });
      await fail(breaker);
      expect(breaker.state).toBe('closed');
      for (let i = 0; i < 5; i++) await expect(breaker.execute(notFound)).rejects.toThrow();
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().lastError).toEqual({ name: 'Error', message: 'boom' });
    });

    it('counts an ignored error in half-open as a trial success', async () => {
      const { breaker, clock } = setup({
        failureThreshold: 1,
        successThreshold: 1,
        isFailure: ignoreNotFound,
      });
      await fail(breaker);
      await clock.advance(RESET);
      await expect(breaker.execute(notFound)).rejects.toThrow('not found');
      expect(breaker.state).toBe('closed');
    });

    it('keeps ignored errors out of the failure rate', async () => {
      const { breaker } = setup({
        failureRateThreshold: 50,
        minimumCalls: 2,
        isFailure: () => false,
      });
      await fail(breaker, 4);
      expect(breaker.stats()).toMatchObject({
        failureRate: 0,
        state: 'closed',
        successfulCalls: 4,
      });
    });

    it('counts the error as a failure when isFailure itself throws', async () => {
      const { breaker } = setup({
        failureThreshold: 1,
        isFailure: () => {
          throw new Error('bad predicate');
        },
      });
      await fail(breaker);
      expect(breaker.state).toBe('open');
    });
  });

  describe('open() and close()', () => {
    it('open() forces the breaker open; it turns half-open after resetTimeout', async () => {
      const { breaker, clock, changes } = setup();
      breaker.open();
      expect(breaker.state).toBe('open');
      await rejection(breaker.execute(ok));
      await clock.advance(RESET);
      expect(changes()).toEqual(['closed->open:manual', 'open->half-open:reset-timeout']);
    });

    it('open() on an open breaker restarts its timeout without a new event', async () => {
      const { breaker, clock, changes } = setup();
      breaker.open();
      await clock.advance(30_000);
      breaker.open();
      expect(breaker.retryAfter).toBe(RESET);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(RESET - 1);
      expect(breaker.state).toBe('open');
      expect(changes()).toEqual(['closed->open:manual']);
    });

    it('open() from half-open opens again', async () => {
      const { breaker, clock, changes } = setup();
      breaker.open();
      await clock.advance(RESET);
      breaker.open();
      expect(changes().at(-1)).toBe('half-open->open:manual');
      expect(breaker.retryAfter).toBe(RESET);
    });

    it('close() resets an open breaker to closed, clearing timer, counts and window', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 2 });
      await fail(breaker, 2);
      breaker.close();
      expect(breaker.state).toBe('closed');
      expect(clock.pendingTimers).toBe(0);
      expect(changes()).toEqual(['closed->open:failure-threshold', 'open->closed:manual']);
      expect(breaker.stats()).toMatchObject({ failureCount: 0, failureRate: 0, failedCalls: 2 });
      await fail(breaker);
      expect(breaker.state).toBe('closed');
      await fail(breaker);
      expect(breaker.state).toBe('open');
    });

    it('close() on a closed breaker clears its counts without an event', async () => {
      const { breaker, changes } = setup({ failureThreshold: 2 });
      await fail(breaker);
      breaker.close();
      expect(breaker.stats().failureCount).toBe(0);
      await fail(breaker);
      expect(breaker.state).toBe('closed');
      expect(changes()).toEqual([]);
    });

    it('close() from half-open closes', async () => {
      const { breaker, clock, changes } = setup();
      breaker.open();
      await clock.advance(RESET);
      breaker.close();
      expect(changes().at(-1)).toBe('half-open->closed:manual');
    });
  });

  describe('stats()', () => {
    it('starts at zero, as plain JSON', () => {
      const { breaker, clock } = setup();
      const stats = breaker.stats();
      expect(stats).toEqual({
        state: 'closed',
        failureCount: 0,
        successCount: 0,
        totalCalls: 0,
        successfulCalls: 0,
        failedCalls: 0,
        rejectedCalls: 0,
        slowCalls: 0,
        failureRate: 0,
        slowCallRate: 0,
        stateChangedAt: clock.now(),
      });
      expect('lastError' in stats).toBe(false);
    });

    it('keeps totalCalls = successful + failed + rejected, and the last error', async () => {
      const { breaker, clock } = setup({ failureThreshold: 3 });
      await succeed(breaker, 2);
      await fail(breaker, 2);
      await expect(breaker.execute(() => Promise.reject(new TypeError('typed')))).rejects.toThrow();
      const openedAt = clock.now();
      await rejection(breaker.execute(ok));
      await rejection(breaker.execute(ok));
      const stats = breaker.stats();
      expect(stats).toEqual({
        state: 'open',
        failureCount: 3,
        successCount: 0,
        totalCalls: 7,
        successfulCalls: 2,
        failedCalls: 3,
        rejectedCalls: 2,
        slowCalls: 0,
        failureRate: 60,
        slowCallRate: 0,
        stateChangedAt: openedAt,
        lastError: { name: 'TypeError', message: 'typed' },
      });
      expect(stats.totalCalls).toBe(
        stats.successfulCalls + stats.failedCalls + stats.rejectedCalls,
      );
      expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
    });

    it('describes thrown non-errors', async () => {
      const { breaker } = setup();
      await expect(breaker.execute(() => Promise.reject('plain'))).rejects.toBe('plain');
      expect(breaker.stats().lastError).toEqual({ name: 'string', message: 'plain' });
      await expect(
        breaker.execute(() => Promise.reject({ name: 'Custom', message: 'obj' })),
      ).rejects.toBeDefined();
      expect(breaker.stats().lastError).toEqual({ name: 'Custom', message: 'obj' });
    });

    it('computes rates over a time window in consecutive mode too', async () => {
      const { breaker, clock } = setup({ slidingWindow: { type: 'time', size: 1_000 } });
      await fail(breaker);
      await succeed(breaker);
      expect(breaker.stats().failureRate).toBe(50);
      await clock.advance(1_000);
      expect(breaker.stats().failureRate).toBe(0);
    });

    it('returns a fresh object each time', async () => {
      const { breaker } = setup();
      await fail(breaker);
      const a = breaker.stats();
      a.lastError!.message = 'changed';
      expect(breaker.stats().lastError!.message).toBe('boom');
    });
  });

  describe('snapshot() and restore()', () => {
    it('snapshots plain, serializable state', async () => {
      const { breaker, clock } = setup({ failureThreshold: 2 });
      await fail(breaker, 2);
      const snapshot = breaker.snapshot();
      expect(snapshot).toEqual({
        state: 'open',
        openedAt: clock.now(),
        failureCount: 2,
        successCount: 0,
        stateChangedAt: clock.now(),
      });
      expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    });

    it('restores an open snapshot once, re-arming the half-open timer', async () => {
      const source = setup({ failureThreshold: 1 });
      await fail(source.breaker);
      await source.clock.advance(10_000);
      const snapshot = source.breaker.snapshot();

      const clock = source.clock;
      const target = new CircuitBreakerPolicy('cb', { failureThreshold: 1 }, { clock });
      const events: ResilienceEvent[] = [];
      target.onEvent((e) => events.push(e));
      target.restore(snapshot);
      target.restore(snapshot);
      expect(target.state).toBe('open');
      expect(target.retryAfter).toBe(RESET - 10_000);
      expect(events).toEqual([
        expect.objectContaining({ from: 'closed', to: 'open', reason: 'shared-state' }),
      ]);
      await clock.advance(RESET - 10_000);
      expect(events.at(-1)).toEqual(
        expect.objectContaining({ from: 'open', to: 'half-open', reason: 'reset-timeout' }),
      );
      expect(events).toHaveLength(2);
      expect(clock.pendingTimers).toBe(0);
    });

    it('restores a lapsed open snapshot as half-open', () => {
      const { breaker, clock, changes } = setup();
      const now = clock.now();
      breaker.restore({
        state: 'open',
        openedAt: now - RESET,
        failureCount: 5,
        successCount: 0,
        stateChangedAt: now - RESET,
      });
      expect(breaker.state).toBe('half-open');
      expect(changes()).toEqual(['closed->half-open:shared-state']);
      expect(clock.pendingTimers).toBe(0);
      expect(breaker.stats().stateChangedAt).toBe(now);
    });

    it('restores a closed snapshot into an open breaker', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 1 });
      await fail(breaker);
      breaker.restore({
        state: 'closed',
        openedAt: 0,
        failureCount: 0,
        successCount: 0,
        stateChangedAt: 1,
      });
      expect(breaker.state).toBe('closed');
      expect(clock.pendingTimers).toBe(0);
      expect(changes()).toEqual(['closed->open:failure-threshold', 'open->closed:shared-state']);
      await succeed(breaker);
    });

    it('never asks for a timer longer than a timer can wait (an opening far ahead)', () => {
      const clock = new FakeClock();
      const delays: number[] = [];
      const scheduler: Scheduler = {
        setTimeout: (_callback, ms) => delays.push(ms),
        clearTimeout: () => undefined,
      };
      const breaker = new CircuitBreakerPolicy('cb', {}, { clock, scheduler });
      const openedAt = clock.now() + 100 * 86_400_000; // a clock that was far ahead
      breaker.restore({
        state: 'open',
        openedAt,
        failureCount: 0,
        successCount: 0,
        stateChangedAt: openedAt,
      });
      expect(breaker.state).toBe('open');
      // a longer delay makes Node fire at once, and the timer would re-arm every ms
      expect(Math.max(...delays)).toBeLessThanOrEqual(2_147_483_647);
    });

    it('rejects a malformed snapshot', () => {
      const { breaker } = setup();
      expect(() =>
        breaker.restore({
          state: 'ajar' as never,
          openedAt: 0,
          failureCount: 0,
          successCount: 0,
          stateChangedAt: 0,
        }),
      ).toThrow(ResilienceConfigError);
      expect(() =>
        breaker.restore({
          state: 'open',
          openedAt: NaN,
          failureCount: 0,
          successCount: 0,
          stateChangedAt: 0,
        }),
      ).toThrow(/snapshot\.openedAt/);
      expect(breaker.state).toBe('closed');
    });
  });

  describe('dispose()', () => {
    it('clears the half-open timer; the state still turns half-open by the clock', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 1 });
      await fail(breaker);
      expect(clock.pendingTimers).toBe(1);
      breaker.dispose();
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(RESET);
      expect(changes()).toEqual(['closed->open:failure-threshold']);
      expect(breaker.state).toBe('half-open');
    });

    it('starts no new timers once disposed', async () => {
      const { breaker, clock } = setup({ failureThreshold: 1 });
      breaker.dispose();
      await fail(breaker);
      breaker.open();
      expect(breaker.state).toBe('open');
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('events', () => {
    it('emits exactly one event per transition through a full cycle', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 1, successThreshold: 1 });
      await fail(breaker);
      await clock.advance(RESET);
      void breaker.state;
      await fail(breaker);
      void breaker.state;
      await clock.advance(RESET);
      await succeed(breaker);
      void breaker.stats();
      expect(changes()).toEqual([
        'closed->open:failure-threshold',
        'open->half-open:reset-timeout',
        'half-open->open:half-open-failure',
        'open->half-open:reset-timeout',
        'half-open->closed:half-open-success',
      ]);
    });

    it('keeps working when a listener throws', async () => {
      const { breaker } = setup({ failureThreshold: 1 });
      breaker.onEvent(() => {
        throw new Error('listener');
      });
      await fail(breaker);
      expect(breaker.state).toBe('open');
    });
  });

  describe('cancellation by the caller (CallAbortedError)', () => {
    const aborted = () => new CallAbortedError('inner');
    /** A `CallAbortedError` as another copy of the package creates it. */
    const foreignAborted = () =>
      Object.assign(new Error('Call through "inner" was cancelled.'), {
        name: 'CallAbortedError',
        policyName: 'inner',
        isResilienceError: true as const,
      });

    async function cancel(breaker: CircuitBreakerPolicy, error: unknown = aborted()) {
      await expect(breaker.execute(() => Promise.reject(error))).rejects.toBe(error);
    }

    it('records nothing in closed state and passes the error on unchanged', async () => {
      const isFailure = jest.fn(() => true);
      const { breaker, changes } = setup({ failureThreshold: 3, isFailure });
      const before = breaker.stats();
      await cancel(breaker);
      await cancel(breaker);
      const syncError = aborted();
      await expect(
        breaker.execute(() => {
          throw syncError;
        }),
      ).rejects.toBe(syncError);
      expect(breaker.state).toBe('closed');
      expect(breaker.stats()).toEqual(before);
      expect(changes()).toEqual([]);
      expect(isFailure).not.toHaveBeenCalled();

      await fail(breaker, 3);
      expect(breaker.state).toBe('open');
      expect(changes()).toEqual(['closed->open:failure-threshold']);
      expect(breaker.stats()).toMatchObject({
        failedCalls: 3,
        successfulCalls: 0,
        totalCalls: 3,
        failureRate: 100,
        lastError: { name: 'Error', message: 'boom' },
      });
    });

    it('neither resets nor extends the consecutive failure count', async () => {
      const { breaker } = setup({ failureThreshold: 3 });
      await fail(breaker, 2);
      await cancel(breaker);
      await cancel(breaker);
      expect(breaker.stats()).toMatchObject({
        state: 'closed',
        failureCount: 2,
        failedCalls: 2,
        totalCalls: 2,
        failureRate: 100,
      });
      await fail(breaker);
      expect(breaker.state).toBe('open');
    });

    it('stays out of the sliding window in rate mode', async () => {
      const { breaker } = setup({ failureRateThreshold: 50, minimumCalls: 2 });
      await fail(breaker);
      await cancel(breaker);
      await cancel(breaker);
      expect(breaker.stats()).toMatchObject({ state: 'closed', failureRate: 100, totalCalls: 1 });
      await succeed(breaker);
      expect(breaker.state).toBe('open'); // 1 of 2 calls failed
    });

    it('frees a half-open trial slot without closing or reopening', async () => {
      const { breaker, clock, changes } = setup({
        failureThreshold: 1,
        successThreshold: 1,
        halfOpenMaxCalls: 1,
      });
      await fail(breaker);
      await clock.advance(RESET);
      const trial = deferred();
      const cancelled = breaker.execute(() => trial.promise);
      await rejection(breaker.execute(ok)); // the slot is taken
      await clock.advance(1_000);
      const before = breaker.stats();
      const error = aborted();
      trial.reject(error);
      await expect(cancelled).rejects.toBe(error);
      expect(breaker.state).toBe('half-open');
      expect(breaker.stats()).toEqual(before);
      expect(changes()).toEqual([
        'closed->open:failure-threshold',
        'open->half-open:reset-timeout',
      ]);

      // the next call is admitted as a trial
      const next = deferred();
      const admitted = jest.fn(() => next.promise);
      const result = breaker.execute(admitted);
      expect(admitted).toHaveBeenCalledTimes(1);
      // the cancelled trial's start time is gone too: nothing counts as hung yet
      await clock.advance(RESET - 1);
      const full = await rejection(breaker.execute(ok));
      expect(full.retryAfter).toBe(0);
      expect(full.message).toContain('half-open');
      next.resolve('ok');
      await expect(result).resolves.toBe('ok');
      expect(breaker.state).toBe('closed');
      expect(changes().at(-1)).toBe('half-open->closed:half-open-success');
    });

    it('frees the slot of a trial that throws CallAbortedError synchronously', async () => {
      const { breaker, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 1 });
      await fail(breaker);
      await clock.advance(RESET);
      const error = aborted();
      await expect(
        breaker.execute(() => {
          throw error;
        }),
      ).rejects.toBe(error);
      expect(breaker.state).toBe('half-open');
      const work = jest.fn(ok);
      await expect(breaker.execute(work)).resolves.toBe('ok');
      expect(work).toHaveBeenCalledTimes(1);
      expect(breaker.stats()).toMatchObject({ state: 'half-open', successCount: 1 });
    });

    it('does not free a slot of a newer half-open period when it ends late', async () => {
      const { breaker, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 2 });
      await fail(breaker);
      await clock.advance(RESET);
      const old = deferred();
      const oldResult = breaker.execute(() => old.promise);
      await fail(breaker); // the other trial fails: open again
      await clock.advance(RESET);
      const trials = [deferred(), deferred()];
      const results = trials.map((d) => breaker.execute(() => d.promise));
      const error = aborted();
      old.reject(error);
      await expect(oldResult).rejects.toBe(error);
      await rejection(breaker.execute(ok)); // both slots are still taken
      trials.forEach((d) => d.resolve('ok'));
      await Promise.all(results);
      expect(breaker.state).toBe('closed');
    });

    it('still counts a TimeoutError as a failure', async () => {
      const { breaker, clock, changes } = setup({ failureThreshold: 2 });
      const timeout = () => Promise.reject(new TimeoutError('inner', 100));
      await expect(breaker.execute(timeout)).rejects.toBeInstanceOf(TimeoutError);
      await expect(breaker.execute(timeout)).rejects.toBeInstanceOf(TimeoutError);
      expect(breaker.state).toBe('open');
      expect(breaker.stats()).toMatchObject({
        failedCalls: 2,
        lastError: { name: 'TimeoutError' },
      });
      await clock.advance(RESET);
      await expect(breaker.execute(timeout)).rejects.toBeInstanceOf(TimeoutError);
      expect(changes().at(-1)).toBe('half-open->open:half-open-failure');
    });

    it('recognises a CallAbortedError from another copy of the package by its brand', async () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const before = breaker.stats();
      await cancel(breaker, foreignAborted());
      expect(breaker.state).toBe('closed');
      expect(breaker.stats()).toEqual(before);
    });

    it('counts an unbranded error named CallAbortedError as a failure', async () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const impostor = new Error('not ours');
      impostor.name = 'CallAbortedError';
      await cancel(breaker, impostor);
      expect(breaker.state).toBe('open');
      expect(breaker.stats()).toMatchObject({
        failedCalls: 1,
        lastError: { name: 'CallAbortedError', message: 'not ours' },
      });
    });

    it('counts another resilience error as a failure', async () => {
      const { breaker } = setup({ failureThreshold: 1 });
      const other = Object.assign(new Error('queue full'), {
        name: 'BulkheadRejectedError',
        isResilienceError: true as const,
      });
      await cancel(breaker, other);
      expect(breaker.state).toBe('open');
    });
  });

  describe('hung half-open trials', () => {
    async function halfOpen(options: Partial<CircuitBreakerOptions>) {
      const context = setup({ failureThreshold: 1, ...options });
      await fail(context.breaker);
      await context.clock.advance(RESET);
      expect(context.breaker.state).toBe('half-open');
      return context;
    }

    it('gives up a trial running for resetTimeout, opens, and admits a new trial later', async () => {
      const { breaker, clock, changes, events } = await halfOpen({
        halfOpenMaxCalls: 1,
        successThreshold: 1,
      });
      const hung = deferred();
      const hungResult = breaker.execute(() => hung.promise);
      const trialStart = clock.now();
      const work = jest.fn(ok);

      await clock.advance(RESET - 1);
      const full = await rejection(breaker.execute(work));
      expect(full.retryAfter).toBe(0);
      expect(full.message).toContain('half-open');
      expect(breaker.state).toBe('half-open');

      await clock.advance(1);
      const open = await rejection(breaker.execute(work));
      expect(open.retryAfter).toBe(RESET);
      expect(open.message).toContain('"cb" is open');
      expect(work).not.toHaveBeenCalled();
      expect(breaker.state).toBe('open');
      expect(changes().at(-1)).toBe('half-open->open:half-open-failure');
      expect(events.filter((e) => e.type === 'state-change').at(-1)).toEqual({
        type: 'state-change',
        name: 'cb',
        from: 'half-open',
        to: 'open',
        reason: 'half-open-failure',
        at: trialStart + RESET,
      });
      expect(events.at(-1)).toEqual({
        type: 'call-rejected',
        name: 'cb',
        state: 'open',
        retryAfter: RESET,
        at: trialStart + RESET,
      });
      expect(breaker.stats()).toMatchObject({
        rejectedCalls: 2,
        stateChangedAt: trialStart + RESET,
      });

      await clock.advance(RESET - 1);
      expect(breaker.state).toBe('open');
      await clock.advance(1);
      expect(breaker.state).toBe('half-open');
      const next = deferred();
      const admitted = jest.fn(() => next.promise);
      const nextResult = breaker.execute(admitted);
      expect(admitted).toHaveBeenCalledTimes(1);

      // the late result of the abandoned trial changes nothing
      const changesBefore = changes();
      hung.resolve('late');
      await expect(hungResult).resolves.toBe('late');
      expect(breaker.state).toBe('half-open');
      expect(breaker.stats().successCount).toBe(0);
      expect(changes()).toEqual(changesBefore);
      await rejection(breaker.execute(ok)); // the new trial still holds its slot

      next.resolve('ok');
      await expect(nextResult).resolves.toBe('ok');
      expect(breaker.state).toBe('closed');
      expect(changes().at(-1)).toBe('half-open->closed:half-open-success');
    });

    it('ignores a late failure of an abandoned trial', async () => {
      const { breaker, clock, changes } = await halfOpen({ halfOpenMaxCalls: 1 });
      const hung = deferred();
      const hungResult = breaker.execute(() => hung.promise);
      await clock.advance(RESET);
      await rejection(breaker.execute(ok));
      await clock.advance(RESET);
      expect(breaker.state).toBe('half-open');
      const changesBefore = changes();
      hung.reject(new Error('late'));
      await expect(hungResult).rejects.toThrow('late');
      expect(breaker.state).toBe('half-open');
      expect(changes()).toEqual(changesBefore);
      await succeed(breaker);
      expect(breaker.stats()).toMatchObject({ state: 'half-open', successCount: 1 });
    });

    it('measures from the oldest trial still running', async () => {
      const { breaker, clock, changes } = await halfOpen({
        halfOpenMaxCalls: 2,
        successThreshold: 5,
      });
      const start = clock.now();
      const a = deferred();
      const aResult = breaker.execute(() => a.promise);
      await clock.advance(500);
      const b = deferred();
      void breaker.execute(() => b.promise).catch(() => undefined);
      await clock.advance(500);
      a.resolve('ok'); // the oldest trial ends normally
      await aResult;
      const c = deferred();
      void breaker.execute(() => c.promise).catch(() => undefined);

      clock.set(start + RESET); // a's start would count as hung; b's does not yet
      expect((await rejection(breaker.execute(ok))).retryAfter).toBe(0);
      expect(breaker.state).toBe('half-open');
      clock.set(start + 500 + RESET);
      expect((await rejection(breaker.execute(ok))).retryAfter).toBe(RESET);
      expect(breaker.state).toBe('open');
      expect(changes().at(-1)).toBe('half-open->open:half-open-failure');
    });

    it('does not give up trials while a free slot remains', async () => {
      const { breaker, clock } = await halfOpen({ halfOpenMaxCalls: 2, successThreshold: 5 });
      void breaker.execute(() => deferred().promise);
      clock.set(clock.now() + 2 * RESET);
      const work = jest.fn(ok);
      await expect(breaker.execute(work)).resolves.toBe('ok');
      expect(breaker.state).toBe('half-open');
    });
  });
});

describe('resolveCircuitBreakerOptions', () => {
  it('applies the defaults', () => {
    expect(resolveCircuitBreakerOptions('cb')).toEqual({
      failureThreshold: 5,
      successThreshold: 2,
      resetTimeout: 60_000,
      halfOpenMaxCalls: 1,
      slowCallDuration: 60_000,
      minimumCalls: 10,
      slidingWindow: { type: 'count', size: 100 },
      shared: false,
    });
  });

  it('keeps given values and optional keys', () => {
    const isFailure = () => true;
    const resolved = resolveCircuitBreakerOptions('cb', {
      failureThreshold: 2,
      failureRateThreshold: 50,
      slowCallRateThreshold: 100,
      isFailure,
      shared: true,
      slidingWindow: { type: 'time', size: 2_000 },
    });
    expect(resolved).toMatchObject({
      failureThreshold: 2,
      failureRateThreshold: 50,
      slowCallRateThreshold: 100,
      shared: true,
      slidingWindow: { type: 'time', size: 2_000 },
    });
    expect(resolved.isFailure).toBe(isFailure);
  });

  it.each([
    ['count', 100],
    ['time', 10_000],
  ] as const)('gives a %s window without size its default size %p', (type, size) => {
    expect(resolveCircuitBreakerOptions('cb', { slidingWindow: { type } }).slidingWindow).toEqual({
      type,
      size,
    });
  });

  it('accepts a fractional time window and the 100% thresholds', () => {
    expect(() =>
      resolveCircuitBreakerOptions('cb', {
        slidingWindow: { type: 'time', size: 0.5 },
        failureRateThreshold: 100,
        slowCallRateThreshold: 100,
        minimumCalls: 1,
      }),
    ).not.toThrow();
  });

  it.each([
    ['failureThreshold', { failureThreshold: 0 }, '0'],
    ['failureThreshold', { failureThreshold: NaN }, 'NaN'],
    ['failureThreshold', { failureThreshold: 2.5 }, '2.5'],
    ['successThreshold', { successThreshold: -1 }, '-1'],
    ['resetTimeout', { resetTimeout: -100 }, '-100'],
    ['resetTimeout', { resetTimeout: 0 }, '0'],
    ['resetTimeout', { resetTimeout: '1000' }, '"1000"'],
    ['resetTimeout', { resetTimeout: Infinity }, 'Infinity'],
    ['halfOpenMaxCalls', { halfOpenMaxCalls: 0 }, '0'],
    ['failureRateThreshold', { failureRateThreshold: 0 }, '0'],
    ['failureRateThreshold', { failureRateThreshold: 101 }, '101'],
    ['slowCallRateThreshold', { slowCallRateThreshold: -5 }, '-5'],
    ['slowCallDuration', { slowCallDuration: NaN }, 'NaN'],
    ['minimumCalls', { minimumCalls: 0 }, '0'],
    ['isFailure', { isFailure: 'yes' }, '"yes"'],
    ['shared', { shared: 'yes' }, '"yes"'],
    ['slidingWindow', { slidingWindow: 'count' }, '"count"'],
    ['slidingWindow.type', { slidingWindow: { type: 'sliding' } }, '"sliding"'],
    ['slidingWindow.type', { slidingWindow: { size: 10 } }, 'undefined'],
    ['slidingWindow.size', { slidingWindow: { type: 'count', size: 0 } }, '0'],
    ['slidingWindow.size', { slidingWindow: { type: 'count', size: 2.5 } }, '2.5'],
    ['slidingWindow.size', { slidingWindow: { type: 'time', size: -1 } }, '-1'],
    ['slidingWindow.sizes', { slidingWindow: { type: 'time', sizes: 1 } }, undefined],
    ['failureTreshold', { failureTreshold: 3 }, undefined],
    [
      'minimumCalls',
      { failureRateThreshold: 50, minimumCalls: 20, slidingWindow: { type: 'count', size: 10 } },
      '20',
    ],
  ])('rejects a bad %s (%j)', (key, options, shown) => {
    let error: unknown;
    try {
      resolveCircuitBreakerOptions('payments', options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ResilienceConfigError);
    const configError = error as ResilienceConfigError;
    expect(configError.key).toBe(key);
    expect(configError.policyName).toBe('payments');
    expect(configError.message).toContain('"payments"');
    expect(configError.message).toContain(`"${key}"`);
    if (shown !== undefined) expect(configError.message).toContain(`is ${shown};`);
  });

  it('allows minimumCalls above a count window size in consecutive mode', () => {
    expect(() =>
      resolveCircuitBreakerOptions('cb', {
        minimumCalls: 20,
        slidingWindow: { type: 'count', size: 10 },
      }),
    ).not.toThrow();
  });

  it('rejects bad options from the constructor, before any call', () => {
    expect(() => new CircuitBreakerPolicy('cb', { resetTimeout: -1 })).toThrow(
      ResilienceConfigError,
    );
    expect(() => new CircuitBreakerPolicy('cb', { resetTimeout: -1 })).toThrow(/resetTimeout/);
  });
});
