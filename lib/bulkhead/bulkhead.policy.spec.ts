import { FakeClock, flush } from '../../test/utils/fake-clock';
import { deferred, settle } from '../../test/utils/promises';
import { spyOnAbort } from '../../test/utils/spy-on-abort';
import { CallContext } from '../common/call-context';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { ResilienceEvent } from '../common/events';
import { BulkheadOptions, resolveBulkheadOptions } from './bulkhead.options';
import { BulkheadPolicy } from './bulkhead.policy';

function setup(options: Partial<BulkheadOptions> = {}) {
  const clock = new FakeClock();
  const bulkhead = new BulkheadPolicy('Payments.charge', options, { clock });
  const events: ResilienceEvent[] = [];
  bulkhead.onEvent((event) => events.push(event));
  return { clock, bulkhead, events };
}

/** Starts a call whose work stays pending until the returned deferred settles. */
function hold(bulkhead: BulkheadPolicy, context?: CallContext) {
  const work = deferred();
  const started = { value: false };
  const result = settle(
    bulkhead.run(() => {
      started.value = true;
      return work.promise;
    }, context),
  );
  return { work, started, result };
}

describe('BulkheadPolicy', () => {
  describe('options', () => {
    it('applies the defaults', () => {
      expect(resolveBulkheadOptions('p', {})).toEqual({
        maxConcurrent: 10,
        maxQueue: 0,
        queueTimeout: 0,
        overflow: 'reject',
        warningThreshold: 0.8,
        maxKeys: 10_000,
      });
      expect(resolveBulkheadOptions('p', undefined).maxConcurrent).toBe(10);
    });

    it('keeps given values and ignores undefined ones', () => {
      const key = () => 'k';
      const resolved = resolveBulkheadOptions('p', {
        maxConcurrent: 3,
        maxQueue: undefined,
        overflow: 'drop-oldest',
        key,
      });
      expect(resolved).toMatchObject({ maxConcurrent: 3, maxQueue: 0, overflow: 'drop-oldest' });
      expect(resolved.key).toBe(key);
    });

    it.each([
      ['maxConcurrent', 0, '0'],
      ['maxConcurrent', 1.5, '1.5'],
      ['maxConcurrent', '2', '"2"'],
      ['maxQueue', -1, '-1'],
      ['maxQueue', Number.NaN, 'NaN'],
      ['queueTimeout', -5, '-5'],
      ['queueTimeout', Infinity, 'Infinity'],
      ['overflow', 'drop-newest', '"drop-newest"'],
      ['warningThreshold', 0, '0'],
      ['warningThreshold', 1.5, '1.5'],
      ['key', 'tenant', '"tenant"'],
      ['maxKeys', 0, '0'],
    ])('rejects %s = %p naming the policy, the key and the value', (key, value, shown) => {
      const attempt = () => new BulkheadPolicy('Payments.charge', { [key]: value });
      expect(attempt).toThrow(ResilienceConfigError);
      expect(attempt).toThrow(`"Payments.charge"`);
      expect(attempt).toThrow(`"${key}" is ${shown}`);
      try {
        attempt();
      } catch (error) {
        expect(error).toMatchObject({ policyName: 'Payments.charge', key, value });
      }
    });

    it('rejects unknown keys such as typos', () => {
      const attempt = () =>
        new BulkheadPolicy('Payments.charge', { maxConcurent: 2 } as Partial<BulkheadOptions>);
      expect(attempt).toThrow(ResilienceConfigError);
      expect(attempt).toThrow(/"Payments\.charge".*unknown key "maxConcurent"/);
    });

    it('accepts the boundary values', () => {
      expect(
        () =>
          new BulkheadPolicy('p', {
            maxConcurrent: 1,
            maxQueue: 0,
            queueTimeout: 0,
            warningThreshold: 1,
            maxKeys: 1,
          }),
      ).not.toThrow();
    });
  });

  describe('admission', () => {
    it('calls the work synchronously when a slot is free, with a context', () => {
      const { bulkhead } = setup();
      let received: CallContext | undefined;
      const promise = bulkhead.run((context) => {
        received = context;
        return 'ok';
      }, undefined);
      expect(received).toBeInstanceOf(CallContext);
      return expect(promise).resolves.toBe('ok');
    });

    it('passes the caller context through to the work', async () => {
      const { bulkhead } = setup();
      const context = new CallContext();
      let received: CallContext | undefined;
      await bulkhead.run((c) => {
        received = c;
      }, context);
      expect(received).toBe(context);
    });

    it('runs maxConcurrent calls, queues the next, rejects one more when full', async () => {
      const { bulkhead } = setup({ maxConcurrent: 2, maxQueue: 1 });
      const a = hold(bulkhead);
      const b = hold(bulkhead);
      expect(a.started.value && b.started.value).toBe(true);
      expect(bulkhead.stats()).toMatchObject({ active: 2, queued: 0 });

      const c = hold(bulkhead);
      expect(c.started.value).toBe(false);
      expect(bulkhead.stats()).toMatchObject({ active: 2, queued: 1 });

      const d = hold(bulkhead);
      await flush();
      expect(d.started.value).toBe(false);
      expect(d.result.status).toBe('rejected');
      expect(d.result.error).toBeInstanceOf(BulkheadRejectedError);
      expect(d.result.error).toMatchObject({ reason: 'full', policyName: 'Payments.charge' });
      expect(bulkhead.stats()).toEqual({
        active: 2,
        queued: 1,
        maxConcurrent: 2,
        maxQueue: 1,
        accepted: 2,
        rejected: 1,
        queueTimeouts: 0,
        aborted: 0,
      });
    });

    it('rejects at once when maxQueue is 0', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1 });
      hold(bulkhead);
      await expect(bulkhead.execute(() => 'x')).rejects.toMatchObject({ reason: 'full' });
      expect(bulkhead.stats()).toMatchObject({ active: 1, queued: 0, rejected: 1 });
    });

    it('hands a freed slot straight to the oldest waiter (FIFO)', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 3 });
      const a = hold(bulkhead);
      const b = hold(bulkhead);
      const c = hold(bulkhead);
      const d = hold(bulkhead);
      expect(bulkhead.stats()).toMatchObject({ active: 1, queued: 3 });

      a.work.resolve('a');
      await flush();
      expect(a.result).toMatchObject({ status: 'resolved', value: 'a' });
      expect([b.started.value, c.started.value, d.started.value]).toEqual([true, false, false]);
      expect(bulkhead.stats()).toMatchObject({ active: 1, queued: 2, accepted: 2 });

      b.work.resolve('b');
      await flush();
      expect([c.started.value, d.started.value]).toEqual([true, false]);
      c.work.resolve('c');
      await flush();
      expect(d.started.value).toBe(true);
      d.work.resolve('d');
      await flush();
      expect(d.result).toMatchObject({ status: 'resolved', value: 'd' });
      expect(bulkhead.stats()).toMatchObject({ active: 0, queued: 0, accepted: 4 });
    });

    it('frees the slot when the work rejects, keeping the error', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      const a = hold(bulkhead);
      const b = hold(bulkhead);
      const boom = new Error('boom');
      a.work.reject(boom);
      await flush();
      expect(a.result).toMatchObject({ status: 'rejected', error: boom });
      expect(b.started.value).toBe(true);
      expect(bulkhead.stats()).toMatchObject({ active: 1, queued: 0 });
    });

    it('frees the slot when the work throws synchronously', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      const boom = new Error('sync');
      const a = settle(
        bulkhead.run(() => {
          throw boom;
        }, undefined),
      );
      const b = hold(bulkhead);
      expect(b.started.value).toBe(false);
      await flush();
      expect(a).toMatchObject({ status: 'rejected', error: boom });
      expect(b.started.value).toBe(true);
      b.work.resolve('b');
      await flush();
      expect(bulkhead.stats()).toMatchObject({ active: 0, queued: 0, accepted: 2, rejected: 0 });
    });

    it('accepts plain values and thenables from the work', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1 });
      await expect(bulkhead.execute(() => 42)).resolves.toBe(42);
      const thenable = { then: (ok: (v: string) => void) => ok('later') };
      await expect(bulkhead.execute(() => thenable as PromiseLike<string>)).resolves.toBe('later');
      expect(bulkhead.stats()).toMatchObject({ active: 0, accepted: 2 });
    });
  });

  describe("overflow: 'drop-oldest'", () => {
    it('evicts the oldest waiter and queues the new call', async () => {
      const { bulkhead, events } = setup({
        maxConcurrent: 1,
        maxQueue: 2,
        overflow: 'drop-oldest',
      });
      const a = hold(bulkhead);
      const b = hold(bulkhead);
      const c = hold(bulkhead);
      const d = hold(bulkhead);
      await flush();
      expect(b.result.status).toBe('rejected');
      expect(b.result.error).toMatchObject({ reason: 'evicted' });
      expect(c.result.status).toBe('pending');
      expect(d.result.status).toBe('pending');
      expect(bulkhead.stats()).toMatchObject({ active: 1, queued: 2, rejected: 1 });
      expect(events.filter((e) => e.type === 'bulkhead-rejected')).toEqual([
        {
          type: 'bulkhead-rejected',
          name: 'Payments.charge',
          reason: 'evicted',
          at: expect.any(Number),
        },
      ]);

      const e = hold(bulkhead);
      await flush();
      expect(c.result.error).toMatchObject({ reason: 'evicted' });

      a.work.resolve('a');
      await flush();
      expect([b.started.value, c.started.value, d.started.value]).toEqual([false, false, true]);
      d.work.resolve('d');
      await flush();
      expect(e.started.value).toBe(true);
    });

    it('is just full when maxQueue is 0', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, overflow: 'drop-oldest' });
      const a = hold(bulkhead);
      await expect(bulkhead.execute(() => 'b')).rejects.toMatchObject({ reason: 'full' });
      expect(a.result.status).toBe('pending');
    });

    it("clears the evicted waiter's queue timer", async () => {
      const { bulkhead, clock } = setup({
        maxConcurrent: 1,
        maxQueue: 1,
        overflow: 'drop-oldest',
        queueTimeout: 100,
      });
      hold(bulkhead);
      hold(bulkhead);
      expect(clock.pendingTimers).toBe(1);
      hold(bulkhead);
      expect(clock.pendingTimers).toBe(1);
    });
  });

  describe('queueTimeout', () => {
    it('fails a waiter at exactly the timeout', async () => {
      const { bulkhead, clock, events } = setup({
        maxConcurrent: 1,
        maxQueue: 1,
        queueTimeout: 100,
      });
      hold(bulkhead);
      const b = hold(bulkhead);
      await clock.advance(99);
      expect(b.result.status).toBe('pending');
      expect(bulkhead.stats().queued).toBe(1);
      await clock.advance(1);
      expect(b.result.status).toBe('rejected');
      expect(b.result.error).toBeInstanceOf(BulkheadRejectedError);
      expect(b.result.error).toMatchObject({ reason: 'queue-timeout' });
      expect(b.started.value).toBe(false);
      expect(bulkhead.stats()).toMatchObject({
        active: 1,
        queued: 0,
        rejected: 1,
        queueTimeouts: 1,
      });
      expect(events).toContainEqual({
        type: 'bulkhead-rejected',
        name: 'Payments.charge',
        reason: 'queue-timeout',
        at: clock.now(),
      });
    });

    it('clears the timer when the waiter gets a slot', async () => {
      const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 100 });
      const a = hold(bulkhead);
      const b = hold(bulkhead);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(50);
      a.work.resolve('a');
      await flush();
      expect(b.started.value).toBe(true);
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(100);
      expect(b.result.status).toBe('pending');
      expect(bulkhead.stats().queueTimeouts).toBe(0);
    });

    it('sets no timer when queueTimeout is 0', async () => {
      const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1 });
      hold(bulkhead);
      const b = hold(bulkhead);
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(1_000_000);
      expect(b.result.status).toBe('pending');
    });
  });

  describe('cancellation', () => {
    it('takes an aborted waiter out of the queue at once and rejects with the reason', async () => {
      const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 2, queueTimeout: 100 });
      const a = hold(bulkhead);
      const context = new CallContext();
      const b = hold(bulkhead, context);
      const c = hold(bulkhead);
      expect(clock.pendingTimers).toBe(2);

      const reason = new Error('caller gave up');
      context.abort(reason);
      expect(bulkhead.stats()).toMatchObject({ queued: 1, aborted: 1 });
      expect(clock.pendingTimers).toBe(1);
      await flush();
      expect(b.result).toMatchObject({ status: 'rejected', error: reason });

      a.work.resolve('a');
      await flush();
      expect(b.started.value).toBe(false);
      expect(c.started.value).toBe(true);
      expect(bulkhead.stats()).toMatchObject({ rejected: 0, accepted: 2 });
    });

    it('rejects with CallAbortedError when the reason is not an Error', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      hold(bulkhead);
      const context = new CallContext();
      const b = hold(bulkhead, context);
      context.abort('user left');
      await flush();
      expect(b.result.error).toBeInstanceOf(CallAbortedError);
      expect(b.result.error).toMatchObject({ policyName: 'Payments.charge', cause: 'user left' });
    });

    it('accepts an AbortSignal through execute()', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      hold(bulkhead);
      const controller = new AbortController();
      const fn = jest.fn();
      const result = settle(bulkhead.execute(fn, controller.signal));
      controller.abort(new Error('stop'));
      await flush();
      expect(result).toMatchObject({ status: 'rejected', error: new Error('stop') });
      expect(fn).not.toHaveBeenCalled();
      expect(bulkhead.stats().queued).toBe(0);
    });

    it('rejects a call whose context is already aborted without running it', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1 });
      const context = new CallContext();
      context.abort(new Error('too late'));
      const fn = jest.fn();
      await expect(bulkhead.run(fn, context)).rejects.toThrow('too late');
      expect(fn).not.toHaveBeenCalled();
      expect(bulkhead.stats()).toMatchObject({ active: 0, accepted: 0, aborted: 1 });
    });

    it('does not touch a running call when its context aborts', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      const context = new CallContext();
      const a = hold(bulkhead, context);
      context.abort(new Error('cancel'));
      expect(bulkhead.stats()).toMatchObject({ active: 1, aborted: 0 });
      a.work.resolve('done anyway');
      await flush();
      expect(a.result).toMatchObject({ status: 'resolved', value: 'done anyway' });
      expect(bulkhead.stats().active).toBe(0);
    });

    it('stops listening to the context once the waiter has a slot', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      const a = hold(bulkhead);
      const context = new CallContext();
      const unsubscribes = spyOnAbort(context);
      const b = hold(bulkhead, context);
      expect(unsubscribes).toHaveLength(1);
      expect(unsubscribes[0]).not.toHaveBeenCalled();
      a.work.resolve('a');
      await flush();
      expect(b.started.value).toBe(true);
      expect(unsubscribes[0]).toHaveBeenCalledTimes(1);
      context.abort(new Error('late'));
      expect(bulkhead.stats()).toMatchObject({ active: 1, aborted: 0 });
      b.work.resolve('b');
      await flush();
      expect(b.result).toMatchObject({ status: 'resolved', value: 'b' });
    });
  });

  describe('events', () => {
    const pressure = (events: ResilienceEvent[]) =>
      events.filter((e) => e.type === 'bulkhead-pressure');

    it('emits bulkhead-pressure once per crossing of the threshold', async () => {
      const { bulkhead, clock, events } = setup({
        maxConcurrent: 1,
        maxQueue: 5,
        warningThreshold: 0.6,
      });
      const running = hold(bulkhead);
      const waiting = [hold(bulkhead), hold(bulkhead)];
      expect(pressure(events)).toHaveLength(0);
      waiting.push(hold(bulkhead));
      expect(pressure(events)).toEqual([
        {
          type: 'bulkhead-pressure',
          name: 'Payments.charge',
          queued: 3,
          maxQueue: 5,
          ratio: 0.6,
          at: clock.now(),
        },
      ]);
      waiting.push(hold(bulkhead), hold(bulkhead));
      expect(pressure(events)).toHaveLength(1);

      // 5 -> 4 -> 3: still at or above the threshold, no re-arm
      running.work.resolve('r');
      await flush();
      waiting[0].work.resolve('w0');
      await flush();
      expect(bulkhead.stats().queued).toBe(3);
      waiting.push(hold(bulkhead));
      expect(pressure(events)).toHaveLength(1);

      // 4 -> 3 -> 2: below, re-armed; back to 3 emits again
      waiting[1].work.resolve('w1');
      await flush();
      waiting[2].work.resolve('w2');
      await flush();
      expect(bulkhead.stats().queued).toBe(2);
      expect(pressure(events)).toHaveLength(1);
      hold(bulkhead);
      expect(pressure(events)).toHaveLength(2);
      expect(pressure(events)[1]).toMatchObject({ queued: 3, ratio: 0.6 });
    });

    it('compares the ratio without rounding errors (0.7 of 10 is 7)', () => {
      const { bulkhead, events } = setup({ maxConcurrent: 1, maxQueue: 10, warningThreshold: 0.7 });
      hold(bulkhead);
      for (let i = 0; i < 6; i++) hold(bulkhead);
      expect(pressure(events)).toHaveLength(0);
      hold(bulkhead);
      expect(pressure(events)).toEqual([expect.objectContaining({ queued: 7, ratio: 0.7 })]);
    });

    it('re-arms when a waiter leaves by timeout or abort', async () => {
      const { bulkhead, clock, events } = setup({
        maxConcurrent: 1,
        maxQueue: 2,
        warningThreshold: 1,
        queueTimeout: 10,
      });
      hold(bulkhead);
      hold(bulkhead);
      const context = new CallContext();
      hold(bulkhead, context);
      expect(pressure(events)).toHaveLength(1);
      context.abort(new Error('x'));
      hold(bulkhead);
      expect(pressure(events)).toHaveLength(2);
      await clock.advance(10);
      expect(bulkhead.stats().queued).toBe(0);
      hold(bulkhead);
      hold(bulkhead);
      expect(pressure(events)).toHaveLength(3);
    });

    it('does not re-emit pressure while drop-oldest keeps the queue full', () => {
      const { bulkhead, events } = setup({
        maxConcurrent: 1,
        maxQueue: 1,
        overflow: 'drop-oldest',
      });
      hold(bulkhead);
      hold(bulkhead);
      hold(bulkhead);
      hold(bulkhead);
      expect(pressure(events)).toHaveLength(1);
    });

    it('emits bulkhead-rejected on every rejection, with its reason', async () => {
      const { bulkhead, clock, events } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 5 });
      hold(bulkhead);
      hold(bulkhead);
      hold(bulkhead);
      hold(bulkhead);
      await clock.advance(5);
      hold(bulkhead);
      bulkhead.dispose();
      hold(bulkhead);
      await flush();
      const reasons = events
        .filter((e) => e.type === 'bulkhead-rejected')
        .map((e) => e.type === 'bulkhead-rejected' && e.reason);
      expect(reasons).toEqual(['full', 'full', 'queue-timeout', 'shutdown', 'shutdown']);
      expect(bulkhead.stats()).toMatchObject({ rejected: 5, queueTimeouts: 1 });
      expect(events.every((e) => !('key' in e))).toBe(true);
    });

    it('keeps working when a listener throws', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1 });
      bulkhead.onEvent(() => {
        throw new Error('listener');
      });
      hold(bulkhead);
      await expect(bulkhead.execute(() => 'x')).rejects.toMatchObject({ reason: 'full' });
    });
  });

  describe('dispose', () => {
    it('rejects every waiter with shutdown, clears its timers and refuses new calls', async () => {
      const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 3, queueTimeout: 1000 });
      const a = hold(bulkhead);
      const waiters = [hold(bulkhead), hold(bulkhead), hold(bulkhead)];
      expect(clock.pendingTimers).toBe(3);

      bulkhead.dispose();
      expect(clock.pendingTimers).toBe(0);
      expect(bulkhead.stats()).toMatchObject({ active: 1, queued: 0, rejected: 3 });
      await flush();
      for (const w of waiters) {
        expect(w.result.error).toBeInstanceOf(BulkheadRejectedError);
        expect(w.result.error).toMatchObject({ reason: 'shutdown' });
        expect(w.started.value).toBe(false);
      }

      const fn = jest.fn();
      await expect(bulkhead.execute(fn)).rejects.toMatchObject({ reason: 'shutdown' });
      expect(fn).not.toHaveBeenCalled();

      a.work.resolve('finished');
      await flush();
      expect(a.result).toMatchObject({ status: 'resolved', value: 'finished' });
      expect(bulkhead.stats()).toMatchObject({ active: 0, queued: 0, rejected: 4 });
    });
  });

  describe('counters never drift', () => {
    /** A small deterministic pseudo-random generator (mulberry32). */
    function random(seed: number) {
      let a = seed;
      return () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }

    /**
     * 25 clients each call the bulkhead in a retry loop (up to 4 attempts). Each attempt
     * succeeds, fails, throws synchronously, or is aborted by its caller after 5ms; the
     * queue is small and its timeout short, so waiters also time out, overflow and (with
     * 'drop-oldest') get evicted.
     */
    async function scenario(overflow: 'reject' | 'drop-oldest', seed: number) {
      const next = random(seed);
      const { bulkhead, clock } = setup({
        maxConcurrent: 3,
        maxQueue: 4,
        queueTimeout: 15,
        overflow,
      });
      const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
      let running = 0;
      let peak = 0;
      let attempts = 0;
      const outcomes = { ok: 0, failed: 0, rejected: 0, aborted: 0 };

      const work = async (kind: number) => {
        running++;
        peak = Math.max(peak, running);
        try {
          await sleep(1 + Math.floor(next() * 30));
          if (kind < 0.25) throw new Error('work failed');
          return 'ok';
        } finally {
          running--;
        }
      };

      const client = async () => {
        for (let attempt = 1; attempt <= 4; attempt++) {
          attempts++;
          const kind = next();
          const context = new CallContext();
          const abortTimer =
            next() < 0.3
              ? clock.setTimeout(() => context.abort(next() < 0.5 ? 'gone' : new Error('x')), 5)
              : undefined;
          try {
            await bulkhead.run(() => {
              if (kind > 0.9) throw new Error('sync throw');
              return work(kind);
            }, context);
            outcomes.ok++;
            return;
          } catch (error) {
            if (error instanceof BulkheadRejectedError) outcomes.rejected++;
            else if (error instanceof CallAbortedError || (error as Error).message === 'x') {
              outcomes.aborted++;
            } else outcomes.failed++;
          } finally {
            clock.clearTimeout(abortTimer);
          }
          await sleep(Math.floor(next() * 10));
        }
      };

      let done = false;
      void Promise.all(Array.from({ length: 25 }, client)).then(() => (done = true));
      for (let step = 0; step < 2000 && !done; step++) {
        await clock.advance(1);
        const s = bulkhead.stats();
        expect(s.active).toBeLessThanOrEqual(3);
        expect(s.queued).toBeLessThanOrEqual(4);
        expect(s.active).toBe(running);
      }
      expect(done).toBe(true);

      const stats = bulkhead.stats();
      expect(stats.active).toBe(0);
      expect(stats.queued).toBe(0);
      expect(peak).toBeLessThanOrEqual(3);
      expect(clock.pendingTimers).toBe(0);
      expect(stats.accepted + stats.rejected + stats.aborted).toBe(attempts);
      expect(stats.rejected).toBe(outcomes.rejected);
      expect(stats.aborted).toBe(outcomes.aborted);
      expect(stats.accepted).toBe(outcomes.ok + outcomes.failed);
      return { stats, outcomes };
    }

    it.each(['reject', 'drop-oldest'] as const)(
      'keeps active and queued exact under a retry loop with every kind of outcome (%s)',
      async (overflow) => {
        const seen = { queueTimeouts: 0, otherRejections: 0, aborted: 0, failed: 0 };
        for (let seed = 1; seed <= 6; seed++) {
          const { stats, outcomes } = await scenario(overflow, seed);
          seen.queueTimeouts += stats.queueTimeouts;
          seen.otherRejections += stats.rejected - stats.queueTimeouts;
          seen.aborted += stats.aborted;
          seen.failed += outcomes.failed;
        }
        // the mix really went through every path
        expect(seen.queueTimeouts).toBeGreaterThan(0);
        expect(seen.otherRejections).toBeGreaterThan(0);
        expect(seen.aborted).toBeGreaterThan(0);
        expect(seen.failed).toBeGreaterThan(0);
      },
    );
  });
});
