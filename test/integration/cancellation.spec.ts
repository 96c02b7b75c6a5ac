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
import { deferred, rejectionOf, sleep, useTestApps } from '../fixtures/testing-app';

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
  const setup = async () => {
    const app = await apps.start({
      imports: [ResilienceModule.forRoot()],
      providers: [SignalService],
    });
    return { service: app.get(SignalService), registry: app.get(ResilienceRegistry) };
  };

  it('gives the caller a TimeoutError at once, before the work ends, and aborts the signal with it', async () => {
    const { service, registry } = await setup();
    const started = Date.now();

    const error = await rejectionOf(service.slow());

    expect(Date.now() - started).toBeLessThan(500);
    expect(service.workEnded).toBe(false); // the caller did not wait for the work
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.timeout).toBe(30);
    expect(error.policyName).toBe('SignalService.slow');
    const [signal] = service.signals;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(error);
    expect(registry.stats().timeouts['SignalService.slow']).toEqual({ calls: 1, timeouts: 1 });

    service.work.resolve('too late'); // a late result is dropped quietly
    await sleep(1);
    expect(service.workEnded).toBe(true);
  });

  it('is never aborted on a method without @Timeout', async () => {
    const { service } = await setup();
    await expect(service.untimed()).resolves.toBe('done');
    await sleep(10);
    expect(service.signals[0].aborted).toBe(false);
  });

  it('is not aborted when the call ends in time', async () => {
    const { service } = await setup();
    await expect(service.quick()).resolves.toBe('done');
    await sleep(80); // past the 50ms limit
    expect(service.signals[0].aborted).toBe(false);
  });

  it('is a fresh signal for every retry attempt', async () => {
    const { service } = await setup();
    await expect(service.perAttempt()).resolves.toBe('second');
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
      const { service } = await setup();
      await expect(lastValueFrom(service.perAttemptStream())).resolves.toBe('second');
      expect(service.signals).toHaveLength(2); // the method ran again for the second attempt
      const [first, second] = service.signals;
      expect(first).not.toBe(second);
      expect(first.aborted).toBe(true);
      expect(first.reason).toBeInstanceOf(TimeoutError);
      expect(second.aborted).toBe(false);
    });

    it("is the call's signal inside deferred subscription code, aborted when the timeout fires", async () => {
      const { service } = await setup();
      const error = await rejectionOf(lastValueFrom(service.deferredStream()));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(service.subscribedSignals).toHaveLength(1);
      const [signal] = service.subscribedSignals;
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(error);
    });

    it("is each retry attempt's own signal inside deferred subscription code", async () => {
      const { service } = await setup();
      await expect(lastValueFrom(service.deferredPerAttemptStream())).resolves.toBe('second');
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
