import { Injectable } from '@nestjs/common';
import {
  CircuitBreaker,
  CircuitOpenError,
  Fallback,
  FallbackEvent,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  StateChangeEvent,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import { deferred, rejectionOf, settle, useTestApps } from '../fixtures/testing-app';

@Injectable()
class TimedService {
  fail = true;
  /** Clock readings at each invocation. */
  readonly invokedAt: number[] = [];
  gate?: Promise<string>;

  constructor(readonly clock: FakeClock) {}

  @CircuitBreaker({ failureThreshold: 3, successThreshold: 2, resetTimeout: 10_000 })
  async guarded(): Promise<string> {
    this.invokedAt.push(this.clock.now());
    if (this.gate) return this.gate;
    if (this.fail) throw new UpstreamError('down');
    return 'up';
  }

  @Retry({
    maxAttempts: 5,
    backoff: {
      type: 'exponential',
      initialDelay: 100,
      multiplier: 2,
      maxDelay: 300,
      jitter: 'none',
    },
  })
  async exponential(): Promise<never> {
    return this.failing();
  }

  @Retry({ maxAttempts: 4, backoff: { type: 'linear', initialDelay: 50, jitter: 'none' } })
  async linear(): Promise<never> {
    return this.failing();
  }

  @Retry({ maxAttempts: 3, backoff: { type: 'fixed', initialDelay: 70, jitter: 'none' } })
  async fixed(): Promise<never> {
    return this.failing();
  }

  private async failing(): Promise<never> {
    this.invokedAt.push(this.clock.now());
    throw new UpstreamError(`failure #${this.invokedAt.length}`);
  }
}

const NAME = 'TimedService.guarded';

@Injectable()
class RecoveringService {
  @Fallback(() => 'fallback')
  async alone(): Promise<string> {
    throw new UpstreamError('alone failed');
  }

  @Fallback('recover')
  @Retry({ maxAttempts: 2, backoff: { type: 'fixed', initialDelay: 250, jitter: 'none' } })
  async retried(): Promise<string> {
    throw new UpstreamError('retried failed');
  }

  recover(): string {
    return 'recovered';
  }
}

describe('with the FakeClock module option', () => {
  const apps = useTestApps();
  const setup = async () => {
    const clock = new FakeClock();
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock })],
      providers: [{ provide: FakeClock, useValue: clock }, TimedService],
    });
    const registry = app.get(ResilienceRegistry);
    const changes: StateChangeEvent[] = [];
    registry.events$.subscribe((e) => e.type === 'state-change' && changes.push(e));
    return { clock, registry, changes, service: app.get(TimedService) };
  };

  describe('circuit breaker', () => {
    const open = async (service: TimedService) => {
      for (let i = 0; i < 3; i++) await expect(service.guarded()).rejects.toThrow('down');
    };

    it('opens, reads half-open exactly at resetTimeout without any call, then closes after successThreshold', async () => {
      const { clock, registry, changes, service } = await setup();
      const breaker = registry.circuitBreaker(NAME)!;
      await open(service);
      const openedAt = clock.now();
      expect(breaker.state).toBe('open');

      await clock.advance(9_999);
      expect(breaker.state).toBe('open');
      const error = await rejectionOf(service.guarded());
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect(error.retryAfter).toBe(1);

      await clock.advance(1);
      expect(breaker.state).toBe('half-open');
      expect(registry.stats().circuitBreakers[NAME]).toMatchObject({
        state: 'half-open',
        stateChangedAt: openedAt + 10_000,
      });

      service.fail = false;
      await expect(service.guarded()).resolves.toBe('up');
      expect(breaker.state).toBe('half-open'); // one success of two
      await expect(service.guarded()).resolves.toBe('up');
      expect(breaker.state).toBe('closed');

      expect(changes.map(({ from, to, reason, at }) => ({ from, to, reason, at }))).toEqual([
        { from: 'closed', to: 'open', reason: 'failure-threshold', at: openedAt },
        { from: 'open', to: 'half-open', reason: 'reset-timeout', at: openedAt + 10_000 },
        { from: 'half-open', to: 'closed', reason: 'half-open-success', at: openedAt + 10_000 },
      ]);
      expect(service.invokedAt).toHaveLength(5); // the rejected call never ran
    });

    it('emits the half-open transition on time, from its timer', async () => {
      const { clock, changes, service } = await setup();
      await open(service);
      await clock.advance(10_000);
      expect(changes.map((c) => c.to)).toEqual(['open', 'half-open']);
    });

    it('opens again for another resetTimeout when a trial call fails', async () => {
      const { clock, registry, service } = await setup();
      const breaker = registry.circuitBreaker(NAME)!;
      await open(service);
      await clock.advance(10_000);

      await expect(service.guarded()).rejects.toThrow('down');
      expect(breaker.state).toBe('open');
      await clock.advance(9_999);
      expect(breaker.state).toBe('open');
      await clock.advance(1);
      expect(breaker.state).toBe('half-open');
    });

    it('lets one trial call run at a time while half-open', async () => {
      const { clock, service } = await setup();
      await open(service);
      await clock.advance(10_000);
      const trial = deferred<string>();
      service.gate = trial.promise;

      const first = service.guarded();
      await expect(service.guarded()).rejects.toBeInstanceOf(CircuitOpenError);
      trial.resolve('up');
      await expect(first).resolves.toBe('up');
    });
  });

  describe('retry backoff (jitter none)', () => {
    it.each<[keyof TimedService & ('exponential' | 'linear' | 'fixed'), number[]]>([
      ['exponential', [100, 200, 300, 300]], // multiplier 2, capped at maxDelay 300
      ['linear', [50, 100, 150]],
      ['fixed', [70, 70]],
    ])('%s waits exactly the computed delays', async (method, delays) => {
      const { clock, service, registry } = await setup();
      const start = clock.now();
      const outcome = settle(service[method]());

      const expected = [start];
      for (const delay of delays) expected.push(expected[expected.length - 1] + delay);
      for (let i = 1; i < expected.length; i++) {
        await clock.advance(expected[i] - clock.now() - 1);
        expect(service.invokedAt).toHaveLength(i); // not a millisecond early
        await clock.advance(1);
        expect(service.invokedAt).toHaveLength(i + 1);
      }
      expect(service.invokedAt).toEqual(expected);
      await clock.advance(0);
      expect(outcome.error).toBeInstanceOf(UpstreamError);
      expect((outcome.error as Error).message).toBe(`failure #${expected.length}`);
      expect(registry.scheduler.size).toBe(0);
    });
  });

  describe('fallback events', () => {
    /** A start far from the real time, so that a timestamp from Date.now() cannot pass. */
    const START = 1_000_000;

    const setupFallbacks = async () => {
      const clock = new FakeClock(START);
      const app = await apps.start({
        imports: [ResilienceModule.forRoot({ clock })],
        providers: [RecoveringService],
      });
      const fallbacks: FallbackEvent[] = [];
      app
        .get(ResilienceRegistry)
        .events$.subscribe((e) => e.type === 'fallback' && fallbacks.push(e));
      return { clock, fallbacks, service: app.get(RecoveringService) };
    };

    it("carry the module clock's time in `at`", async () => {
      const { clock, fallbacks, service } = await setupFallbacks();
      await expect(service.alone()).resolves.toBe('fallback');
      await clock.advance(5_000);
      await expect(service.alone()).resolves.toBe('fallback');

      expect(fallbacks).toHaveLength(2);
      expect(fallbacks.map((e) => e.at)).toEqual([START, START + 5_000]);
      expect(fallbacks[0]).toMatchObject({ type: 'fallback', name: 'RecoveringService.alone' });
      expect((fallbacks[0].error as Error).message).toBe('alone failed');
    });

    it('are stamped when the fallback runs, after the retry waited on the same clock', async () => {
      const { clock, fallbacks, service } = await setupFallbacks();
      const outcome = settle(service.retried());
      await clock.advance(250);
      expect(outcome).toMatchObject({ status: 'resolved', value: 'recovered' });
      expect(fallbacks.map((e) => e.at)).toEqual([START + 250]);
    });
  });
});
