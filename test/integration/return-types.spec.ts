import { Injectable } from '@nestjs/common';
import { isObservable, lastValueFrom, Observable, throwError, toArray } from 'rxjs';
import { ResilienceModule, ResilienceRegistry, Retry, Timeout, TimeoutError } from '../../lib';
import { FakeClock, flush } from '../utils/fake-clock';
import { recordUnhandledRejections } from '../utils/unhandled-rejections';
import { NO_WAIT, UpstreamError } from '../fixtures/flaky-client';
import { StreamService } from '../fixtures/streams.fixtures';
import { rejectionOf, settle, useTestApps } from '../fixtures/testing-app';

const values = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));

/** Methods that declare no return type and return an Observable (found on the first call). */
@Injectable()
class UndeclaredStreams {
  subscriptions = 0;
  /** Values the source emitted, counted at the source. */
  emissions = 0;
  teardowns = 0;
  failingCalls = 0;
  /** The clock the ticking source runs on (the test's FakeClock). */
  clock!: FakeClock;

  /** Ticks every 5ms of `clock` for ever. */
  @Timeout(30)
  ticking() {
    return new Observable<number>((subscriber) => {
      this.subscriptions++;
      let n = 0;
      let timer: unknown;
      const tick = () => {
        this.emissions++;
        subscriber.next(n++);
        timer = this.clock.setTimeout(tick, 5);
      };
      timer = this.clock.setTimeout(tick, 5);
      return () => {
        this.teardowns++;
        this.clock.clearTimeout(timer);
      };
    });
  }

  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  failing() {
    this.failingCalls++;
    return throwError(() => new UpstreamError(`failing call #${this.failingCalls}`));
  }
}

describe('return types', () => {
  const apps = useTestApps();
  const setup = async (clock?: FakeClock) => {
    const app = await apps.start({
      imports: [ResilienceModule.forRoot(clock ? { clock } : {})],
      providers: [StreamService],
    });
    return { service: app.get(StreamService), registry: app.get(ResilienceRegistry) };
  };

  describe('synchronous methods', () => {
    it('give back a Promise of the value', async () => {
      const { service } = await setup();
      service.failures = 0;
      const result = service.syncValue(21) as unknown;
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBe(42);
    });

    it('have a synchronous throw retried', async () => {
      const { service, registry } = await setup();
      await expect(service.syncValue(5)).resolves.toBe(10);
      expect(service.calls).toBe(3);
      expect(registry.stats().retries['StreamService.syncValue']).toMatchObject({
        successWithRetry: 1,
        attempts: 3,
      });
    });

    it('reject (never throw synchronously) when the retries are used up', async () => {
      const { service } = await setup();
      service.failures = 5;
      let result: unknown;
      expect(() => (result = service.syncValue(1))).not.toThrow();
      const error = await rejectionOf(result as Promise<number>);
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error.message).toBe('sync failure #3');
    });
  });

  describe('Promise methods', () => {
    it('are retried and resolve with the value', async () => {
      const { service } = await setup();
      await expect(service.promised(1)).resolves.toBe(2);
      expect(service.calls).toBe(3);
    });
  });

  describe('Observable methods', () => {
    it('run nothing until subscribed', async () => {
      const clock = new FakeClock();
      const { service, registry } = await setup(clock);
      const source = service.stream();
      expect(isObservable(source)).toBe(true);
      await clock.advance(60_000);
      expect(clock.pendingTimers).toBe(0); // nothing is waiting to run either
      expect(service.calls).toBe(0);
      expect(service.subscriptions).toBe(0);
      expect(registry.stats().retries['StreamService.stream'].calls).toBe(0);
    });

    it('run the policies once per subscription, re-subscribing on retry', async () => {
      const { service, registry } = await setup();
      const source = service.stream();

      await expect(values(source)).resolves.toEqual([1, 2, 3]);
      expect(service.subscriptions).toBe(3); // two failed subscriptions, then the good one
      expect(registry.stats().retries['StreamService.stream']).toMatchObject({
        calls: 1,
        successWithRetry: 1,
        attempts: 3,
      });

      await expect(values(source)).resolves.toEqual([1, 2, 3]); // the same Observable again
      expect(service.subscriptions).toBe(4);
      expect(registry.stats().retries['StreamService.stream']).toMatchObject({
        calls: 2,
        successWithoutRetry: 1,
        attempts: 4,
      });
    });

    it('error with the last error once the retries are used up', async () => {
      const { service } = await setup();
      service.failures = 10;
      const error = await rejectionOf(values(service.stream()));
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error.message).toBe('stream failure #3');
    });

    it('time out on an Observable that never completes, and unsubscribe from it', async () => {
      const clock = new FakeClock();
      const { service, registry } = await setup(clock);
      const started = clock.now();
      const result = settle(values(service.endless()), clock);
      await clock.advance(29);
      expect(result.settled).toBe(false);
      expect(service.teardowns).toBe(0);

      await clock.advance(1);
      const error = result.error as TimeoutError;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.timeout).toBe(30);
      expect(result.at).toBe(started + 30);
      expect(service.subscriptions).toBe(1);
      expect(service.teardowns).toBe(1);
      expect(registry.stats().timeouts['StreamService.endless']).toEqual({ calls: 1, timeouts: 1 });
    });

    it('emit a fallback value', async () => {
      const { service } = await setup();
      await expect(values(service.withValueFallback())).resolves.toEqual([-1]);
      expect(service.subscriptions).toBe(2); // retried once before falling back
    });

    it("emit a fallback Observable's values", async () => {
      const { service } = await setup();
      await expect(values(service.withStreamFallback())).resolves.toEqual([7, 8]);
    });

    it('call a fallback method with the error and the arguments', async () => {
      const { service } = await setup();
      await expect(values(service.withMethodFallback(4))).resolves.toEqual(['broken+4']);
    });

    it('abort the call when the subscriber unsubscribes: the source is torn down', async () => {
      const clock = new FakeClock();
      const { service, registry } = await setup(clock);
      const error = jest.fn();
      const subscription = service.endless().subscribe({ error });
      expect(service.subscriptions).toBe(1);
      expect(registry.inFlightCalls).toBe(1);

      await clock.advance(29);
      subscription.unsubscribe();

      expect(service.teardowns).toBe(1);
      await clock.advance(1); // the 30ms limit: it must not fire for a cancelled call
      expect(registry.stats().timeouts['StreamService.endless'].timeouts).toBe(0);
      await clock.advance(60_000);
      expect(registry.stats().timeouts['StreamService.endless'].timeouts).toBe(0);
      expect(error).not.toHaveBeenCalled();
      expect(service.teardowns).toBe(1);
      expect(registry.inFlightCalls).toBe(0);
    });

    it('end the call when the subscriber unsubscribes, without a retry or a fallback', async () => {
      const clock = new FakeClock();
      const { service, registry } = await setup(clock);
      const subscription = service.endlessWithFallback().subscribe();
      expect(registry.inFlightCalls).toBe(1);

      subscription.unsubscribe();
      await clock.advance(60_000); // a retry without backoff would have run at once
      expect(clock.pendingTimers).toBe(0);

      expect(service.teardowns).toBe(1);
      expect(service.subscriptions).toBe(1); // not re-subscribed by the retry
      expect(service.fallbacks).toBe(0); // nobody is left to receive a fallback value
      expect(registry.inFlightCalls).toBe(0); // shutdown will not wait for it
      expect(registry.stats().retries['StreamService.endlessWithFallback']).toMatchObject({
        calls: 1,
        attempts: 1,
      });
    });

    it('abort a retry waiting in its backoff when the subscriber unsubscribes', async () => {
      const clock = new FakeClock();
      const { service, registry } = await setup(clock);
      const errors: unknown[] = [];
      const subscription = service.failing().subscribe({ error: (e) => errors.push(e) });
      await clock.advance(0);
      expect(service.subscriptions).toBe(1); // first attempt failed, now waiting 50ms

      subscription.unsubscribe();
      await clock.advance(500);

      expect(service.subscriptions).toBe(1); // no further attempt
      expect(errors).toEqual([]); // nothing is delivered after unsubscribe
      expect(registry.scheduler.size).toBe(0); // the backoff timer is gone
      expect(registry.inFlightCalls).toBe(0);
    });

    it('are detected on the first call when no return type is declared', async () => {
      const clock = new FakeClock();
      const { service } = await setup(clock);
      // the fixture really declares nothing: TypeScript emits no design:returntype for it
      expect(
        Reflect.getMetadata('design:returntype', StreamService.prototype, 'undeclared'),
      ).toBeUndefined();

      const first = service.undeclared() as unknown;
      expect(isObservable(first)).toBe(true);
      const firstValues = settle(values(first as Observable<string>));
      await clock.advance(0); // the retries wait 0ms on the clock
      expect(firstValues.value).toEqual(['a', 'b']);
      expect(service.subscriptions).toBe(3); // retried by re-subscribing

      // known from now on: lazy, once per subscription
      const second = service.undeclared() as unknown as Observable<string>;
      expect(isObservable(second)).toBe(true);
      const callsBefore = service.calls;
      await clock.advance(60_000);
      expect(service.calls).toBe(callsBefore);
      expect(service.subscriptions).toBe(3);
      await expect(values(second)).resolves.toEqual(['a', 'b']);
      await expect(values(second)).resolves.toEqual(['a', 'b']);
      expect(service.subscriptions).toBe(5);
    });

    describe('without a declared return type, on the first call', () => {
      const setupUndeclared = async () => {
        const clock = new FakeClock();
        const app = await apps.start({
          imports: [ResilienceModule.forRoot({ clock })],
          providers: [UndeclaredStreams],
        });
        const service = app.get(UndeclaredStreams);
        service.clock = clock;
        return { service, registry: app.get(ResilienceRegistry), clock };
      };

      it('an endless Observable times out and the source is unsubscribed', async () => {
        const { service, registry, clock } = await setupUndeclared();
        expect(
          Reflect.getMetadata('design:returntype', UndeclaredStreams.prototype, 'ticking'),
        ).toBeUndefined();

        const result = service.ticking() as unknown;
        expect(isObservable(result)).toBe(true);
        const started = clock.now();
        const outcome = settle(values(result as Observable<number>), clock);
        await clock.advance(29);
        expect(outcome.settled).toBe(false);
        expect(service.emissions).toBe(5); // at 5, 10, 15, 20 and 25ms
        expect(service.teardowns).toBe(0);

        await clock.advance(1);
        const error = outcome.error as TimeoutError;
        expect(error).toBeInstanceOf(TimeoutError);
        expect(error.timeout).toBe(30);
        expect(outcome.at).toBe(started + 30);
        expect(service.subscriptions).toBe(1);
        expect(service.teardowns).toBe(1);
        const emittedAtTimeout = service.emissions;
        await clock.advance(60); // a dozen ticks of the source, had it been left running
        expect(service.emissions).toBe(emittedAtTimeout);
        expect(clock.pendingTimers).toBe(0);
        expect(service.teardowns).toBe(1);
        expect(registry.stats().timeouts['UndeclaredStreams.ticking']).toEqual({
          calls: 1,
          timeouts: 1,
        });
        expect(registry.inFlightCalls).toBe(0);
      });

      it('a failing call whose Observable nobody subscribes to leaves no unhandled rejection', async () => {
        const { service, registry, clock } = await setupUndeclared();
        const unhandled = recordUnhandledRejections();
        try {
          const result = service.failing() as unknown;
          expect(isObservable(result)).toBe(true);
          await clock.advance(0); // the retry waits 0ms on the clock
          await flush(); // past the turn in which Node reports unhandled rejections
          expect(service.failingCalls).toBe(2); // the retry ran: the call really failed
          expect(registry.inFlightCalls).toBe(0);
          expect(unhandled.reasons).toEqual([]);

          // a late subscriber still gets the error
          const error = await rejectionOf(values(result as Observable<unknown>));
          expect(error).toBeInstanceOf(UpstreamError);
          expect(error.message).toBe('failing call #2');
          await flush();
          await flush();
          expect(unhandled.reasons).toEqual([]);
        } finally {
          unhandled.stop();
        }
      });
    });

    it('are detected on the first call when no return type is declared and only a fallback protects them', async () => {
      const { service } = await setup();
      const first = service.undeclaredWithFallback() as unknown;
      expect(isObservable(first)).toBe(true);
      await expect(values(first as Observable<string>)).resolves.toEqual(['x', 'y']);
    });
  });
});
