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
import { deferred, useTestApps, waitFor } from '../fixtures/testing-app';

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
    const setup = async () => {
      const app = await apps.start({ imports: [ResilienceModule.forRoot()], providers: [Stack] });
      const registry = app.get(ResilienceRegistry);
      return { service: app.get(Stack), stats: () => registry.stats() };
    };

    it('every retry attempt passes the breaker, the limiter, the timeout and the bulkhead; the fallback sees the last error', async () => {
      const { service, stats } = await setup();
      service.behave = (n) => Promise.reject(new UpstreamError(`failure #${n}`));

      await expect(service.call()).resolves.toBe('fallback');

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
      const { service, stats } = await setup();
      service.behave = (n) => Promise.reject(new UpstreamError(`failure #${n}`));
      await expect(service.call()).resolves.toBe('fallback'); // three failures open the breaker

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
      const { service, stats } = await setup();
      service.behave = async (n) => (n <= 2 ? untilAborted() : 'ok');

      const started = Date.now();
      await expect(service.call()).resolves.toBe('ok');
      const elapsed = Date.now() - started;

      // two timeouts of 40ms and two backoffs of 10ms
      expect(elapsed).toBeGreaterThanOrEqual(2 * STACK.timeout + 2 * 10 - 5);
      expect(elapsed).toBeLessThan(2000);
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
      const { service, stats } = await setup();
      const hung = deferred<string>();
      service.behave = (n) => (n === 1 ? hung.promise : Promise.resolve('ok'));

      const first = service.call(); // takes the only slot and keeps it
      const second = service.call(); // waits in the queue
      expect(stats().bulkheads[name]).toMatchObject({ active: 1, queued: 1 });

      try {
        await waitFor(() => stats().timeouts[name].timeouts >= 2, 1000);
        // the queued attempt timed out without ever running, and left the queue
        expect(service.invocations).toBe(1);
        expect(stats().bulkheads[name]).toMatchObject({ active: 1, queued: 0 });
      } finally {
        hung.resolve('late');
      }
      await expect(first).resolves.toBe('ok');
      await expect(second).resolves.toBe('ok');
    });
  });

  describe.each<{ Cls: ScriptedClass }>([{ Cls: LimitAboveTimeout }, { Cls: LimitBelowTimeout }])(
    'RateLimit and Timeout written as in $Cls.name',
    ({ Cls }) => {
      it('waiting for a permit does not count against the timeout', async () => {
        const app = await apps.start({ imports: [ResilienceModule.forRoot()], providers: [Cls] });
        const service = app.get(Cls);
        await expect(service.call()).resolves.toBe('ok');

        const started = Date.now();
        await expect(service.call()).resolves.toBe('ok'); // waits ~100ms for its permit
        expect(Date.now() - started).toBeGreaterThanOrEqual(90);

        const s = app.get(ResilienceRegistry).stats();
        expect(s.timeouts[`${Cls.name}.call`]).toEqual({ calls: 2, timeouts: 0 });
        expect(s.rateLimiters[`${Cls.name}.call`]).toEqual({ permitted: 2, rejected: 0 });
      });

      it('the timeout still limits the method once it has its permit', async () => {
        const app = await apps.start({ imports: [ResilienceModule.forRoot()], providers: [Cls] });
        const service = app.get(Cls);
        service.behave = () => untilAborted();
        await expect(service.call()).rejects.toBeInstanceOf(TimeoutError);
      });
    },
  );
});
