import { FakeClock, flush } from '../../test/utils/fake-clock';
import { settle } from '../../test/utils/promises';
import { spyOnAbort } from '../../test/utils/spy-on-abort';
import { CallContext } from '../common/call-context';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { RateLimitedError } from '../common/errors/rate-limited.error';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { ResilienceEvent } from '../common/events';
import { RateLimiterOptions, resolveRateLimiterOptions } from './rate-limiter.options';
import { RateLimiterPolicy } from './rate-limiter.policy';

function setup(options: Partial<RateLimiterOptions>) {
  const clock = new FakeClock();
  const limiter = new RateLimiterPolicy('Geo.lookup', options, { clock });
  const events: ResilienceEvent[] = [];
  limiter.onEvent((event) => events.push(event));
  return { clock, limiter, events };
}

/** Calls the limiter and reports whether the work started synchronously. */
function call(limiter: RateLimiterPolicy, context?: CallContext) {
  const started = { value: false };
  const result = settle(
    limiter.run(() => {
      started.value = true;
      return 'ok';
    }, context),
  );
  return { started, result };
}

describe('RateLimiterPolicy', () => {
  describe('options', () => {
    it('applies maxWait 0 by default', () => {
      expect(resolveRateLimiterOptions('p', { limit: 5, interval: 1000 })).toEqual({
        limit: 5,
        interval: 1000,
        maxWait: 0,
      });
    });

    it.each(['limit', 'interval'] as const)('requires %s, naming it', (key) => {
      const options: Partial<RateLimiterOptions> = { limit: 1, interval: 1000 };
      delete options[key];
      const attempt = () => new RateLimiterPolicy('Geo.lookup', options);
      expect(attempt).toThrow(ResilienceConfigError);
      expect(attempt).toThrow(`"Geo.lookup": "${key}" is undefined`);
      expect(attempt).toThrow('required');
    });

    it('requires limit when no options are given at all', () => {
      expect(() => new RateLimiterPolicy('Geo.lookup')).toThrow(/"limit" is undefined/);
    });

    it.each([
      ['limit', 0, '0'],
      ['limit', 2.5, '2.5'],
      ['limit', '10', '"10"'],
      ['interval', 0, '0'],
      ['interval', -1, '-1'],
      ['interval', Infinity, 'Infinity'],
      ['maxWait', -1, '-1'],
      ['maxWait', Number.NaN, 'NaN'],
    ])('rejects %s = %p naming the policy, the key and the value', (key, value, shown) => {
      const attempt = () =>
        new RateLimiterPolicy('Geo.lookup', { limit: 1, interval: 1000, [key]: value });
      expect(attempt).toThrow(ResilienceConfigError);
      expect(attempt).toThrow(`"Geo.lookup": "${key}" is ${shown}`);
    });

    it('rejects unknown keys', () => {
      const attempt = () =>
        new RateLimiterPolicy('Geo.lookup', {
          limit: 1,
          interval: 1000,
          maxWiat: 5,
        } as Partial<RateLimiterOptions>);
      expect(attempt).toThrow(/"Geo\.lookup".*unknown key "maxWiat"/);
    });
  });

  describe('limit', () => {
    it('permits limit calls, rejects one more with exact retryAfter, permits later', async () => {
      const { limiter, clock, events } = setup({ limit: 3, interval: 1000 });
      const start = clock.now();
      expect(call(limiter).started.value).toBe(true);
      await clock.advance(100);
      expect(call(limiter).started.value).toBe(true);
      await clock.advance(150);
      const third = call(limiter);
      expect(third.started.value).toBe(true);

      await clock.advance(50); // t = 300
      const fourth = call(limiter);
      expect(fourth.started.value).toBe(false);
      await flush();
      expect(fourth.result.error).toBeInstanceOf(RateLimitedError);
      expect(fourth.result.error).toMatchObject({ retryAfter: 700, policyName: 'Geo.lookup' });
      expect(events).toEqual([
        { type: 'rate-limited', name: 'Geo.lookup', retryAfter: 700, at: start + 300 },
      ]);

      await clock.advance(699); // t = 999: one ms short
      const early = call(limiter);
      await flush();
      expect(early.result.error).toMatchObject({ retryAfter: 1 });

      await clock.advance(1); // t = 1000: the first permit is exactly interval old
      expect(call(limiter).started.value).toBe(true);
      const next = call(limiter); // the second permit (t = 100) frees at t = 1100
      await flush();
      expect(next.result.error).toMatchObject({ retryAfter: 100 });
      await clock.advance(100);
      expect(call(limiter).started.value).toBe(true);
      expect(limiter.stats()).toEqual({ permitted: 5, rejected: 3 });
    });

    it('returns what the work returns and passes its failures through', async () => {
      const { limiter } = setup({ limit: 2, interval: 10 });
      await expect(limiter.execute(() => 42)).resolves.toBe(42);
      const boom = new Error('boom');
      await expect(
        limiter.execute(() => {
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(limiter.stats()).toEqual({ permitted: 2, rejected: 0 });
    });

    it('hands the caller context to the work, or a fresh one', async () => {
      const { limiter } = setup({ limit: 2, interval: 10 });
      const context = new CallContext();
      const seen: CallContext[] = [];
      await limiter.run((c) => seen.push(c), context);
      await limiter.run((c) => seen.push(c), undefined);
      expect(seen[0]).toBe(context);
      expect(seen[1]).toBeInstanceOf(CallContext);
      expect(seen[1]).not.toBe(context);
    });

    it('with limit 1 allows one call per interval', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 50 });
      expect(call(limiter).started.value).toBe(true);
      await clock.advance(49);
      expect(call(limiter).started.value).toBe(false);
      await clock.advance(1);
      expect(call(limiter).started.value).toBe(true);
    });

    it('never starts more than limit calls in any interval (random traffic, waits)', async () => {
      let seed = 7;
      const next = () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed / 2147483648;
      };
      const { limiter, clock } = setup({ limit: 4, interval: 100, maxWait: 60 });
      const starts: number[] = [];
      const results: Array<ReturnType<typeof settle>> = [];
      let immediate = 0;
      for (let i = 0; i < 400; i++) {
        const burst = Math.floor(next() * 4);
        for (let j = 0; j < burst; j++) {
          const before = starts.length;
          results.push(settle(limiter.run(() => starts.push(clock.now()), undefined)));
          if (starts.length > before) immediate++;
        }
        await clock.advance(Math.floor(next() * 15));
      }
      await clock.advance(1000);
      for (let i = 0; i + 4 < starts.length; i++) {
        expect(starts[i + 4] - starts[i]).toBeGreaterThanOrEqual(100);
      }
      const { permitted, rejected } = limiter.stats();
      expect(permitted).toBe(starts.length);
      expect(permitted + rejected).toBe(results.length);
      expect(rejected).toBeGreaterThan(0);
      expect(permitted).toBeGreaterThan(immediate); // some calls waited for their permit
      expect(limiter.waiting).toBe(0);
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('maxWait', () => {
    it('waits for the next permit when it is at most maxWait away', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100, maxWait: 100 });
      const start = clock.now();
      call(limiter);
      await clock.advance(30);
      let startedAt = 0;
      const waiting = settle(limiter.run(() => (startedAt = clock.now()), undefined));
      expect(limiter.waiting).toBe(1);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(69);
      expect(startedAt).toBe(0);
      await clock.advance(1);
      expect(startedAt).toBe(start + 100);
      await flush();
      expect(waiting.status).toBe('resolved');
      expect(limiter.waiting).toBe(0);
      expect(limiter.stats()).toEqual({ permitted: 2, rejected: 0 });
    });

    it('waits when the wait equals maxWait and rejects when it is 1ms longer', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100, maxWait: 100 });
      call(limiter);
      const exact = call(limiter); // wait 100 = maxWait
      expect(limiter.waiting).toBe(1);
      const over = call(limiter); // its permit frees at 200
      await flush();
      expect(over.result.error).toMatchObject({ retryAfter: 200 });
      await clock.advance(100);
      expect(exact.started.value).toBe(true);
    });

    it('reserves permits in order, so later callers queue behind earlier ones', async () => {
      const { limiter, clock } = setup({ limit: 2, interval: 100, maxWait: 250 });
      const order: string[] = [];
      const run = (label: string) =>
        settle(limiter.run(() => order.push(`${label}@${clock.now() - start}`), undefined));
      const start = clock.now();
      run('a');
      run('b');
      run('c'); // permit of a: t = 100
      run('d'); // permit of b: t = 100
      run('e'); // permit of c: t = 200
      run('f'); // permit of d: t = 200
      const g = run('g'); // would wait 300 > 250
      await flush();
      expect(g.error).toMatchObject({ retryAfter: 300 });
      await clock.advance(300);
      expect(order).toEqual(['a@0', 'b@0', 'c@100', 'd@100', 'e@200', 'f@200']);
    });

    it('rejects at once with maxWait 0', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100 });
      call(limiter);
      const second = call(limiter);
      await flush();
      expect(second.result.error).toBeInstanceOf(RateLimitedError);
      expect(clock.pendingTimers).toBe(0);
    });

    it('a cancelled waiter leaves at once, with the reason, and its timer is cleared', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100, maxWait: 500 });
      call(limiter);
      const context = new CallContext();
      const waiting = call(limiter, context);
      expect(clock.pendingTimers).toBe(1);
      const reason = new Error('caller left');
      context.abort(reason);
      expect(limiter.waiting).toBe(0);
      expect(clock.pendingTimers).toBe(0);
      await flush();
      expect(waiting.result).toMatchObject({ status: 'rejected', error: reason });
      await clock.advance(500);
      expect(waiting.started.value).toBe(false);
      expect(limiter.stats()).toEqual({ permitted: 1, rejected: 0 });
    });

    it('a cancelled waiter rejects with CallAbortedError for a non-Error reason', async () => {
      const { limiter } = setup({ limit: 1, interval: 100, maxWait: 500 });
      call(limiter);
      const controller = new AbortController();
      const fn = jest.fn();
      const waiting = settle(limiter.execute(fn, controller.signal));
      controller.abort('stop');
      await flush();
      expect(waiting.error).toBeInstanceOf(CallAbortedError);
      expect(waiting.error).toMatchObject({ policyName: 'Geo.lookup', cause: 'stop' });
      expect(fn).not.toHaveBeenCalled();
    });

    it("a cancelled waiter's reserved permit stays used", async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100, maxWait: 500 });
      call(limiter);
      const context = new CallContext();
      call(limiter, context); // reserves t = 100
      context.abort(new Error('x'));
      const next = call(limiter); // next permit: t = 200
      await clock.advance(199);
      expect(next.started.value).toBe(false);
      await clock.advance(1);
      expect(next.started.value).toBe(true);
    });

    it('rejects a call whose context is already aborted, without using a permit', async () => {
      const { limiter } = setup({ limit: 1, interval: 100 });
      const context = new CallContext();
      context.abort(new Error('too late'));
      const fn = jest.fn();
      await expect(limiter.run(fn, context)).rejects.toThrow('too late');
      expect(fn).not.toHaveBeenCalled();
      expect(call(limiter).started.value).toBe(true);
      expect(limiter.stats()).toEqual({ permitted: 1, rejected: 0 });
    });

    it('stops listening to the context once the waiter starts', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100, maxWait: 500 });
      call(limiter);
      const context = new CallContext();
      const unsubscribes = spyOnAbort(context);
      const waiting = call(limiter, context);
      expect(unsubscribes).toHaveLength(1);
      expect(unsubscribes[0]).not.toHaveBeenCalled();
      await clock.advance(100);
      expect(waiting.started.value).toBe(true);
      expect(unsubscribes[0]).toHaveBeenCalledTimes(1);
    });
  });

  describe('dispose', () => {
    it('rejects waiters with shutdown, leaves no timers and refuses new calls', async () => {
      const { limiter, clock } = setup({ limit: 1, interval: 100, maxWait: 1000 });
      call(limiter);
      const waiters = [call(limiter), call(limiter), call(limiter, new CallContext())];
      expect(clock.pendingTimers).toBe(3);
      limiter.dispose();
      expect(clock.pendingTimers).toBe(0);
      expect(limiter.waiting).toBe(0);
      await flush();
      for (const w of waiters) {
        expect(w.result.error).toBeInstanceOf(BulkheadRejectedError);
        expect(w.result.error).toMatchObject({ reason: 'shutdown', policyName: 'Geo.lookup' });
        expect(w.started.value).toBe(false);
      }
      await clock.advance(10_000);
      const fn = jest.fn();
      await expect(limiter.execute(fn)).rejects.toMatchObject({ reason: 'shutdown' });
      expect(fn).not.toHaveBeenCalled();
    });
  });
});
