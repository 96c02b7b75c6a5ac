import { Injectable } from '@nestjs/common';
import {
  Bulkhead,
  BulkheadRejectedError,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import { Outcome, settle, useTestApps } from '../fixtures/testing-app';

/** Retries every error, bulkhead rejections included, to churn the queue as much as possible. */
const RETRY_ALL = {
  maxAttempts: 3,
  backoff: { type: 'fixed', initialDelay: 5, jitter: 'none' },
  retryOn: () => true,
} as const;

@Injectable()
abstract class Hammered {
  invocations = 0;
  running = 0;
  maxRunning = 0;

  constructor(readonly clock: FakeClock) {}

  /** Runs 1-20 virtual ms; every third call fails. */
  protected async body(i: number): Promise<number> {
    this.invocations++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, ((i * 7) % 20) + 1));
      if (i % 3 === 0) throw new UpstreamError(`call ${i} failed`);
      return i;
    } finally {
      this.running--;
    }
  }
}

@Injectable()
class RejectingBulkhead extends Hammered {
  @Retry(RETRY_ALL)
  @Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 15 })
  work(i: number): Promise<number> {
    return this.body(i);
  }
}

@Injectable()
class EvictingBulkhead extends Hammered {
  @Retry(RETRY_ALL)
  @Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 15, overflow: 'drop-oldest' })
  work(i: number): Promise<number> {
    return this.body(i);
  }
}

describe.each([
  { Service: RejectingBulkhead, expectedReasons: ['full', 'queue-timeout'] },
  { Service: EvictingBulkhead, expectedReasons: ['evicted'] },
])('bulkhead counters under retries ($Service.name)', ({ Service, expectedReasons }) => {
  const apps = useTestApps();
  const name = `${Service.name}.work`;

  it('never drift when hammered concurrently', async () => {
    const clock = new FakeClock();
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock })],
      providers: [{ provide: FakeClock, useValue: clock }, Service],
    });
    const service = app.get(Service);
    const registry = app.get(ResilienceRegistry);
    const rejections: string[] = [];
    registry.events$.subscribe((e) => e.type === 'bulkhead-rejected' && rejections.push(e.reason));

    const outcomes: Outcome<number>[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25; i++) outcomes.push(settle(service.work(round * 25 + i)));
      await clock.advance(3);
    }
    for (let step = 0; step < 2000 && outcomes.some((o) => !o.settled); step++) {
      await clock.advance(1);
    }
    expect(outcomes.every((o) => o.settled)).toBe(true);

    const { bulkheads, retries } = registry.stats();
    const bulkhead = bulkheads[name];
    const retry = retries[name];
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.queued).toBe(0);
    expect(service.maxRunning).toBe(1);
    expect(service.running).toBe(0);
    // every attempt reached the bulkhead and was either accepted or rejected
    expect(bulkhead.accepted).toBe(service.invocations);
    expect(bulkhead.accepted + bulkhead.rejected).toBe(retry.attempts);
    expect(bulkhead.rejected).toBe(rejections.length);
    expect(bulkhead.queueTimeouts).toBe(rejections.filter((r) => r === 'queue-timeout').length);
    // the scenario did exercise the rejection paths
    for (const reason of expectedReasons) expect(rejections).toContain(reason);

    expect(retry.calls).toBe(100);
    const succeeded = outcomes.filter((o) => o.error === undefined).length;
    expect(retry.successWithoutRetry + retry.successWithRetry).toBe(succeeded);
    expect(retry.failedWithRetry + retry.failedWithoutRetry).toBe(100 - succeeded);
    const rejected = outcomes.filter((o) => o.error instanceof BulkheadRejectedError).length;
    expect(rejected).toBeGreaterThan(0);
    expect(registry.scheduler.size).toBe(0); // no queue timer left behind
    expect(registry.inFlightCalls).toBe(0);
  });
});
