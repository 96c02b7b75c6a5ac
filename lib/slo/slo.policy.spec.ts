import { FakeClock } from '../../test/utils/fake-clock';
import { CallContext } from '../common/call-context';
import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { ResilienceEvent } from '../common/events';
import { SloPolicy } from './slo.policy';
import { resolveSloOptions, SLO_OPTION_KEYS } from './slo.options';

const ok = () => 'ok';
const boom = () => {
  throw new Error('boom');
};

function setup(options: { target?: number; window?: number; minimumCalls?: number } = {}) {
  const clock = new FakeClock();
  const slo = new SloPolicy(
    'payments',
    { target: 0.9, window: 60_000, minimumCalls: 10, ...options },
    { clock },
  );
  const events: ResilienceEvent[] = [];
  slo.onEvent((event) => events.push(event));
  const succeed = async (n: number) => {
    for (let i = 0; i < n; i++) await slo.execute(ok);
  };
  const fail = async (n: number) => {
    for (let i = 0; i < n; i++) await slo.execute(boom).catch(() => undefined);
  };
  return { clock, slo, events, succeed, fail };
}

describe('SloPolicy', () => {
  it('passes results and errors through unchanged', async () => {
    const { slo } = setup();
    await expect(slo.execute(() => 42)).resolves.toBe(42);
    const error = new Error('as is');
    await expect(
      slo.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
  });

  it('reports a window with no calls as fully within budget', () => {
    const { slo } = setup();
    expect(slo.stats()).toEqual({
      target: 0.9,
      window: 60_000,
      calls: 0,
      failures: 0,
      successRate: 1,
      errorBudget: 0,
      errorBudgetRemaining: 1,
      violated: false,
    });
  });

  it('computes the error budget and how much of it is left', async () => {
    const { slo, succeed, fail } = setup({ target: 0.9 });
    await succeed(38);
    await fail(2);
    // 40 calls at 90 %: 4 failures allowed, 2 spent
    expect(slo.stats()).toEqual({
      target: 0.9,
      window: 60_000,
      calls: 40,
      failures: 2,
      successRate: 0.95,
      errorBudget: 4,
      errorBudgetRemaining: 0.5,
      violated: false,
    });
  });

  it('reads a spent budget as 0 left, and violated only once a failure goes beyond it', async () => {
    const { slo, succeed, fail } = setup({ target: 0.9 });
    await succeed(36);
    await fail(4); // 4 of 4 allowed: spent, but 36/40 = 0.9 still meets the target
    expect(slo.stats()).toMatchObject({ errorBudget: 4, errorBudgetRemaining: 0, violated: false });
    await fail(1); // 5 failures in 41 calls: below target
    expect(slo.stats()).toMatchObject({ calls: 41, failures: 5, errorBudgetRemaining: 0 });
    expect(slo.stats().violated).toBe(true);
  });

  it('gives no verdict before minimumCalls calls', async () => {
    const { slo, events, fail } = setup({ minimumCalls: 5 });
    await fail(4);
    expect(slo.stats()).toMatchObject({ calls: 4, failures: 4, successRate: 0, violated: false });
    expect(events).toEqual([]);
    await fail(1);
    expect(slo.stats().violated).toBe(true);
  });

  it('emits one slo-violation per crossing, and slo-recovered when met again', async () => {
    const { clock, slo, events, succeed, fail } = setup({ target: 0.9, minimumCalls: 10 });
    await succeed(9);
    await fail(1); // 9/10 = 0.9: met
    expect(events).toEqual([]);
    await fail(1); // 9/11 < 0.9
    expect(events).toEqual([
      {
        type: 'slo-violation',
        name: 'payments',
        at: clock.now(),
        target: 0.9,
        successRate: 9 / 11,
        calls: 11,
        failures: 2,
        window: 60_000,
      },
    ]);
    await fail(5); // still violated: nothing new
    expect(events).toHaveLength(1);
    await succeed(60); // met again as soon as 63 of 70 calls succeeded
    expect(events.map((e) => e.type)).toEqual(['slo-violation', 'slo-recovered']);
    expect(events[1]).toMatchObject({ calls: 70, failures: 7, successRate: 0.9 });
    await fail(3); // 69/79 < 0.9: a second crossing
    expect(events.map((e) => e.type)).toEqual(['slo-violation', 'slo-recovered', 'slo-violation']);
    expect(slo.isViolated).toBe(true);
  });

  it('rolls old outcomes out of the window, which can end a violation', async () => {
    const { clock, slo, events, succeed, fail } = setup({ target: 0.9, window: 60_000 });
    await fail(10);
    expect(slo.stats()).toMatchObject({ calls: 10, failures: 10, violated: true });
    await clock.advance(30_000);
    await succeed(10);
    expect(slo.stats()).toMatchObject({ calls: 20, failures: 10, violated: true });
    await clock.advance(30_000); // the failures' bucket has left the window
    expect(slo.stats()).toMatchObject({ calls: 10, failures: 0, successRate: 1, violated: false });
    // reading stats() noticed it: the recovery is reported once
    expect(events.map((e) => e.type)).toEqual(['slo-violation', 'slo-recovered']);
    expect(events[1]).toMatchObject({ at: clock.now(), calls: 10, failures: 0 });
    await clock.advance(60_000);
    expect(slo.stats()).toMatchObject({ calls: 0, successRate: 1, errorBudgetRemaining: 1 });
  });

  it('counts rejections as failures, but not cancellations or shutdown refusals', async () => {
    const { slo } = setup();
    const fails = (error: unknown) => () => Promise.reject(error);
    await slo.execute(fails(new CircuitOpenError('payments', 1_000))).catch(() => undefined);
    await slo.execute(fails(new BulkheadRejectedError('payments', 'full'))).catch(() => undefined);
    await slo.execute(fails(new CallAbortedError('payments'))).catch(() => undefined);
    await slo
      .execute(fails(new BulkheadRejectedError('payments', 'shutdown')))
      .catch(() => undefined);
    // a call whose caller cancelled it, whatever the error it ended with
    const controller = new AbortController();
    const cancelled = slo.execute(
      (context) =>
        new Promise((_resolve, reject) => context.onAbort(() => reject(new Error('stopped')))),
      controller.signal,
    );
    controller.abort();
    await expect(cancelled).rejects.toThrow('stopped');
    expect(slo.stats()).toMatchObject({ calls: 2, failures: 2 });
  });

  it('tells cancellations and shutdown refusals of another copy of the package by brand and name', async () => {
    const { slo } = setup();
    const foreign = (name: string, extra: object = {}) =>
      Object.assign(new Error(name), { name, isResilienceError: true, ...extra });
    const fails = (error: unknown) => () => Promise.reject(error);
    await slo.execute(fails(foreign('CallAbortedError'))).catch(() => undefined);
    await slo
      .execute(fails(foreign('BulkheadRejectedError', { reason: 'shutdown' })))
      .catch(() => undefined);
    await slo
      .execute(fails(foreign('BulkheadRejectedError', { reason: 'full' })))
      .catch(() => undefined);
    // not branded: an application error that happens to carry these fields is a failure
    await slo
      .execute(fails(Object.assign(new Error('x'), { name: 'CallAbortedError' })))
      .catch(() => undefined);
    expect(slo.stats()).toMatchObject({ calls: 2, failures: 2 });
  });

  it('counts a synchronous throw as a failure', async () => {
    const { slo } = setup();
    await expect(slo.execute(boom)).rejects.toThrow('boom');
    await expect(slo.run(boom, new CallContext())).rejects.toThrow('boom');
    expect(slo.stats()).toMatchObject({ calls: 2, failures: 2 });
  });

  it('calls onViolation once per crossing, and survives a hook that throws', async () => {
    const { slo, succeed, fail } = setup({ minimumCalls: 2 });
    const seen: string[] = [];
    slo.onViolation = (policy) => {
      seen.push(policy.name);
      throw new Error('hook failed');
    };
    await fail(1);
    await expect(slo.execute(boom)).rejects.toThrow('boom'); // the call's own error
    await fail(3);
    expect(seen).toEqual(['payments']);
    await succeed(100);
    await fail(20);
    expect(seen).toEqual(['payments', 'payments']);
  });

  it('forgets its window on reset()', async () => {
    const { slo, events, fail } = setup({ minimumCalls: 1 });
    await fail(3);
    slo.reset();
    expect(slo.stats()).toMatchObject({ calls: 0, violated: false });
    expect(events.map((e) => e.type)).toEqual(['slo-violation', 'slo-recovered']);
  });

  it('keeps budget figures free of floating-point noise', async () => {
    const { slo, succeed, fail } = setup({ target: 0.995, minimumCalls: 1 });
    await succeed(199);
    await fail(1);
    // 0.5 % of 200 is exactly one failure: spent, and 199/200 = 0.995 still meets the target
    expect(slo.stats()).toMatchObject({
      errorBudget: 1,
      errorBudgetRemaining: 0,
      successRate: 0.995,
      violated: false,
    });
  });
});

describe('resolveSloOptions', () => {
  const errorOf = (options: unknown) => {
    try {
      resolveSloOptions('api', options as never);
    } catch (error) {
      return error as ResilienceConfigError;
    }
    throw new Error('no error');
  };

  it('applies the defaults', () => {
    expect(resolveSloOptions('api', { target: 0.99, window: 1_000 })).toEqual({
      target: 0.99,
      window: 1_000,
      minimumCalls: 10,
      openCircuitBreaker: false,
    });
  });

  it.each([
    [{ window: 1_000 }, 'slo.api.target'],
    [{ target: 0.99 }, 'slo.api.window'],
    [{ target: 1, window: 1_000 }, 'slo.api.target'],
    [{ target: 0, window: 1_000 }, 'slo.api.target'],
    [{ target: 0.9, window: 0 }, 'slo.api.window'],
    [{ target: 0.9, window: Infinity }, 'slo.api.window'],
    [{ target: 0.9, window: 10, minimumCalls: 0 }, 'slo.api.minimumCalls'],
    [{ target: 0.9, window: 10, openCircuitBreaker: 'yes' }, 'slo.api.openCircuitBreaker'],
    [{ target: 0.9, window: 10, traget: 1 }, 'slo.api.traget'],
    [null, 'slo.api'],
    [undefined, 'slo.api'],
  ])('%j fails naming %s', (options, key) => {
    const error = errorOf(options);
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`"${key}"`);
  });

  it('knows exactly these keys', () => {
    expect([...SLO_OPTION_KEYS].sort()).toEqual(
      ['minimumCalls', 'openCircuitBreaker', 'target', 'window'].sort(),
    );
  });
});
