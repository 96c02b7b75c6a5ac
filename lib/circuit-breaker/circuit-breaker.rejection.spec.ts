import { FakeClock } from '../../test/utils/fake-clock';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { isResilienceError, ResilienceError } from '../common/errors/resilience.error';
import { rejectSoon } from '../common/policy';
import { CircuitBreakerPolicy } from './circuit-breaker.policy';

/** The error an open breaker rejects a call with. */
async function rejection(breaker: CircuitBreakerPolicy): Promise<CircuitOpenError> {
  const work = jest.fn(() => Promise.resolve('ok'));
  const error: unknown = await breaker.execute(work).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(work).not.toHaveBeenCalled();
  return error as CircuitOpenError;
}

describe('CircuitBreakerPolicy: the error of a rejected call', () => {
  function openBreaker() {
    const clock = new FakeClock();
    const breaker = new CircuitBreakerPolicy('payments', { resetTimeout: 1_000 }, { clock });
    breaker.open();
    return { clock, breaker };
  }

  it('is a CircuitOpenError with its name, message, policy name and retryAfter', async () => {
    const { clock, breaker } = openBreaker();
    await clock.advance(250);
    const error = await rejection(breaker);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toBeInstanceOf(ResilienceError);
    expect(error).toBeInstanceOf(Error);
    expect(isResilienceError(error)).toBe(true);
    expect(error.name).toBe('CircuitOpenError');
    expect(error.policyName).toBe('payments');
    expect(error.retryAfter).toBe(750);
    expect(error.message).toBe('Circuit "payments" is open; calls are rejected for another 750ms.');
    expect(Object.prototype.toString.call(error)).toBe('[object Error]');
  });

  it('is a fresh object per call, each with its own retryAfter', async () => {
    const { clock, breaker } = openBreaker();
    const first = await rejection(breaker);
    await clock.advance(400);
    const second = await rejection(breaker);
    expect(second).not.toBe(first);
    expect(first.retryAfter).toBe(1_000);
    expect(second.retryAfter).toBe(600);
  });

  it('has a stack that starts with its name and message, without frames', async () => {
    const { breaker } = openBreaker();
    const error = await rejection(breaker);
    expect(typeof error.stack).toBe('string');
    expect(error.stack!.split('\n')[0]).toBe(`CircuitOpenError: ${error.message}`);
    expect(error.stack).not.toMatch(/\n\s+at /);
  });

  it("leaves Error.stackTraceLimit as the application set it, and other errors' stacks intact", async () => {
    const saved = Error.stackTraceLimit;
    try {
      Error.stackTraceLimit = 7;
      const { breaker } = openBreaker();
      await rejection(breaker);
      expect(Error.stackTraceLimit).toBe(7);
      expect(new Error('elsewhere').stack).toMatch(/\n\s+at /);
    } finally {
      Error.stackTraceLimit = saved;
    }
  });

  it('is delivered to a handler attached after the call returned', async () => {
    const { breaker } = openBreaker();
    const call = breaker.execute(() => 'never');
    await Promise.resolve();
    await expect(call).rejects.toBeInstanceOf(CircuitOpenError);
  });
});

describe('rejectSoon', () => {
  it('rejects with the very object it was given', async () => {
    const error = new Error('refused');
    await expect(rejectSoon(error)).rejects.toBe(error);
  });

  it('stays pending until the current synchronous code has attached its handlers', async () => {
    const seen: string[] = [];
    const promise = rejectSoon(new Error('refused'));
    promise.catch(() => seen.push('rejected'));
    seen.push('sync');
    await promise.catch(() => undefined);
    expect(seen).toEqual(['sync', 'rejected']);
  });
});
