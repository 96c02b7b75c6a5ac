import { FakeClock } from '../../test/utils/fake-clock';
import { CallContext } from '../common/call-context';
import { ResilienceConfigError } from '../common/errors';
import type { ResilienceEvent } from '../common/events';
import { FallbackPolicy } from './fallback.policy';
import type { FallbackHandler } from './fallback.options';

describe('FallbackPolicy', () => {
  it('calls fn synchronously and passes a success through without the handler', async () => {
    const handler = jest.fn();
    const policy = new FallbackPolicy('svc.fallback', handler);
    const fn = jest.fn(() => Promise.resolve('real'));
    const result = policy.run(fn, undefined);
    expect(fn).toHaveBeenCalledTimes(1);
    await expect(result).resolves.toBe('real');
    expect(handler).not.toHaveBeenCalled();
    expect(policy.stats()).toEqual({ calls: 1, fallbacks: 0 });
    expect(policy.kind).toBe('fallback');
  });

  it('returns the handler value when the call fails, giving it the error and the arguments', async () => {
    const error = new Error('down');
    const handler = jest.fn((_e: unknown, ...args: unknown[]) => `cached ${args.join(',')}`);
    const policy = new FallbackPolicy('svc.fallback', handler);
    await expect(policy.run(() => Promise.reject(error), undefined, ['a', 1])).resolves.toBe(
      'cached a,1',
    );
    expect(handler).toHaveBeenCalledWith(error, 'a', 1);
    expect(policy.stats()).toEqual({ calls: 1, fallbacks: 1 });
  });

  it('awaits a handler that returns a promise', async () => {
    const policy = new FallbackPolicy('f', () => Promise.resolve('later'));
    await expect(policy.run(() => Promise.reject(new Error('x')), undefined)).resolves.toBe(
      'later',
    );
  });

  it('handles a synchronous throw of fn and a plain value', async () => {
    const policy = new FallbackPolicy('f', (error) => (error as Error).message);
    await expect(
      policy.run(() => {
        throw new Error('sync');
      }, undefined),
    ).resolves.toBe('sync');
    await expect(policy.run(() => 'plain', undefined)).resolves.toBe('plain');
  });

  it('calls the handler with only the error when there are no arguments', async () => {
    let count = -1;
    const policy = new FallbackPolicy('f', function (this: unknown, ...all: unknown[]) {
      count = all.length;
      return 'x';
    });
    await policy.run(() => Promise.reject(new Error('e')), undefined);
    expect(count).toBe(1);
  });

  it('fails the call with the error of a handler that throws or rejects', async () => {
    const thrown = new Error('handler threw');
    const throwing = new FallbackPolicy('f', () => {
      throw thrown;
    });
    await expect(throwing.run(() => Promise.reject(new Error('e')), undefined)).rejects.toBe(
      thrown,
    );
    const rejected = new Error('handler rejected');
    const rejecting = new FallbackPolicy('f', () => Promise.reject(rejected));
    await expect(rejecting.run(() => Promise.reject(new Error('e')), undefined)).rejects.toBe(
      rejected,
    );
  });

  it('passes the caller context to fn, or a fresh one', async () => {
    const policy = new FallbackPolicy('f', () => 'x');
    const context = new CallContext();
    let seen: CallContext | undefined;
    await policy.run((c) => {
      seen = c;
      return 1;
    }, context);
    expect(seen).toBe(context);
    await policy.run((c) => {
      seen = c;
      return 1;
    }, undefined);
    expect(seen).toBeInstanceOf(CallContext);
    expect(seen).not.toBe(context);
  });

  describe('this of the handler', () => {
    const handler: FallbackHandler = function (this: unknown) {
      return (this as { id?: string } | undefined)?.id;
    };
    const fail = () => Promise.reject(new Error('e'));

    it('is the constructor thisArg', async () => {
      const policy = new FallbackPolicy('f', handler, undefined, { id: 'ctor' });
      await expect(policy.run(fail, undefined)).resolves.toBe('ctor');
    });

    it('is set by bindTo, which returns the policy', async () => {
      const policy = new FallbackPolicy('f', handler);
      expect(policy.bindTo({ id: 'bound' })).toBe(policy);
      await expect(policy.run(fail, undefined)).resolves.toBe('bound');
    });

    it('can be given per call', async () => {
      const policy = new FallbackPolicy('f', handler).bindTo({ id: 'bound' });
      await expect(policy.run(fail, undefined, [], { id: 'call' })).resolves.toBe('call');
      await expect(policy.run(fail, undefined)).resolves.toBe('bound');
    });
  });

  it('emits a fallback event with the error and the clock time', async () => {
    const clock = new FakeClock();
    const policy = new FallbackPolicy('svc.fallback', () => 'x', { clock });
    const events: ResilienceEvent[] = [];
    policy.onEvent((event) => events.push(event));
    const error = new Error('e');
    await policy.run(() => Promise.reject(error), undefined);
    await policy.run(() => 'ok', undefined);
    expect(events).toEqual([{ type: 'fallback', name: 'svc.fallback', error, at: clock.now() }]);
  });

  it('counts calls and fallbacks', async () => {
    const policy = new FallbackPolicy('f', () => {
      throw new Error('handler');
    });
    await policy.run(() => 1, undefined);
    await policy.run(() => Promise.reject(new Error('e')), undefined).catch(() => undefined);
    await policy.run(() => Promise.reject(new Error('e')), undefined).catch(() => undefined);
    expect(policy.stats()).toEqual({ calls: 3, fallbacks: 2 });
  });

  it.each([undefined, 'methodName', 42])('rejects a handler that is %p, naming the key', (bad) => {
    let error: ResilienceConfigError | undefined;
    try {
      new FallbackPolicy('Users.find', bad as never);
    } catch (e) {
      error = e as ResilienceConfigError;
    }
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error!.key).toBe('handler');
    expect(error!.policyName).toBe('Users.find');
    expect(error!.value).toBe(bad);
    expect(error!.message).toContain('"handler"');
  });
});
