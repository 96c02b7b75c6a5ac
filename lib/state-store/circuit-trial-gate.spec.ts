import { CircuitBreakerPolicy, TrialOutcome } from '../circuit-breaker/circuit-breaker.policy';
import { CallAbortedError } from '../common/errors/call-aborted.error';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { FakeClock } from '../../test/utils/fake-clock';
import { deferred, rejectionOf } from '../../test/utils/promises';

/** A gate that answers each acquire() when the test says so, and records outcomes. */
function manualGate() {
  const pending: Array<(granted: boolean) => void> = [];
  const outcomes: TrialOutcome[] = [];
  let acquired = 0;
  const gate = {
    acquire: () => {
      acquired++;
      return new Promise<((o: TrialOutcome) => void) | false>((resolve) =>
        pending.push((granted) => resolve(granted ? (o) => outcomes.push(o) : false)),
      );
    },
  };
  return {
    gate,
    outcomes,
    get acquired() {
      return acquired;
    },
    answer: (granted: boolean) => pending.shift()!(granted),
  };
}

async function halfOpenBreaker(options = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreakerPolicy(
    'shared',
    { resetTimeout: 1_000, successThreshold: 2, halfOpenMaxCalls: 1, ...options },
    { clock },
  );
  const gate = manualGate();
  breaker.setTrialGate(gate.gate);
  breaker.open();
  await clock.advance(1_000);
  expect(breaker.state).toBe('half-open');
  return { clock, breaker, gate };
}

describe('CircuitBreakerPolicy with a trial gate (shared half-open trials)', () => {
  it('the closed state never asks the gate', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreakerPolicy('shared', {}, { clock });
    const gate = manualGate();
    breaker.setTrialGate(gate.gate);
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok');
    expect(gate.acquired).toBe(0);
  });

  it('a refused slot rejects the call and frees the local slot', async () => {
    const { breaker, gate } = await halfOpenBreaker();
    let ran = 0;
    const first = breaker.execute(() => ++ran);
    gate.answer(false);
    const error = await rejectionOf(first);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(ran).toBe(0);

    const second = breaker.execute(() => ++ran);
    gate.answer(true);
    await expect(second).resolves.toBe(1);
    expect(gate.outcomes).toEqual(['success']);
  });

  it('the local halfOpenMaxCalls applies before the gate is asked', async () => {
    const { breaker, gate } = await halfOpenBreaker();
    const held = deferred<string>();
    const first = breaker.execute(() => held.promise);
    const second = rejectionOf(breaker.execute(() => 'no'));
    expect(await second).toBeInstanceOf(CircuitOpenError);
    expect(gate.acquired).toBe(1);
    gate.answer(true);
    held.resolve('done');
    await expect(first).resolves.toBe('done');
  });

  it('tells the gate how each trial ended', async () => {
    const { breaker, gate } = await halfOpenBreaker({
      successThreshold: 5,
      isFailure: (e: unknown) => !(e instanceof RangeError),
    });
    const run = async (work: () => unknown) => {
      const call = breaker.execute(work);
      gate.answer(true);
      await call.catch(() => undefined);
    };
    await run(() => 'ok');
    await run(() => Promise.reject(new RangeError('ignored')));
    await run(() => {
      throw new CallAbortedError('shared');
    });
    await run(() => Promise.reject(new Error('down')));
    expect(gate.outcomes).toEqual(['success', 'success', 'cancelled', 'failure']);
    expect(breaker.state).toBe('open');
  });

  it('a state change while waiting for the gate runs the call under the new state', async () => {
    const { breaker, gate } = await halfOpenBreaker();
    let ran = 0;
    const call = breaker.execute(() => ++ran);
    breaker.close(); // e.g. another instance closed it meanwhile
    gate.answer(true);
    await expect(call).resolves.toBe(1);
    expect(gate.outcomes).toEqual(['cancelled']); // the slot it got is handed back
    expect(breaker.stats().successfulCalls).toBe(1);
  });
});
