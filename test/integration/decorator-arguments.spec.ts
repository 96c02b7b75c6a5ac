import { Injectable } from '@nestjs/common';
import {
  Bulkhead,
  BulkheadRejectedError,
  CircuitBreaker,
  CircuitOpenError,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
} from '../../lib';
import { NO_WAIT, UpstreamError } from '../fixtures/flaky-client';
import { deferred, settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock, flush } from '../utils/fake-clock';

/** Decorators given `undefined` where a name may stand, as option-forwarding code does. */
@Injectable()
class UndefinedNames {
  calls = 0;
  breakerCalls = 0;
  gate = deferred<void>();

  @Retry(undefined as any, { maxAttempts: 5, backoff: NO_WAIT })
  async retried(): Promise<never> {
    this.calls++;
    throw new UpstreamError(`failure #${this.calls}`);
  }

  @CircuitBreaker(undefined as any, { failureThreshold: 1 })
  async guarded(): Promise<never> {
    this.breakerCalls++;
    throw new UpstreamError('down');
  }

  @Bulkhead(undefined as any, { maxConcurrent: 1 })
  async limited(): Promise<void> {
    await this.gate.promise;
  }
}

describe('decorators called with an undefined name and options', () => {
  const apps = useTestApps();
  const setup = async () => {
    const clock = new FakeClock();
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock })],
      providers: [UndefinedNames],
    });
    return { service: app.get(UndefinedNames), registry: app.get(ResilienceRegistry), clock };
  };

  it('@Retry(undefined, { maxAttempts: 5 }) keeps the options: 5 attempts happen', async () => {
    const { service, registry, clock } = await setup();
    const call = settle(service.retried());
    await clock.advance(0); // the backoffs of 0ms run on the clock
    const error = call.error as UpstreamError;
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toBe('failure #5');
    expect(service.calls).toBe(5);
    expect(registry.stats().retries['UndefinedNames.retried']).toMatchObject({
      calls: 1,
      failedWithRetry: 1,
      attempts: 5,
    });
  });

  it('@CircuitBreaker(undefined, options) keeps the options and the default name', async () => {
    const { service, registry } = await setup();
    await expect(service.guarded()).rejects.toThrow('down'); // failureThreshold 1: opens
    await expect(service.guarded()).rejects.toBeInstanceOf(CircuitOpenError);
    expect(service.breakerCalls).toBe(1);
    expect(registry.circuitBreaker('UndefinedNames.guarded')?.state).toBe('open');
  });

  it('@Bulkhead(undefined, options) keeps the options', async () => {
    const { service, registry } = await setup();
    const first = service.limited();
    const second = settle(service.limited());
    await flush(); // no time passes: a rejection now comes from the bulkhead being full
    const stats = registry.stats().bulkheads['UndefinedNames.limited'];
    service.gate.resolve(); // let every admitted call end before asserting
    await first;
    expect(stats).toMatchObject({ maxConcurrent: 1, active: 1, accepted: 1, rejected: 1 });
    expect(second.error).toBeInstanceOf(BulkheadRejectedError);
    expect((second.error as BulkheadRejectedError).reason).toBe('full');
  });
});
