import { Injectable } from '@nestjs/common';
import { defer, lastValueFrom, NEVER, Observable, of } from 'rxjs';
import {
  currentSignal,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
  Timeout,
  TimeoutError,
} from '../../lib';
import { NO_WAIT } from '../fixtures/flaky-client';
import { deferred, rejectionOf, settle, sleep, useTestApps } from '../fixtures/testing-app';
import { FakeClock, flush } from '../utils/fake-clock';

@Injectable()
class SignalService {
  readonly signals: AbortSignal[] = [];
  readonly work = deferred<string>();
  workEnded = false;

  /** Runs until the test releases it: much longer than its 30ms. */
  @Timeout(30)
  async slow(): Promise<string> {
    this.signals.push(currentSignal());
    const value = await this.work.promise;
    this.workEnded = true;
    return value;
  }

  @Timeout(50)
  async quick(): Promise<string> {
    this.signals.push(currentSignal());
    return 'done';
  }

  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  async untimed(): Promise<string> {
    this.signals.push(currentSignal());
    return 'done';
  }

  /** The first attempt hangs and is timed out; the second answers. */
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  @Timeout(30)
  async perAttempt(): Promise<string> {
    this.signals.push(currentSignal());
    if (this.signals.length === 1) return new Promise<string>(() => undefined);
    return 'second';
  }

  /** Reads the signal again after an await. */
  @Timeout(1000)
  async acrossAwaits(): Promise<boolean> {
    const before = currentSignal();
    await sleep(1);
    await Promise.resolve();
    return currentSignal() === before;
  }

  @Timeout(30)
  syncTimed(): boolean {
    this.signals.push(currentSignal());
    return currentSignal().aborted;
  }

  /** Observable: the first attempt never emits and is timed out; the second answers. */
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  @Timeout(30)
  perAttemptStream(): Observable<string> {
    this.signals.push(currentSignal());
    if (this.signals.length === 1) return NEVER;
    return of('second');
  }

  /** Signals read when the Observable is subscribed, not when the method runs. */
  readonly subscribedSignals: AbortSignal[] = [];

  /** Observable: reads the signal in code that runs only on subscription. */
  @Timeout(30)
  deferredStream(): Observable<string> {
    return defer(() => {
      this.subscribedSignals.push(currentSignal());
      return NEVER;
    });
  }

  /** Observable: the first subscription never emits and is timed out; the second answers. */
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  @Timeout(30)
  deferredPerAttemptStream(): Observable<string> {
    return defer(() => {
      this.subscribedSignals.push(currentSignal());
      return this.subscribedSignals.length === 1 ? NEVER : of('second');
    });
  }
}

describe('currentSignal() and @Timeout', () => {
  const apps = useTestApps();
  /** With a FakeClock that drives every timer of the module, unless `null` is given (real time). */
  const setup = async (clock: FakeClock | null = new FakeClock()) => {
    const app = await apps.start({
      imports: [ResilienceModule.forRoot(clock ? { clock } : {})],
      providers: [SignalService],
    });
    return {
      service: app.get(SignalService),
      registry: app.get(ResilienceRegistry),
      clock: clock!,
    };
  };

  it('gives the caller a TimeoutError at once, before the work ends, and aborts the signal with it', async () => {
    const { service, registry, clock } = await setup();
    const start = clock.now();
    const call = settle(service.slow(), clock);

    await clock.advance(29);
    expect(call.settled).toBe(false);
    expect(service.signals).toHaveLength(1);
    expect(service.signals[0].aborted).toBe(false);

    await clock.advance(1);
    expect(call.status).toBe('rejected');
    expect(call.at).toBe(start + 30); // exactly at the limit
    expect(service.workEnded).toBe(false); // the caller did not wait for the work
    const error = call.error as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.timeout).toBe(30);
    expect(error.policyName).toBe('SignalService.slow');
    const [signal] = service.signals;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(error);
    expect(registry.stats().timeouts['SignalService.slow']).toEqual({ calls: 1, timeouts: 1 });

    service.work.resolve('too late'); // a late result is dropped quietly
    await flush();
    expect(service.workEnded).toBe(true);
    expect(call.error).toBe(error);
  });

  it('with real timers, rejects the caller and aborts the signal while the work still runs', async () => {
    const { service, registry } = await setup(null);
    const started = Date.now();

    const error = await rejectionOf(service.slow());
    const elapsed = Date.now() - started;

    // real timers: never (much) early, and late by at most a generous bound
    expect(elapsed).toBeGreaterThanOrEqual(25);
    expect(elapsed).toBeLessThan(1000);
    expect(service.workEnded).toBe(false);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.timeout).toBe(30);
    const [signal] = service.signals;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(error);
    expect(registry.stats().timeouts['SignalService.slow']).toEqual({ calls: 1, timeouts: 1 });

    service.work.resolve('too late');
    await flush();
    expect(service.workEnded).toBe(true);
  });

  it('is never aborted on a method without @Timeout', async () => {
    const { service, clock } = await setup();
    await expect(service.untimed()).resolves.toBe('done');
    await clock.advance(60_000);
    expect(service.signals).toHaveLength(1);
    expect(service.signals[0].aborted).toBe(false);
  });

  it('is not aborted when the call ends in time, neither at the limit nor after it', async () => {
    const { service, registry, clock } = await setup();
    await expect(service.quick()).resolves.toBe('done');
    await clock.advance(49);
    expect(service.signals[0].aborted).toBe(false);
    await clock.advance(1); // the 50ms limit
    expect(service.signals[0].aborted).toBe(false);
    await clock.advance(60_000);
    expect(service.signals[0].aborted).toBe(false);
    expect(registry.stats().timeouts['SignalService.quick']).toEqual({ calls: 1, timeouts: 0 });
  });

  it('is a fresh signal for every retry attempt', async () => {
    const { service, clock } = await setup();
    const call = settle(service.perAttempt());
    await clock.advance(29);
    expect(call.settled).toBe(false);
    expect(service.signals).toHaveLength(1); // no second attempt before the first timed out
    expect(service.signals[0].aborted).toBe(false);

    await clock.advance(1);
    expect(call.value).toBe('second');
    expect(service.signals).toHaveLength(2);
    expect(service.signals[0]).not.toBe(service.signals[1]);
    expect(service.signals[0].aborted).toBe(true);
    expect(service.signals[0].reason).toBeInstanceOf(TimeoutError);
    expect(service.signals[1].aborted).toBe(false);
  });

  it('is the same signal after awaits inside the method', async () => {
    const { service } = await setup();
    await expect(service.acrossAwaits()).resolves.toBe(true);
  });

  it('is available to synchronous methods', async () => {
    const { service } = await setup();
    await expect(service.syncTimed()).resolves.toBe(false);
    expect(service.signals[0]).toBeInstanceOf(AbortSignal);
  });

  describe('on Observable methods', () => {
    it("is each retry attempt's own signal in the method body: the timed-out attempt's is aborted, the next one's is not", async () => {
      const { service, clock } = await setup();
      const result = settle(lastValueFrom(service.perAttemptStream()));
      await clock.advance(29);
      expect(result.settled).toBe(false);
      expect(service.signals).toHaveLength(1);
      expect(service.signals[0].aborted).toBe(false);

      await clock.advance(1);
      expect(result.value).toBe('second');
      expect(service.signals).toHaveLength(2); // the method ran again for the second attempt
      const [first, second] = service.signals;
      expect(first).not.toBe(second);
      expect(first.aborted).toBe(true);
      expect(first.reason).toBeInstanceOf(TimeoutError);
      expect(second.aborted).toBe(false);
    });

    it("is the call's signal inside deferred subscription code, aborted when the timeout fires", async () => {
      const { service, clock } = await setup();
      const result = settle(lastValueFrom(service.deferredStream()));
      await clock.advance(29);
      expect(result.settled).toBe(false);
      expect(service.subscribedSignals).toHaveLength(1);
      expect(service.subscribedSignals[0].aborted).toBe(false);

      await clock.advance(1);
      const error = result.error as TimeoutError;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(service.subscribedSignals).toHaveLength(1);
      const [signal] = service.subscribedSignals;
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(error);
    });

    it("is each retry attempt's own signal inside deferred subscription code", async () => {
      const { service, clock } = await setup();
      const result = settle(lastValueFrom(service.deferredPerAttemptStream()));
      await clock.advance(29);
      expect(result.settled).toBe(false);
      expect(service.subscribedSignals).toHaveLength(1);

      await clock.advance(1);
      expect(result.value).toBe('second');
      expect(service.subscribedSignals).toHaveLength(2);
      const [first, second] = service.subscribedSignals;
      expect(first).not.toBe(second);
      expect(first.aborted).toBe(true);
      expect(first.reason).toBeInstanceOf(TimeoutError);
      expect(second.aborted).toBe(false);
    });
  });

  it('outside a protected call is a signal that never aborts', () => {
    const signal = currentSignal();
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(false);
  });
});
