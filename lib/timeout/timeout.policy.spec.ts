import { AsyncLocalStorage } from 'node:async_hooks';
import { FakeClock, flush } from '../../test/utils/fake-clock';
import { deferred, settle } from '../../test/utils/promises';
import { recordUnhandledRejections } from '../../test/utils/unhandled-rejections';
import { CallContext } from '../common/call-context';
import { ResilienceConfigError, TimeoutError } from '../common/errors';
import type { ResilienceEvent } from '../common/events';
import type { Scheduler } from '../common/scheduler';
import { TimeoutPolicy } from './timeout.policy';
import { resolveTimeoutOptions } from './timeout.options';

function setup(timeout = 1000) {
  const clock = new FakeClock();
  const policy = new TimeoutPolicy('svc.timeout', { timeout }, { clock });
  const events: ResilienceEvent[] = [];
  policy.onEvent((event) => events.push(event));
  return { clock, policy, events };
}

const never = () => new Promise<never>(() => undefined);

describe('TimeoutPolicy', () => {
  it('calls fn synchronously and resolves with its value', async () => {
    const { policy } = setup();
    const fn = jest.fn(() => Promise.resolve(42));
    const result = policy.run(fn, undefined);
    expect(fn).toHaveBeenCalledTimes(1);
    await expect(result).resolves.toBe(42);
    expect(policy.stats()).toEqual({ calls: 1, timeouts: 0 });
    expect(policy.kind).toBe('timeout');
  });

  it('passes plain values and the work error through unchanged', async () => {
    const { policy } = setup();
    const error = new Error('work failed');
    await expect(policy.run(() => 'plain', undefined)).resolves.toBe('plain');
    await expect(policy.run(() => Promise.reject(error), undefined)).rejects.toBe(error);
    await expect(
      policy.run(() => {
        throw error;
      }, undefined),
    ).rejects.toBe(error);
  });

  it('times out exactly at `timeout` ms, not a millisecond earlier', async () => {
    const { policy, clock } = setup(1000);
    const start = clock.now();
    const state = settle(policy.run(never, undefined), clock);
    await clock.advance(999);
    expect(state.settled).toBe(false);
    await clock.advance(1);
    expect(state.settled).toBe(true);
    expect(state.at).toBe(start + 1000);
    const error = state.error as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.timeout).toBe(1000);
    expect(error.policyName).toBe('svc.timeout');
    expect(policy.stats()).toEqual({ calls: 1, timeouts: 1 });
  });

  it('rejects the caller at once while the work is still running, and ignores its late result', async () => {
    const { policy, clock } = setup(100);
    const work = deferred<string>();
    const state = settle(
      policy.run(() => work.promise, undefined),
      clock,
    );
    await clock.advance(100);
    expect(state.error).toBeInstanceOf(TimeoutError);
    work.resolve('too late');
    await flush();
    expect(state.value).toBeUndefined();
    expect(state.error).toBeInstanceOf(TimeoutError);
    expect(policy.stats()).toEqual({ calls: 1, timeouts: 1 });
  });

  it('aborts the work context and its signal with the same TimeoutError', async () => {
    const { policy, clock } = setup(100);
    let seen: CallContext | undefined;
    let signal: AbortSignal | undefined;
    const state = settle(
      policy.run((context) => {
        seen = context;
        signal = context.signal;
        return never();
      }, undefined),
      clock,
    );
    expect(signal!.aborted).toBe(false);
    await clock.advance(100);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBe(state.error);
    expect(seen!.aborted).toBe(true);
    expect(seen!.reason).toBe(state.error);
  });

  it('aborts the signal also when the work reads it only after the timeout', async () => {
    const { policy, clock } = setup(100);
    let seen: CallContext | undefined;
    const state = settle(
      policy.run((context) => {
        seen = context;
        return never();
      }, undefined),
      clock,
    );
    await clock.advance(100);
    expect(seen!.signal.aborted).toBe(true);
    expect(seen!.signal.reason).toBe(state.error);
  });

  it('emits a timeout event', async () => {
    const { policy, clock, events } = setup(250);
    const start = clock.now();
    settle(policy.run(never, undefined), clock);
    await clock.advance(250);
    expect(events).toEqual([
      { type: 'timeout', name: 'svc.timeout', timeout: 250, at: start + 250 },
    ]);
  });

  describe('one timer for all calls', () => {
    it('has no timer before any call', () => {
      const { clock } = setup();
      expect(clock.pendingTimers).toBe(0);
    });

    it('leaves no timer once settled calls have passed their deadline', async () => {
      const { policy, clock } = setup(1000);
      for (let i = 0; i < 5; i++) await policy.run(() => Promise.resolve(i), undefined);
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
      await clock.advance(1000);
      expect(clock.pendingTimers).toBe(0);
      expect(policy.stats()).toEqual({ calls: 5, timeouts: 0 });
    });

    it('leaves no timer after the last call timed out', async () => {
      const { policy, clock } = setup(100);
      settle(policy.run(never, undefined), clock);
      settle(policy.run(never, undefined), clock);
      await clock.advance(100);
      expect(clock.pendingTimers).toBe(0);
    });

    it('does not start a timer per call for sequential calls', async () => {
      const { policy, clock } = setup(1000);
      const setTimeout = jest.spyOn(clock, 'setTimeout');
      for (let i = 0; i < 50; i++) {
        await policy.run(() => Promise.resolve(i), undefined);
        await clock.advance(10);
      }
      // 500 ms of calls with a 1000 ms timeout: the first timer is still pending
      expect(setTimeout).toHaveBeenCalledTimes(1);
    });

    it('times out many concurrent calls in call order, each at its own deadline, with one timer', async () => {
      const { policy, clock, events } = setup(1000);
      const start = clock.now();
      const order: number[] = [];
      const states = [];
      for (let i = 0; i < 20; i++) {
        const state = settle(policy.run(never, undefined), clock);
        states.push(state);
        void policy.run(never, undefined).catch(() => order.push(i));
        expect(clock.pendingTimers).toBe(1);
        await clock.advance(7);
      }
      for (let i = 0; i < 20; i++) {
        await clock.advance(start + i * 7 + 1000 - clock.now() - 1);
        expect(states[i].settled).toBe(false);
        expect(clock.pendingTimers).toBe(1);
        await clock.advance(1);
        expect(states[i].at).toBe(start + i * 7 + 1000);
        if (i + 1 < 20) expect(states[i + 1].settled).toBe(false);
      }
      expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(events).toHaveLength(40);
      expect(policy.stats()).toEqual({ calls: 40, timeouts: 40 });
      expect(clock.pendingTimers).toBe(0);
    });

    it('times out every call that shares a deadline with a single timer firing', async () => {
      const { policy, clock } = setup(100);
      const setTimeout = jest.spyOn(clock, 'setTimeout');
      const states = Array.from({ length: 1000 }, () =>
        settle(policy.run(never, undefined), clock),
      );
      expect(setTimeout).toHaveBeenCalledTimes(1);
      await clock.advance(100);
      expect(states.every((s) => s.error instanceof TimeoutError)).toBe(true);
      expect(setTimeout).toHaveBeenCalledTimes(1);
      expect(clock.pendingTimers).toBe(0);
    });

    it('a call that settles early does not move the deadline of the ones behind it', async () => {
      const { policy, clock } = setup(100);
      const start = clock.now();
      const first = deferred<string>();
      const a = settle(
        policy.run(() => first.promise, undefined),
        clock,
      );
      await clock.advance(30);
      const b = settle(policy.run(never, undefined), clock);
      await clock.advance(30);
      const c = settle(
        policy.run(() => Promise.resolve('c'), undefined),
        clock,
      );
      const d = settle(policy.run(never, undefined), clock);
      first.resolve('a');
      await clock.advance(40); // start + 100: the first call's deadline
      expect(a.value).toBe('a');
      expect(c.value).toBe('c');
      expect(b.settled).toBe(false);
      await clock.advance(30);
      expect(b.error).toBeInstanceOf(TimeoutError);
      expect(b.at).toBe(start + 130);
      expect(d.settled).toBe(false);
      await clock.advance(30);
      expect(d.at).toBe(start + 160);
      expect(policy.stats()).toEqual({ calls: 4, timeouts: 2 });
    });

    it('re-arms for a call made after the list emptied with the timer still pending', async () => {
      const { policy, clock } = setup(100);
      const start = clock.now();
      await policy.run(() => 'quick', undefined); // timer armed for start + 100
      await clock.advance(50);
      const late = settle(policy.run(never, undefined), clock); // deadline start + 150
      await clock.advance(50);
      expect(late.settled).toBe(false);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(49);
      expect(late.settled).toBe(false);
      await clock.advance(1);
      expect(late.at).toBe(start + 150);
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('context', () => {
    it('gives the work a child of the caller context', async () => {
      const { policy, clock } = setup(100);
      const parent = new CallContext();
      let child: CallContext | undefined;
      const state = settle(
        policy.run((context) => {
          child = context;
          return never();
        }, parent),
        clock,
      );
      expect(child).toBeInstanceOf(CallContext);
      expect(child).not.toBe(parent);
      await clock.advance(100);
      // the timeout aborts the work, not the caller's context
      expect(child!.aborted).toBe(true);
      expect(parent.aborted).toBe(false);
      expect(state.error).toBeInstanceOf(TimeoutError);
    });

    it('passes an outer abort on to the child signal', async () => {
      const { policy, clock } = setup(1000);
      const parent = new CallContext();
      let signal: AbortSignal | undefined;
      const work = deferred<never>();
      const state = settle(
        policy.run((context) => {
          signal = context.signal;
          signal.addEventListener('abort', () => work.reject(signal!.reason));
          return work.promise;
        }, parent),
        clock,
      );
      const reason = new Error('caller went away');
      parent.abort(reason);
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toBe(reason);
      await flush();
      expect(state.error).toBe(reason);
      expect(policy.stats()).toEqual({ calls: 1, timeouts: 0 });
    });

    it('passes an abort of an AbortSignal given to execute() on to the work', async () => {
      const { policy } = setup(1000);
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const result = policy.execute((context) => {
        signal = context.signal;
        return never();
      }, controller.signal);
      void result.catch(() => undefined);
      controller.abort('stop');
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toBe('stop');
    });

    it('releases the child when the call settles', async () => {
      const { policy } = setup(1000);
      const parent = new CallContext();
      let child: CallContext | undefined;
      await policy.run((context) => {
        child = context;
        return 'done';
      }, parent);
      parent.abort(new Error('later'));
      expect(child!.aborted).toBe(false);
    });

    it('releases the child when the call times out', async () => {
      const { policy, clock } = setup(100);
      const parent = new CallContext();
      const unlinks: jest.Mock[] = [];
      const original = parent.onAbort.bind(parent);
      parent.onAbort = (listener) => {
        const unlink = jest.fn(original(listener));
        unlinks.push(unlink);
        return unlink;
      };
      settle(policy.run(never, parent), clock);
      await clock.advance(100);
      expect(unlinks).toHaveLength(1);
      expect(unlinks[0]).toHaveBeenCalledTimes(1);
    });
  });

  it('a late rejection after the timeout does not become an unhandled rejection', async () => {
    const { policy, clock } = setup(100);
    const unhandled = recordUnhandledRejections();
    try {
      const work = deferred<never>();
      const state = settle(
        policy.run(() => work.promise, undefined),
        clock,
      );
      await clock.advance(99);
      expect(state.settled).toBe(false);
      await clock.advance(1);
      expect(state.error).toBeInstanceOf(TimeoutError);

      work.reject(new Error('late failure'));
      // Node reports a rejection as unhandled once the microtasks of the turn have run
      await flush();
      await flush();
      expect(unhandled.reasons).toEqual([]);
      expect(state.error).toBeInstanceOf(TimeoutError);
      expect(policy.stats()).toEqual({ calls: 1, timeouts: 1 });
    } finally {
      unhandled.stop();
    }
  });

  it('recordUnhandledRejections() sees a rejection handled too late (the test above relies on it)', async () => {
    const unhandled = recordUnhandledRejections();
    const marker = new Error('handled too late');
    const rejected = Promise.reject(marker);
    try {
      await flush();
      await flush();
      expect(unhandled.reasons).toEqual([marker]);
    } finally {
      unhandled.stop();
      // handled after Node reported it: 'rejectionHandled' tells Jest not to fail the test
      rejected.catch(() => undefined);
      await flush();
    }
  });

  it('keeps timing out the other calls when an abort listener of the work throws', async () => {
    const { policy, clock } = setup(100);
    const a = settle(
      policy.run((context) => {
        context.onAbort(() => {
          throw new Error('listener bug');
        });
        return never();
      }, undefined),
      clock,
    );
    const b = settle(policy.run(never, undefined), clock);
    await clock.advance(100);
    expect(a.error).toBeInstanceOf(TimeoutError);
    expect(b.error).toBeInstanceOf(TimeoutError);
  });

  describe('dispose', () => {
    it('clears the timer; calls in flight then settle with their work', async () => {
      const { policy, clock } = setup(100);
      const work = deferred<string>();
      const state = settle(
        policy.run(() => work.promise, undefined),
        clock,
      );
      expect(clock.pendingTimers).toBe(1);
      policy.dispose();
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(1000);
      expect(state.settled).toBe(false);
      work.resolve('finished');
      await flush();
      expect(state.value).toBe('finished');
      settle(policy.run(never, undefined), clock);
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('with Node timers', () => {
    it('times out with real timers', async () => {
      const policy = new TimeoutPolicy('real', 20);
      try {
        await expect(policy.run(never, undefined)).rejects.toBeInstanceOf(TimeoutError);
        await expect(policy.run(() => 'fast', undefined)).resolves.toBe('fast');
      } finally {
        policy.dispose();
      }
    });

    it('unrefs the pending timer while no call is in flight and refs it again for a new call', async () => {
      const clock = new FakeClock();
      const handles: Array<{ id: unknown; ref: jest.Mock; unref: jest.Mock }> = [];
      const scheduler: Scheduler = {
        setTimeout: (callback, ms) => {
          const handle = { id: clock.setTimeout(callback, ms), ref: jest.fn(), unref: jest.fn() };
          handles.push(handle);
          return handle;
        },
        clearTimeout: (handle) => clock.clearTimeout((handle as { id: unknown }).id),
      };
      const policy = new TimeoutPolicy('refs', 100, { clock, scheduler });
      await policy.run(() => 'one', undefined);
      expect(handles).toHaveLength(1);
      expect(handles[0].unref).toHaveBeenCalledTimes(1);
      const pending = deferred<string>();
      const result = policy.run(() => pending.promise, undefined);
      expect(handles[0].ref).toHaveBeenCalledTimes(1);
      pending.resolve('two');
      await expect(result).resolves.toBe('two');
      expect(handles[0].unref).toHaveBeenCalledTimes(2);
      expect(handles).toHaveLength(1);
    });
  });

  describe('async context', () => {
    const storage = new AsyncLocalStorage<string>();

    it('arms the shared timer outside the context of the call that happens to arm it', async () => {
      const clock = new FakeClock();
      const armedIn: Array<string | undefined> = [];
      const scheduler: Scheduler = {
        setTimeout: (callback, ms) => {
          armedIn.push(storage.getStore()); // a Node timer keeps (and fires in) this context
          return clock.setTimeout(callback, ms);
        },
        clearTimeout: (handle) => clock.clearTimeout(handle),
      };
      const policy = new TimeoutPolicy('detached', 100, { clock, scheduler });
      policy.onEvent(() => undefined);
      const first = storage.run('request A', () => settle(policy.run(never, undefined), clock));
      await clock.advance(50);
      const second = storage.run('request B', () => settle(policy.run(never, undefined), clock));
      await clock.advance(100); // fires for A, re-arms for B, fires for B
      expect(first.error).toBeInstanceOf(TimeoutError);
      expect(second.error).toBeInstanceOf(TimeoutError);
      expect(armedIn).toEqual([undefined, undefined]);
    });

    it('with real timers: each timeout event in its own call context, aborts in none', async () => {
      const policy = new TimeoutPolicy('contexts', 20);
      const seen: string[] = [];
      const subscription = policy.onEvent((event) => {
        if (event.type === 'timeout') seen.push(`event in ${storage.getStore()}`);
      });
      const call = (name: string) =>
        storage.run(name, () =>
          policy.run(
            (context) =>
              new Promise<never>((_resolve, reject) =>
                context.onAbort((reason) => {
                  seen.push(`${name} aborted in ${storage.getStore()}`);
                  reject(reason);
                }),
              ),
            undefined,
          ),
        );
      try {
        const a = call('A');
        await new Promise((resolve) => setTimeout(resolve, 5));
        const b = call('B'); // its deadline comes later: the timer re-arms for it
        await expect(a).rejects.toBeInstanceOf(TimeoutError);
        await expect(b).rejects.toBeInstanceOf(TimeoutError);
        await expect(call('C')).rejects.toBeInstanceOf(TimeoutError); // after the list emptied
        expect(seen).toEqual([
          'event in A',
          'A aborted in undefined',
          'event in B',
          'B aborted in undefined',
          'event in C',
          'C aborted in undefined',
        ]);
      } finally {
        subscription.dispose();
        policy.dispose();
      }
    });

    it('emits in no call context for a call made before anyone listened', async () => {
      const policy = new TimeoutPolicy('late listener', 20);
      const seen: Array<string | undefined> = [];
      try {
        const call = storage.run('early', () => policy.run(never, undefined));
        const subscription = policy.onEvent(() => seen.push(storage.getStore()));
        await expect(call).rejects.toBeInstanceOf(TimeoutError);
        subscription.dispose();
        expect(seen).toEqual([undefined]);
      } finally {
        policy.dispose();
      }
    });
  });
});

describe('resolveTimeoutOptions', () => {
  it('accepts an object or a bare number', () => {
    expect(resolveTimeoutOptions('t', { timeout: 500 })).toEqual({ timeout: 500 });
    expect(resolveTimeoutOptions('t', 250)).toEqual({ timeout: 250 });
    expect(new TimeoutPolicy('t', 75).timeout).toBe(75);
  });

  it.each([
    ['missing', undefined, undefined],
    ['missing key', {}, undefined],
    ['zero', { timeout: 0 }, 0],
    ['negative', { timeout: -5 }, -5],
    ['NaN', { timeout: NaN }, NaN],
    ['Infinity', { timeout: Infinity }, Infinity],
    ['too long for a timer', { timeout: 2 ** 31 }, 2 ** 31],
    ['a string', { timeout: '100' }, '100'],
    ['a bare zero', 0, 0],
  ])('rejects a timeout that is %s, naming the key', (_label, options, value) => {
    let error: ResilienceConfigError | undefined;
    try {
      new TimeoutPolicy('Orders.find', options as never);
    } catch (e) {
      error = e as ResilienceConfigError;
    }
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error!.policyName).toBe('Orders.find');
    expect(error!.key).toBe('timeout');
    expect(error!.value).toEqual(value);
    expect(error!.message).toContain('"Orders.find"');
    expect(error!.message).toContain('"timeout"');
  });

  it('rejects unknown keys', () => {
    expect(() => resolveTimeoutOptions('t', { timeout: 10, timout: 5 } as never)).toThrow(
      expect.objectContaining({ key: 'timout', policyName: 't' }),
    );
  });
});
