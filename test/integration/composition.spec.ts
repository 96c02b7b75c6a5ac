import {
  CircuitOpenError,
  currentSignal,
  RateLimitedError,
  ResilienceModule,
  ResilienceRegistry,
  TimeoutError,
} from '../../lib';
import {
  LimitAboveTimeout,
  LimitBelowTimeout,
  Scripted,
  STACK,
  StackInContractOrder,
  StackInMixedOrder,
  StackInReverseOrder,
} from '../fixtures/composition.fixtures';
import { UpstreamError } from '../fixtures/flaky-client';
import { deferred, settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock } from '../utils/fake-clock';

type ScriptedClass = new () => Scripted & { call(): Promise<string> };

/** Work that ends only when the call's signal is aborted (as fetch() would). */
const untilAborted = (): Promise<never> => {
  const signal = currentSignal();
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
};

describe('composition order: Fallback(Retry(CircuitBreaker(RateLimit(Timeout(Bulkhead(method))))))', () => {
  const apps = useTestApps();

  describe.each<{ Stack: ScriptedClass }>([
    { Stack: StackInContractOrder },
    { Stack: StackInReverseOrder },
    { Stack: StackInMixedOrder },
  ])('decorators written as in $Stack.name', ({ Stack }) => {
    const name = `${Stack.name}.call`;
    /** Every timer of the module (backoffs, timeouts, queues) runs on the FakeClock. */
    const setup = async () => {
      const clock = new FakeClock();
      const app = await apps.start({
        imports: [ResilienceModule.forRoot({ clock })],
        providers: [Stack],
      });
      const registry = app.get(ResilienceRegistry);
      return { service: app.get(Stack), stats: () => registry.stats(), clock };
    };

    it('every retry attempt passes the breaker, the limiter, the timeout and the bulkhead; the fallback sees the last error', async () => {
      const { service, stats, clock } = await setup();
      service.behave = (n) => Promise.reject(new UpstreamError(`failure #${n}`));

      const call = settle(service.call());
      await clock.advance(2 * 10); // two backoffs of 10ms
      expect(call.value).toBe('fallback');

      expect(service.invocations).toBe(3);
      expect(service.recovered).toHaveLength(1);
      expect(service.recovered[0]).toBeInstanceOf(UpstreamError);
      expect((service.recovered[0] as Error).message).toBe('failure #3');
      const s = stats();
      expect(s.retries[name]).toMatchObject({ calls: 1, attempts: 3, failedWithRetry: 1 });
      expect(s.circuitBreakers[name]).toMatchObject({ failedCalls: 3, state: 'open' });
      expect(s.rateLimiters[name]).toEqual({ permitted: 3, rejected: 0 });
      expect(s.timeouts[name]).toEqual({ calls: 3, timeouts: 0 });
      expect(s.bulkheads[name]).toMatchObject({ accepted: 3, active: 0, queued: 0 });
    });

    it('a CircuitOpenError is not retried and reaches neither the limiter nor the method', async () => {
      const { service, stats, clock } = await setup();
      service.behave = (n) => Promise.reject(new UpstreamError(`failure #${n}`));
      const opening = settle(service.call());
      await clock.advance(2 * 10);
      expect(opening.value).toBe('fallback'); // three failures open the breaker

      await expect(service.call()).resolves.toBe('fallback');

      expect(service.invocations).toBe(3);
      expect(service.recovered[1]).toBeInstanceOf(CircuitOpenError);
      const s = stats();
      expect(s.retries[name]).toMatchObject({ calls: 2, attempts: 4, failedWithoutRetry: 1 });
      expect(s.circuitBreakers[name]).toMatchObject({ failedCalls: 3, rejectedCalls: 1 });
      expect(s.rateLimiters[name]).toEqual({ permitted: 3, rejected: 0 });
      expect(s.timeouts[name].calls).toBe(3);
    });

    it('every attempt gets its own timeout', async () => {
      const { service, stats, clock } = await setup();
      service.behave = async (n) => (n <= 2 ? untilAborted() : 'ok');

      const started = clock.now();
      const call = settle(service.call(), clock);
      // attempt 1: times out at 40ms, not before
      await clock.advance(STACK.timeout - 1);
      expect(stats().timeouts[name].timeouts).toBe(0);
      await clock.advance(1);
      expect(stats().timeouts[name].timeouts).toBe(1);
      // backoff of 10ms, then attempt 2 with a fresh 40ms
      await clock.advance(9);
      expect(service.invocations).toBe(1);
      await clock.advance(1);
      expect(service.invocations).toBe(2);
      await clock.advance(STACK.timeout - 1);
      expect(stats().timeouts[name].timeouts).toBe(1); // not counted from the first attempt
      await clock.advance(1);
      expect(stats().timeouts[name].timeouts).toBe(2);
      // backoff, then attempt 3 answers
      await clock.advance(9);
      expect(call.settled).toBe(false);
      await clock.advance(1);

      // two timeouts of 40ms and two backoffs of 10ms
      expect(call.value).toBe('ok');
      expect(call.at).toBe(started + 2 * STACK.timeout + 2 * 10);
      expect(service.invocations).toBe(3);
      expect(service.recovered).toEqual([]);
      const s = stats();
      expect(s.timeouts[name]).toEqual({ calls: 3, timeouts: 2 });
      expect(s.circuitBreakers[name]).toMatchObject({
        failedCalls: 2,
        successfulCalls: 1,
        state: 'closed',
      });
      expect(s.retries[name]).toMatchObject({ successWithRetry: 1, attempts: 3 });
    });

    it('a rate-limited attempt counts as a breaker failure and is not retried', async () => {
      const { service, stats } = await setup();
      for (let i = 0; i < STACK.limit.limit; i++) await service.call();

      await expect(service.call()).resolves.toBe('fallback');

      expect(service.invocations).toBe(STACK.limit.limit);
      expect(service.recovered[0]).toBeInstanceOf(RateLimitedError);
      const s = stats();
      expect(s.rateLimiters[name]).toEqual({ permitted: 5, rejected: 1 });
      expect(s.circuitBreakers[name]).toMatchObject({ successfulCalls: 5, failedCalls: 1 });
      expect(s.retries[name]).toMatchObject({ calls: 6, attempts: 6, failedWithoutRetry: 1 });
    });

    it('time spent in the bulkhead queue counts against the timeout', async () => {
      const { service, stats, clock } = await setup();
      const hung = deferred<string>();
      service.behave = (n) => (n === 1 ? hung.promise : Promise.resolve('ok'));

      const first = settle(service.call()); // takes the only slot and keeps it
      const second = settle(service.call()); // waits in the queue
      expect(stats().bulkheads[name]).toMatchObject({ active: 1, queued: 1 });

      try {
        await clock.advance(STACK.timeout - 1);
        expect(stats().timeouts[name].timeouts).toBe(0);
        expect(stats().bulkheads[name]).toMatchObject({ active: 1, queued: 1 });
        await clock.advance(1);
        // both attempts timed out at 40ms: the queued one without ever running, and it left the queue
        expect(stats().timeouts[name].timeouts).toBe(2);
        expect(service.invocations).toBe(1);
        expect(stats().bulkheads[name]).toMatchObject({ active: 1, queued: 0 });
      } finally {
        hung.resolve('late');
      }
      await clock.advance(10); // the backoff; the second attempts find the slot free
      expect(first.value).toBe('ok');
      expect(second.value).toBe('ok');
    });
  });

  describe.each<{ Cls: ScriptedClass }>([{ Cls: LimitAboveTimeout }, { Cls: LimitBelowTimeout }])(
    'RateLimit and Timeout written as in $Cls.name',
    ({ Cls }) => {
      const setup = async () => {
        const clock = new FakeClock();
        const app = await apps.start({
          imports: [ResilienceModule.forRoot({ clock })],
          providers: [Cls],
        });
        return { app, service: app.get(Cls), clock };
      };

      it('waiting for a permit does not count against the timeout', async () => {
        const { app, service, clock } = await setup();
        const started = clock.now();
        await expect(service.call()).resolves.toBe('ok');

        const second = settle(service.call(), clock); // waits 100ms for its permit
        await clock.advance(99);
        expect(second.settled).toBe(false);
        expect(service.invocations).toBe(1); // still waiting, past the 50ms timeout
        await clock.advance(1);
        expect(second.value).toBe('ok');
        expect(second.at).toBe(started + 100);
        expect(service.invocations).toBe(2);

        const s = app.get(ResilienceRegistry).stats();
        expect(s.timeouts[`${Cls.name}.call`]).toEqual({ calls: 2, timeouts: 0 });
        expect(s.rateLimiters[`${Cls.name}.call`]).toEqual({ permitted: 2, rejected: 0 });
      });

      it('the timeout still limits the method once it has its permit', async () => {
        const { service, clock } = await setup();
        service.behave = () => untilAborted();
        const started = clock.now();
        const call = settle(service.call(), clock);
        await clock.advance(49);
        expect(call.settled).toBe(false);
        await clock.advance(1);
        expect(call.error).toBeInstanceOf(TimeoutError);
        expect(call.at).toBe(started + 50);
      });
    },
  );
});
