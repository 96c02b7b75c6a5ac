import { Inject, Injectable, Module } from '@nestjs/common';
import { lastValueFrom, Observable, Subject, toArray } from 'rxjs';
import {
  Bulkhead,
  CircuitBreaker,
  DEAD_LETTER_QUEUE,
  DeadLetter,
  DeadLetterQueue,
  Fallback,
  InjectDeadLetterQueue,
  InMemoryDeadLetterQueue,
  ResilienceEvent,
  ResilienceModule,
  ResilienceModuleOptions,
  ResilienceRegistry,
  Retry,
  UsePolicy,
} from '../../lib';
import { NO_WAIT, UpstreamError } from '../fixtures/flaky-client';
import { deferred, settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock, flush } from '../utils/fake-clock';

const START = Date.UTC(2026, 0, 2, 3, 4, 5);

@Injectable()
class Payments {
  calls = 0;
  recovered: unknown[] = [];
  /** Letters queued when each fallback ran. */
  lettersAtFallback: number[] = [];

  constructor(@InjectDeadLetterQueue() private readonly letters: InMemoryDeadLetterQueue) {}

  @DeadLetter()
  @Retry({ maxAttempts: 3, backoff: NO_WAIT })
  async charge(customer: string, amount: number): Promise<string> {
    this.calls++;
    throw new UpstreamError(`charge ${customer} ${amount} failed (#${this.calls})`);
  }

  /** Written above the retry and the dead letter, runs outermost all the same. */
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  @DeadLetter()
  @Fallback('recover')
  async refund(id: string): Promise<string> {
    this.calls++;
    throw new UpstreamError(`refund ${id} failed`);
  }

  @Fallback('recover')
  @DeadLetter({ swallow: true })
  async cancel(_id: string): Promise<string> {
    throw new UpstreamError('cancel failed');
  }

  recover(error: unknown): string {
    this.recovered.push(error);
    this.lettersAtFallback.push(this.letters.size);
    return 'recovered';
  }

  @DeadLetter({ serializeArgs: ([card]) => [{ card: `****${String(card).slice(-4)}` }] })
  @CircuitBreaker('card-gateway', { failureThreshold: 100 })
  async authorize(card: string): Promise<void> {
    throw new UpstreamError(`card ${card} declined`);
  }

  @DeadLetter()
  async works(): Promise<string> {
    return 'fine';
  }

  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  async withoutDeadLetter(): Promise<never> {
    throw new UpstreamError('no letter for me');
  }

  @DeadLetter()
  check(value: number): number {
    if (value < 0) throw new RangeError(`negative: ${value}`);
    return value * 2;
  }

  @DeadLetter({ swallow: true })
  checkQuietly(value: number): number {
    if (value < 0) throw new RangeError(`negative: ${value}`);
    return value;
  }

  subscriptions = 0;

  @DeadLetter()
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  stream(fail: boolean): Observable<number> {
    return new Observable<number>((subscriber) => {
      this.subscriptions++;
      subscriber.next(1);
      if (fail) subscriber.error(new UpstreamError(`stream #${this.subscriptions} failed`));
      else subscriber.complete();
    });
  }

  @DeadLetter({ swallow: true })
  quietStream(): Observable<number> {
    return new Observable<number>((subscriber) => {
      subscriber.next(1);
      subscriber.error(new UpstreamError('quiet stream failed'));
    });
  }

  readonly endless = new Subject<number>();

  @DeadLetter()
  forever(): Observable<number> {
    return this.endless.asObservable();
  }

  @UsePolicy('reference-data')
  async rate(currency: string): Promise<number> {
    throw new UpstreamError(`no rate for ${currency}`);
  }

  readonly held = deferred<void>();

  @DeadLetter()
  @Bulkhead({ maxConcurrent: 1, maxQueue: 1 })
  async exclusive(): Promise<void> {
    await this.held.promise;
  }

  @UsePolicy('plain-set')
  async lookup(key: string): Promise<number> {
    throw new UpstreamError(`no ${key}`);
  }
}

/** Reads the queue through the injection token, as an application would. */
@Injectable()
class LetterReader {
  constructor(
    @InjectDeadLetterQueue() readonly queue: InMemoryDeadLetterQueue,
    @Inject(DEAD_LETTER_QUEUE) readonly sameQueue: DeadLetterQueue,
  ) {}
}

/** A queue that fails or works as the test says. */
class FlakyQueue implements DeadLetterQueue {
  failing = true;
  readonly stored: DeadLetter[] = [];
  attempts = 0;
  async publish(letter: DeadLetter): Promise<void> {
    this.attempts++;
    if (this.failing) throw new Error('broker unavailable');
    this.stored.push(letter);
  }
}

const policies: ResilienceModuleOptions['policies'] = {
  'reference-data': {
    retry: { maxAttempts: 2, backoff: NO_WAIT },
    circuitBreaker: { failureThreshold: 50 },
    deadLetter: { serializeArgs: (args) => args.map((a) => String(a).toLowerCase()) },
  },
  'plain-set': { deadLetter: {} },
};

describe('@DeadLetter', () => {
  const apps = useTestApps();

  async function setup(options: ResilienceModuleOptions = {}) {
    const clock = new FakeClock(START);
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock, policies, ...options })],
      providers: [Payments, LetterReader],
    });
    const reader = app.get(LetterReader);
    return {
      app,
      clock,
      service: app.get(Payments),
      registry: app.get(ResilienceRegistry),
      queue: reader.queue,
      letters: () => reader.queue.peek(),
    };
  }

  /** Runs `call` to its end while moving the FakeClock (retries with no wait use 0ms timers). */
  async function run<T>(clock: FakeClock, call: Promise<T>) {
    const outcome = settle(call);
    while (!outcome.settled) await clock.advance(0);
    return outcome;
  }

  it('publishes a letter after the retries gave up, then rethrows the last error', async () => {
    const { service, clock, letters, registry } = await setup();
    const outcome = await run(clock, service.charge('c1', 1250));
    expect(outcome.error).toBeInstanceOf(UpstreamError);
    expect((outcome.error as Error).message).toBe('charge c1 1250 failed (#3)');
    const [letter, ...rest] = await letters();
    expect(rest).toEqual([]);
    expect(letter).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      policy: 'Payments.charge',
      target: 'Payments.charge',
      args: ['c1', 1250],
      error: {
        name: 'UpstreamError',
        message: 'charge c1 1250 failed (#3)',
        stack: (outcome.error as Error).stack,
      },
      attempts: 3,
      failedAt: new Date(START).toISOString(),
    });
    expect(JSON.parse(JSON.stringify(letter))).toEqual(letter);
    expect(registry.stats().deadLetters).toEqual({
      published: 1,
      failedToPublish: 0,
      buffered: 0,
      dropped: 0,
      serializeFailures: 0,
    });
  });

  it('provides the same queue under DEAD_LETTER_QUEUE, an InMemoryDeadLetterQueue by default', async () => {
    const { app, queue } = await setup();
    expect(queue).toBeInstanceOf(InMemoryDeadLetterQueue);
    expect(app.get(LetterReader).sameQueue).toBe(queue);
    expect(app.get(DEAD_LETTER_QUEUE)).toBe(queue);
  });

  it('sits inside the fallback: the fallback runs after the letter is published', async () => {
    const { service, clock, letters } = await setup();
    const outcome = await run(clock, service.refund('r1'));
    expect(outcome.value).toBe('recovered');
    expect(service.calls).toBe(2);
    const [letter] = await letters();
    expect(letter).toMatchObject({ target: 'Payments.refund', attempts: 2, args: ['r1'] });
    expect(service.recovered).toHaveLength(1);
    expect((service.recovered[0] as Error).message).toBe('refund r1 failed');
    expect(service.lettersAtFallback).toEqual([1]);
  });

  it('with swallow: true resolves to undefined, and a fallback around it sees a success', async () => {
    const { service, letters } = await setup();
    await expect(service.cancel('x')).resolves.toBeUndefined();
    expect(service.recovered).toEqual([]);
    expect(await letters()).toMatchObject([{ target: 'Payments.cancel', attempts: 1 }]);
  });

  it("is named after the method's circuit breaker and uses its own serializeArgs", async () => {
    const { service, letters, clock } = await setup({ serializeArgs: () => ['module-level'] });
    await expect(service.authorize('4111111111111111')).rejects.toThrow(UpstreamError);
    expect((await run(clock, service.charge('c1', 5))).error).toBeInstanceOf(UpstreamError);
    const [authorize, charge] = await letters();
    expect(authorize).toMatchObject({
      policy: 'card-gateway',
      target: 'Payments.authorize',
      args: [{ card: '****1111' }],
    });
    expect(charge).toMatchObject({ policy: 'Payments.charge', args: ['module-level'] });
  });

  it("applies the module's serializeArgs to methods without their own", async () => {
    const { service, letters, clock } = await setup({
      serializeArgs: (args) => args.map(() => '[redacted]'),
    });
    await run(clock, service.charge('c1', 5));
    expect((await letters())[0].args).toEqual(['[redacted]', '[redacted]']);
  });

  it('leaves successes and methods without @DeadLetter alone', async () => {
    const { service, letters, clock, registry } = await setup();
    await expect(service.works()).resolves.toBe('fine');
    const outcome = await run(clock, service.withoutDeadLetter());
    expect(outcome.error).toBeInstanceOf(UpstreamError);
    expect(await letters()).toEqual([]);
    expect(registry.stats().deadLetters.published).toBe(0);
  });

  it('protects synchronous methods (they return a Promise once decorated)', async () => {
    const { service, letters } = await setup();
    await expect(service.check(2)).resolves.toBe(4);
    await expect(service.check(-1)).rejects.toThrow(RangeError);
    await expect(service.checkQuietly(-1)).resolves.toBeUndefined();
    expect((await letters()).map((l) => [l.target, l.args, l.error.name])).toEqual([
      ['Payments.check', [-1], 'RangeError'],
      ['Payments.checkQuietly', [-1], 'RangeError'],
    ]);
  });

  describe('Observable methods', () => {
    it('publish one letter per failed subscription, after the retries', async () => {
      const { service, letters, clock } = await setup();
      const values: number[] = [];
      let failure: unknown;
      service.stream(true).subscribe({ next: (v) => values.push(v), error: (e) => (failure = e) });
      while (failure === undefined) await clock.advance(0);
      expect((failure as Error).message).toBe('stream #2 failed');
      expect(values).toEqual([1, 1]);
      expect(await letters()).toMatchObject([
        { target: 'Payments.stream', args: [true], attempts: 2 },
      ]);

      await expect(lastValueFrom(service.stream(false).pipe(toArray()))).resolves.toEqual([1]);
      expect(await letters()).toHaveLength(1);
    });

    it('complete after their values with swallow: true', async () => {
      const { service, letters } = await setup();
      await expect(lastValueFrom(service.quietStream().pipe(toArray()))).resolves.toEqual([1]);
      expect(await letters()).toMatchObject([{ target: 'Payments.quietStream' }]);
    });

    it('write no letter when the subscriber unsubscribes', async () => {
      const { service, letters, registry } = await setup();
      const subscription = service.forever().subscribe();
      service.endless.next(1);
      subscription.unsubscribe();
      await flush();
      expect(await letters()).toEqual([]);
      expect(registry.stats().deadLetters.published).toBe(0);
    });
  });

  describe('policy sets', () => {
    it('@UsePolicy: the set gives the dead-letter step, named after the set breaker', async () => {
      const { service, letters, clock } = await setup();
      const outcome = await run(clock, service.rate('EUR'));
      expect(outcome.error).toBeInstanceOf(UpstreamError);
      expect(await letters()).toMatchObject([
        { policy: 'reference-data', target: 'Payments.rate', args: ['eur'], attempts: 2 },
      ]);
    });

    it('@UsePolicy without a breaker: the letter is named after the method', async () => {
      const { service, letters } = await setup();
      await expect(service.lookup('k')).rejects.toThrow('no k');
      expect(await letters()).toMatchObject([
        { policy: 'Payments.lookup', target: 'Payments.lookup', args: ['k'], attempts: 1 },
      ]);
    });

    it('registry.policy(name) publishes letters too, named after the set', async () => {
      const { registry, letters, clock } = await setup();
      let calls = 0;
      const outcome = await run(
        clock,
        registry.policy('reference-data')!.execute(() => {
          calls++;
          throw new UpstreamError('direct failure');
        }),
      );
      expect(outcome.error).toBeInstanceOf(UpstreamError);
      expect(calls).toBe(2);
      expect(await letters()).toMatchObject([
        { policy: 'reference-data', target: 'reference-data', args: [], attempts: 2 },
      ]);
    });

    it('registry.policy(name): a call cancelled through its signal is not a letter', async () => {
      const { registry, letters } = await setup();
      const controller = new AbortController();
      const call = registry
        .policy('plain-set')!
        .execute(
          (context) =>
            new Promise((_, reject) => context.onAbort(() => reject(new Error('aborted')))),
          controller.signal,
        );
      controller.abort();
      await expect(call).rejects.toThrow('aborted');
      expect(await letters()).toEqual([]);
    });
  });

  it('emits a dead-letter event with the letter on events$', async () => {
    const { service, registry } = await setup();
    const events: ResilienceEvent[] = [];
    const subscription = registry.events$.subscribe((event) => events.push(event));
    await expect(service.lookup('k')).rejects.toThrow();
    subscription.unsubscribe();
    await expect(service.lookup('again')).rejects.toThrow();
    const letters = events.filter((e) => e.type === 'dead-letter');
    expect(letters).toEqual([
      {
        type: 'dead-letter',
        name: 'Payments.lookup',
        at: START,
        letter: expect.objectContaining({ target: 'Payments.lookup', args: ['k'] }),
      },
    ]);
  });

  describe('a queue that fails', () => {
    it('loses nothing: letters are buffered, retried with backoff and shown in stats', async () => {
      const queue = new FlakyQueue();
      const { service, registry, clock, app } = await setup({
        deadLetterQueue: queue,
        deadLetterBuffer: { initialDelay: 1_000, publishTimeout: 50 },
      });
      expect(app.get(DEAD_LETTER_QUEUE)).toBe(queue);
      const warn = jest.spyOn((registry as unknown as { logger: { warn(): void } }).logger, 'warn');
      warn.mockImplementation(() => undefined);

      await expect(service.lookup('a')).rejects.toThrow('no a');
      await expect(service.lookup('b')).rejects.toThrow('no b');
      expect(registry.stats().deadLetters).toMatchObject({
        published: 0,
        failedToPublish: 1,
        buffered: 2,
        dropped: 0,
      });
      expect(warn).toHaveBeenCalledTimes(1);

      await clock.advance(1_000);
      expect(registry.stats().deadLetters).toMatchObject({ failedToPublish: 2, buffered: 2 });
      queue.failing = false;
      await clock.advance(2_000);
      expect(queue.stored.map((l) => l.args)).toEqual([['a'], ['b']]);
      expect(registry.stats().deadLetters).toMatchObject({ published: 2, buffered: 0 });
    });

    it('flushes the buffer on shutdown, within shutdownTimeout', async () => {
      const queue = new FlakyQueue();
      const { service, app } = await setup({
        deadLetterQueue: queue,
        deadLetterBuffer: { initialDelay: 60_000 },
      });
      await expect(service.lookup('a')).rejects.toThrow();
      queue.failing = false;
      await apps.close(app);
      expect(queue.stored.map((l) => l.args)).toEqual([['a']]);
    });

    it('logs the letters it could not flush before shutdownTimeout, with a count', async () => {
      const queue = new FlakyQueue();
      const { service, app, clock, registry } = await setup({
        deadLetterQueue: queue,
        shutdownTimeout: 3_000,
      });
      const logger = (registry as unknown as { logger: Record<string, () => void> }).logger;
      jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
      const error = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
      await expect(service.lookup('a')).rejects.toThrow();
      let closed = false;
      const closing = apps.close(app).then(() => (closed = true));
      await clock.advance(2_999);
      expect(closed).toBe(false);
      await clock.advance(1);
      await closing;
      expect(error).toHaveBeenCalledWith(
        expect.stringMatching(/^1 dead letter\(s\) could not be published before shutdown/),
      );
      expect(registry.stats().deadLetters).toMatchObject({ buffered: 0, dropped: 1 });
    });
  });

  it('writes no letter for calls turned away by shutdown', async () => {
    const { service, app, clock, letters } = await setup({ shutdownTimeout: 1_000 });
    const running = settle(service.exclusive());
    const queued = settle(service.exclusive());
    const closing = apps.close(app);
    await clock.advance(1_000); // the running call outlives the grace period
    await closing;
    expect(queued.error).toMatchObject({ name: 'BulkheadRejectedError', reason: 'shutdown' });
    expect(running.settled).toBe(false);
    expect(await letters()).toEqual([]);
    service.held.resolve();
  });

  it('two applications have separate default queues', async () => {
    const one = await setup();
    const two = await setup();
    expect(one.queue).not.toBe(two.queue);
    await expect(one.service.lookup('x')).rejects.toThrow();
    expect(one.queue.size).toBe(1);
    expect(two.queue.size).toBe(0);
  });

  it('works with forRootAsync, the queue coming from a factory', async () => {
    const queue = new InMemoryDeadLetterQueue(5);
    @Module({ providers: [{ provide: 'QUEUE', useValue: queue }], exports: ['QUEUE'] })
    class QueueModule {}
    const app = await apps.start({
      imports: [
        ResilienceModule.forRootAsync({
          imports: [QueueModule],
          inject: ['QUEUE'],
          useFactory: (q: DeadLetterQueue) => ({ deadLetterQueue: q, policies }),
        }),
      ],
      providers: [Payments, LetterReader],
    });
    expect(app.get(LetterReader).queue).toBe(queue);
    await expect(app.get(Payments).lookup('k')).rejects.toThrow();
    expect(queue.size).toBe(1);
  });

  describe('configuration errors fail bootstrap, naming the key', () => {
    it.each<[string, ResilienceModuleOptions, RegExp]>([
      ['a deadLetterQueue without publish', { deadLetterQueue: {} as never }, /"deadLetterQueue"/],
      [
        'a bad buffer capacity',
        { deadLetterBuffer: { capacity: 0 } },
        /"deadLetterBuffer.capacity"/,
      ],
      [
        'an unknown buffer key',
        { deadLetterBuffer: { size: 1 } as never },
        /"deadLetterBuffer.size"/,
      ],
      [
        'maxDelay below initialDelay',
        { deadLetterBuffer: { initialDelay: 5_000, maxDelay: 1_000 } },
        /"deadLetterBuffer.maxDelay"/,
      ],
      [
        'a bad policy set deadLetter',
        { policies: { broken: { deadLetter: { swallow: 1 } as never } } },
        /"swallow"/,
      ],
    ])('%s', async (_what, options, message) => {
      await expect(apps.start({ imports: [ResilienceModule.forRoot(options)] })).rejects.toThrow(
        message,
      );
    });

    it('bad @DeadLetter options', async () => {
      @Injectable()
      class Misconfigured {
        @DeadLetter({ swallow: 'yes' } as never)
        async call(): Promise<void> {}
      }
      await expect(
        apps.start({ imports: [ResilienceModule.forRoot()], providers: [Misconfigured] }),
      ).rejects.toThrow(/Misconfigured\.call.*"swallow"/);
    });
  });
});
