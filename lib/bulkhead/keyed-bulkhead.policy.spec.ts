import { FakeClock, flush } from '../../test/utils/fake-clock';
import { deferred, settle } from '../../test/utils/promises';
import { CallContext } from '../common/call-context';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { ResilienceEvent } from '../common/events';
import type { BulkheadOptions } from './bulkhead.options';
import { BulkheadPolicy } from './bulkhead.policy';
import { createBulkheadPolicy } from './create-bulkhead-policy';
import { KeyedBulkheadPolicy } from './keyed-bulkhead.policy';

const byTenant = (tenant: string) => tenant;

function setup(options: Partial<BulkheadOptions> = {}) {
  const clock = new FakeClock();
  const bulkhead = new KeyedBulkheadPolicy(
    'Tenants.query',
    { key: byTenant, ...options },
    { clock },
  );
  const events: ResilienceEvent[] = [];
  bulkhead.onEvent((event) => events.push(event));
  return { clock, bulkhead, events };
}

/** A call for `tenant` whose work stays pending until `work` settles. */
function hold(bulkhead: KeyedBulkheadPolicy, tenant: string, context?: CallContext) {
  const work = deferred();
  const started = { value: false };
  const result = settle(
    bulkhead.run(
      () => {
        started.value = true;
        return work.promise;
      },
      context,
      [tenant],
    ),
  );
  return { work, started, result };
}

/** One completed call for `tenant`. */
async function use(bulkhead: KeyedBulkheadPolicy, tenant: string) {
  await bulkhead.run(() => 'done', undefined, [tenant]);
}

describe('KeyedBulkheadPolicy', () => {
  describe('options', () => {
    it('requires key, naming the policy and the key', () => {
      const attempt = () =>
        new KeyedBulkheadPolicy('Tenants.query', {} as unknown as { key: () => string });
      expect(attempt).toThrow(ResilienceConfigError);
      expect(attempt).toThrow(/"Tenants\.query".*"key" is undefined/);
    });

    it('validates the other options as BulkheadPolicy does', () => {
      expect(() => new KeyedBulkheadPolicy('t', { key: byTenant, maxKeys: 0 })).toThrow(
        /"t".*"maxKeys" is 0/,
      );
      expect(
        () => new KeyedBulkheadPolicy('t', { key: 'tenant' as unknown as () => string }),
      ).toThrow(/"key" is "tenant"; expected a function/);
    });

    it('createBulkheadPolicy picks the keyed kind when key is set', () => {
      expect(createBulkheadPolicy('a', { key: byTenant })).toBeInstanceOf(KeyedBulkheadPolicy);
      expect(createBulkheadPolicy('b', { maxConcurrent: 2 })).toBeInstanceOf(BulkheadPolicy);
      expect(createBulkheadPolicy('c')).toBeInstanceOf(BulkheadPolicy);
      expect(createBulkheadPolicy('d', { key: byTenant }).kind).toBe('bulkhead');
    });
  });

  describe('partitions', () => {
    it('takes the key from the method arguments and isolates the keys', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1 });
      const a1 = hold(bulkhead, 'acme');
      expect(a1.started.value).toBe(true);
      const a2 = hold(bulkhead, 'acme');
      const g1 = hold(bulkhead, 'globex');
      expect(g1.started.value).toBe(true);
      await flush();
      expect(a2.result.error).toMatchObject({ reason: 'full' });
      expect(bulkhead.forKey('acme')).toMatchObject({ active: 1, accepted: 1, rejected: 1 });
      expect(bulkhead.forKey('globex')).toMatchObject({ active: 1, accepted: 1, rejected: 0 });
      expect(bulkhead.forKey('initech')).toBeUndefined();
      expect(bulkhead.stats()).toEqual({
        active: 2,
        queued: 0,
        maxConcurrent: 1,
        maxQueue: 0,
        accepted: 2,
        rejected: 1,
        queueTimeouts: 0,
        aborted: 0,
        keys: 2,
      });
    });

    it('passes every argument to the key function', async () => {
      const key = jest.fn((_id: number, user: { tenant: string }) => user.tenant);
      const clock = new FakeClock();
      const bulkhead = new KeyedBulkheadPolicy('Orders.list', { key }, { clock });
      await bulkhead.run(() => 'ok', undefined, [7, { tenant: 'acme' }]);
      expect(key).toHaveBeenCalledWith(7, { tenant: 'acme' });
      expect(bulkhead.forKey('acme')).toMatchObject({ accepted: 1 });
    });

    it('queues and times out per partition', async () => {
      const { bulkhead, clock, events } = setup({
        maxConcurrent: 1,
        maxQueue: 1,
        queueTimeout: 20,
      });
      hold(bulkhead, 'acme');
      const waiting = hold(bulkhead, 'acme');
      await clock.advance(20);
      expect(waiting.result.error).toMatchObject({ reason: 'queue-timeout' });
      expect(events).toContainEqual({
        type: 'bulkhead-rejected',
        name: 'Tenants.query',
        reason: 'queue-timeout',
        at: clock.now(),
        key: 'acme',
      });
      expect(bulkhead.stats()).toMatchObject({ rejected: 1, queueTimeouts: 1, queued: 0 });
    });

    it('emits pressure per partition, with the key', () => {
      const { bulkhead, events } = setup({ maxConcurrent: 1, maxQueue: 2, warningThreshold: 0.5 });
      hold(bulkhead, 'acme');
      hold(bulkhead, 'acme');
      hold(bulkhead, 'globex');
      hold(bulkhead, 'globex');
      hold(bulkhead, 'globex');
      expect(events.filter((e) => e.type === 'bulkhead-pressure')).toEqual([
        expect.objectContaining({ key: 'acme', queued: 1, maxQueue: 2, ratio: 0.5 }),
        expect.objectContaining({ key: 'globex', queued: 1, maxQueue: 2, ratio: 0.5 }),
      ]);
    });

    it('executeFor() runs in the named partition and accepts an AbortSignal', async () => {
      const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1 });
      await expect(bulkhead.executeFor('acme', () => 'direct')).resolves.toBe('direct');
      hold(bulkhead, 'acme');
      const controller = new AbortController();
      const fn = jest.fn();
      const waiting = settle(bulkhead.executeFor('acme', fn, controller.signal));
      expect(bulkhead.forKey('acme')).toMatchObject({ queued: 1 });
      controller.abort(new Error('stop'));
      await flush();
      expect(waiting).toMatchObject({ status: 'rejected', error: new Error('stop') });
      expect(fn).not.toHaveBeenCalled();
      expect(bulkhead.forKey('acme')).toMatchObject({
        active: 1,
        queued: 0,
        accepted: 2,
        aborted: 1,
      });
    });
  });

  describe('bad keys', () => {
    it('rejects with a TypeError naming the policy when the key function throws', async () => {
      const cause = new Error('no tenant');
      const clock = new FakeClock();
      const bulkhead = new KeyedBulkheadPolicy(
        'Tenants.query',
        {
          key: () => {
            throw cause;
          },
        },
        { clock },
      );
      const fn = jest.fn();
      const error = await bulkhead.run(fn, undefined, []).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(error).toMatchObject({ cause });
      expect((error as Error).message).toMatch(/"Tenants\.query".*key function threw.*no tenant/);
      expect(fn).not.toHaveBeenCalled();
      expect(bulkhead.stats()).toMatchObject({ keys: 0, accepted: 0, rejected: 0 });
    });

    it.each([
      [undefined, 'undefined'],
      [42, '42'],
      [null, 'null'],
      [{ id: 1 }, '{"id":1}'],
    ])('rejects the call with a TypeError when the key is %p', async (key, shown) => {
      const clock = new FakeClock();
      const bulkhead = new KeyedBulkheadPolicy(
        'Tenants.query',
        { key: () => key as unknown as string },
        { clock },
      );
      const fn = jest.fn();
      const error = await bulkhead.run(fn, undefined, ['x']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain('"Tenants.query"');
      expect((error as Error).message).toContain(`got ${shown}`);
      expect(fn).not.toHaveBeenCalled();
      expect(bulkhead.keys).toBe(0);
    });

    it('executeFor() rejects a non-string key', async () => {
      const { bulkhead } = setup();
      await expect(bulkhead.executeFor(5 as unknown as string, () => 'x')).rejects.toThrow(
        TypeError,
      );
      expect(bulkhead.keys).toBe(0);
    });

    it('calls the key function with no arguments when none are given', async () => {
      const key = jest.fn(() => 'all');
      const bulkhead = new KeyedBulkheadPolicy('t', { key }, { clock: new FakeClock() });
      await bulkhead.run(() => 1, undefined);
      expect(key).toHaveBeenCalledWith();
    });
  });

  describe('idle partitions (maxKeys)', () => {
    it('drops the least recently used idle partition first', async () => {
      const { bulkhead } = setup({ maxKeys: 2 });
      await use(bulkhead, 'a');
      await use(bulkhead, 'b');
      expect(bulkhead.keys).toBe(2);
      await use(bulkhead, 'c');
      expect(bulkhead.keys).toBe(2);
      expect(bulkhead.forKey('a')).toBeUndefined();
      expect(bulkhead.forKey('b')).toBeDefined();
      expect(bulkhead.forKey('c')).toBeDefined();

      await use(bulkhead, 'b'); // b is now more recent than c
      await use(bulkhead, 'd');
      expect(bulkhead.forKey('c')).toBeUndefined();
      expect(bulkhead.forKey('b')).toBeDefined();
      expect(bulkhead.forKey('d')).toBeDefined();
    });

    it('orders by the end of the last call, not by creation', async () => {
      const { bulkhead } = setup({ maxKeys: 2 });
      const a = hold(bulkhead, 'a');
      await use(bulkhead, 'b');
      a.work.resolve('a');
      await flush();
      await use(bulkhead, 'c');
      expect(bulkhead.forKey('b')).toBeUndefined();
      expect(bulkhead.forKey('a')).toBeDefined();
    });

    it('never drops a busy partition', async () => {
      const { bulkhead } = setup({ maxKeys: 1, maxConcurrent: 1, maxQueue: 1 });
      const running = hold(bulkhead, 'busy');
      const waiting = hold(bulkhead, 'busy');
      for (const key of ['x', 'y', 'z']) await use(bulkhead, key);
      expect(bulkhead.keys).toBe(2); // busy + the one idle partition allowed
      expect(bulkhead.forKey('busy')).toMatchObject({ active: 1, queued: 1 });
      expect(bulkhead.forKey('z')).toBeDefined();
      expect(bulkhead.forKey('x')).toBeUndefined();

      // the waiter still gets the busy partition's slot
      running.work.resolve('r');
      await flush();
      expect(waiting.started.value).toBe(true);
      waiting.work.resolve('w');
      await flush();
      // once idle, 'busy' is the most recent: 'z' goes
      expect(bulkhead.keys).toBe(1);
      expect(bulkhead.forKey('busy')).toMatchObject({ active: 0, accepted: 2 });
      expect(bulkhead.forKey('z')).toBeUndefined();
    });

    it('takes a partition off the idle list while it is busy again', async () => {
      const { bulkhead } = setup({ maxKeys: 1 });
      await use(bulkhead, 'a');
      const again = hold(bulkhead, 'a');
      await use(bulkhead, 'b');
      await use(bulkhead, 'c');
      expect(bulkhead.forKey('a')).toMatchObject({ active: 1, accepted: 2 });
      expect(bulkhead.forKey('b')).toBeUndefined();
      again.work.resolve('a');
      await flush();
      expect(bulkhead.keys).toBe(1);
      expect(bulkhead.forKey('a')).toMatchObject({ active: 0 });
    });

    it('keeps totals from dropped partitions so counters never go backwards', async () => {
      const { bulkhead } = setup({ maxKeys: 1, maxConcurrent: 1 });
      const a = hold(bulkhead, 'a');
      await bulkhead.run(() => 'x', undefined, ['a']).catch(() => undefined); // rejected: full
      a.work.resolve('a');
      await flush();
      expect(bulkhead.stats()).toMatchObject({ accepted: 1, rejected: 1, keys: 1 });
      await use(bulkhead, 'b');
      expect(bulkhead.forKey('a')).toBeUndefined();
      expect(bulkhead.stats()).toMatchObject({ accepted: 2, rejected: 1, keys: 1, active: 0 });
      await use(bulkhead, 'a'); // a fresh partition for 'a'
      expect(bulkhead.forKey('a')).toMatchObject({ accepted: 1, rejected: 0 });
      expect(bulkhead.stats()).toMatchObject({ accepted: 3, rejected: 1, keys: 1 });
    });

    it('does not keep a partition whose only call was cancelled before it started', async () => {
      const { bulkhead } = setup({ maxKeys: 1 });
      for (const key of ['x', 'y', 'z']) {
        const context = new CallContext();
        context.abort(new Error('cancelled'));
        await expect(bulkhead.run(() => 'never', context, [key])).rejects.toThrow('cancelled');
      }
      expect(bulkhead.keys).toBe(1);
      expect(bulkhead.forKey('z')).toMatchObject({ aborted: 1 });
      expect(bulkhead.stats()).toMatchObject({ aborted: 3 });
    });
  });

  describe('dispose', () => {
    it('rejects the waiters of every partition with shutdown and leaves no timers', async () => {
      const { bulkhead, clock, events } = setup({
        maxConcurrent: 1,
        maxQueue: 2,
        queueTimeout: 500,
      });
      const running = [hold(bulkhead, 'a'), hold(bulkhead, 'b')];
      const waiting = [hold(bulkhead, 'a'), hold(bulkhead, 'a'), hold(bulkhead, 'b')];
      expect(clock.pendingTimers).toBe(3);

      bulkhead.dispose();
      expect(clock.pendingTimers).toBe(0);
      await flush();
      for (const w of waiting) {
        expect(w.result.error).toBeInstanceOf(BulkheadRejectedError);
        expect(w.result.error).toMatchObject({ reason: 'shutdown' });
      }
      await expect(bulkhead.run(() => 'x', undefined, ['c'])).rejects.toMatchObject({
        reason: 'shutdown',
      });
      expect(bulkhead.forKey('c')).toBeUndefined();
      expect(events.filter((e) => e.type === 'bulkhead-rejected')).toHaveLength(4);
      expect(events[events.length - 1]).toMatchObject({ reason: 'shutdown', key: 'c' });

      for (const r of running) r.work.resolve('done');
      await flush();
      expect(running.map((r) => r.result.status)).toEqual(['resolved', 'resolved']);
      expect(bulkhead.stats()).toMatchObject({ active: 0, queued: 0, rejected: 4 });
    });
  });

  it('keeps every partition exact under a retry loop with timeouts and aborts', async () => {
    const { bulkhead, clock } = setup({
      maxConcurrent: 2,
      maxQueue: 2,
      queueTimeout: 8,
      maxKeys: 2,
    });
    const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
    const tenants = ['a', 'b', 'c', 'd'];
    let attempts = 0;
    const client = async (i: number) => {
      for (let attempt = 1; attempt <= 3; attempt++) {
        attempts++;
        const context = new CallContext();
        const abort =
          i % 3 === attempt % 3 ? clock.setTimeout(() => context.abort('gone'), 3) : undefined;
        try {
          await bulkhead.run(
            async () => {
              await sleep(5 + ((i * attempt) % 7));
              if ((i + attempt) % 4 === 0) throw new Error('failed');
            },
            context,
            [tenants[i % tenants.length]],
          );
          return;
        } catch {
          // retry
        } finally {
          clock.clearTimeout(abort);
        }
      }
    };
    const all = Promise.all(Array.from({ length: 24 }, (_, i) => client(i)));
    await clock.advance(200);
    await all;
    const stats = bulkhead.stats();
    expect(stats).toMatchObject({ active: 0, queued: 0 });
    expect(stats.accepted + stats.rejected + stats.aborted).toBe(attempts);
    expect(stats.queueTimeouts).toBeGreaterThan(0);
    expect(stats.aborted).toBeGreaterThan(0);
    expect(bulkhead.keys).toBe(2);
    expect(clock.pendingTimers).toBe(0);
  });
});
