import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import {
  BulkheadRejectedError,
  CircuitBreakerPolicy,
  ResilienceModule,
  ResilienceRegistry,
  RetryPolicy,
  wrap,
} from '../../lib';
import { FakeClock, flush } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import { LifecycleService } from '../fixtures/lifecycle.fixtures';
import {
  deferred,
  Outcome,
  rejectionOf,
  settle,
  sleep,
  useTestApps,
  waitFor,
} from '../fixtures/testing-app';

describe('application shutdown (API §7)', () => {
  const apps = useTestApps();
  const setup = async (options: { shutdownTimeout?: number; clock?: FakeClock } = {}) => {
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({ policies: { set: { retry: { maxAttempts: 1 } } }, ...options }),
      ],
      providers: [LifecycleService],
    });
    return { app, registry: app.get(ResilienceRegistry), service: app.get(LifecycleService) };
  };

  type App = Awaited<ReturnType<typeof setup>>;
  /** How close() and the call that holds it open stand. */
  type Shutdown = { closing: Outcome<void>; inFlight: Outcome<string> };

  /**
   * Starts the call `hold` returns (it ends when `held` resolves), then `app.close()`, and
   * runs `during` once the registry is shutting down, while that call keeps close() waiting.
   * Then lets the call finish with 'finished', and checks that close() completed after it.
   */
  const duringShutdown = async (
    { app, registry }: App,
    hold: (held: Promise<string>) => Promise<string>,
    during: (shutdown: Shutdown) => Promise<void>,
  ) => {
    const held = deferred<string>();
    const inFlight = settle(hold(held.promise));
    const closing = settle(apps.close(app));
    try {
      await waitFor(() => registry.isShuttingDown, 1000);
      await during({ closing, inFlight });
    } finally {
      held.resolve('finished');
    }
    await waitFor(() => closing.settled, 1000);
    expect(closing.error).toBeUndefined();
    expect(inFlight.value).toBe('finished');
  };

  /** Checks that close() is still waiting, and so is the call in flight. */
  const expectStillWaiting = async ({ closing, inFlight }: Shutdown) => {
    await sleep(50);
    expect(closing.settled).toBe(false);
    expect(inFlight.settled).toBe(false);
  };

  /** Closes `app` and checks that close() gave up on `hung` after about shutdownTimeout (150). */
  const expectCloseToGiveUpOn = async (app: App['app'], hung: Outcome<string>) => {
    const started = Date.now();
    await apps.close(app);
    const elapsed = Date.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1500);
    expect(hung.settled).toBe(false);
  };

  /** Work that counts its calls in `fn.calls`, to show that shutdown rejected a call before it ran. */
  const counted = () => {
    const fn = async () => {
      fn.calls++;
      return 'ran';
    };
    fn.calls = 0;
    return fn;
  };

  it('rejects new calls at once with BulkheadRejectedError(shutdown), and waits for the call in flight', async () => {
    const ctx = await setup({ shutdownTimeout: 5000 });
    const { registry, service } = ctx;
    const hold = (held: Promise<string>) => {
      service.gate = held;
      const call = service.work();
      expect(registry.inFlightCalls).toBe(1);
      return call;
    };

    await duringShutdown(ctx, hold, async (shutdown) => {
      const error = await rejectionOf(service.work());
      expect(error).toBeInstanceOf(BulkheadRejectedError);
      expect(error.reason).toBe('shutdown');
      expect(error.policyName).toBe('LifecycleService.work');
      const streamError = await rejectionOf(lastValueFrom(service.stream()));
      expect(streamError).toBeInstanceOf(BulkheadRejectedError);
      expect(streamError.reason).toBe('shutdown');
      const setError = await rejectionOf(registry.policy('set')!.execute(async () => 'x'));
      expect(setError).toBeInstanceOf(BulkheadRejectedError);
      expect(setError.reason).toBe('shutdown');
      expect(service.calls).toBe(1); // rejected before reaching the methods

      await expectStillWaiting(shutdown); // close() waits for the call in flight
    });

    const afterClose = await rejectionOf(service.work());
    expect(afterClose).toBeInstanceOf(BulkheadRejectedError);
    expect(afterClose.reason).toBe('shutdown');
  });

  it.each([
    ['@Timeout', 'timed', 'timeouts'],
    ['@Bulkhead', 'narrow', 'bulkheads'],
    ['@RateLimit', 'limited', 'rateLimiters'],
  ] as const)(
    'rejects a new call through a method protected only by %s at once with reason shutdown',
    async (_decorator, method, kind) => {
      const clock = new FakeClock(); // no time passes: the rejection cannot come from a timer
      const ctx = await setup({ clock, shutdownTimeout: 5000 });
      const { registry, service } = ctx;
      const name = `LifecycleService.${method}`;
      const call = (): Promise<string> =>
        method === 'limited' ? service.limited() : service[method](Promise.resolve('ran'));
      const before = registry.stats()[kind][name];
      expect(before).toBeDefined();

      await duringShutdown(
        ctx,
        (held) => {
          service.gate = held;
          return service.work(); // keeps close() waiting
        },
        async () => {
          const outcome = settle(call(), clock);
          await flush(); // one turn, no clock advance
          expect(outcome.status).toBe('rejected');
          const error = outcome.error as BulkheadRejectedError;
          expect(error).toBeInstanceOf(BulkheadRejectedError);
          expect(error.reason).toBe('shutdown');
          expect(error.policyName).toBe(name);
          expect(outcome.at).toBe(clock.now());
          expect(service.singlePolicyCalls).toBe(0); // the method never ran
          expect(registry.stats()[kind][name]).toEqual(before); // nor reached its policy
        },
      );
    },
  );

  it('rejects registry handle calls at once with BulkheadRejectedError(shutdown), without calling fn', async () => {
    const ctx = await setup({ shutdownTimeout: 5000 });
    const breaker = ctx.registry.circuitBreaker('LifecycleService.breaker')!;
    const retry = ctx.registry.retry('LifecycleService.work')!;
    expect(breaker).toBeDefined();
    expect(retry).toBeDefined();

    // the held retry call keeps shutdown waiting
    await duringShutdown(
      ctx,
      (held) => retry.execute(() => held),
      async () => {
        const fn = counted();

        const breakerError = await rejectionOf(breaker.execute(fn));
        expect(breakerError).toBeInstanceOf(BulkheadRejectedError);
        expect(breakerError.reason).toBe('shutdown');
        expect(breakerError.policyName).toBe('LifecycleService.breaker');
        const retryError = await rejectionOf(retry.execute(fn));
        expect(retryError).toBeInstanceOf(BulkheadRejectedError);
        expect(retryError.reason).toBe('shutdown');
        expect(retryError.policyName).toBe('LifecycleService.work');
        expect(fn.calls).toBe(0);
        expect(breaker.stats()).toMatchObject({ totalCalls: 0 }); // never reached the breaker

        // a policy made by hand belongs to no application: shutdown does not concern it
        const standalone = new CircuitBreakerPolicy('standalone', { failureThreshold: 1 });
        expect(standalone.gate).toBeUndefined();
        await expect(standalone.execute(fn)).resolves.toBe('ran');
        expect(fn.calls).toBe(1);
      },
    );
  });

  it('rejects wrap() of registry handles at once with BulkheadRejectedError(shutdown), without calling fn', async () => {
    const ctx = await setup({ shutdownTimeout: 5000 });
    const breaker = ctx.registry.circuitBreaker('LifecycleService.breaker')!;
    const retry = ctx.registry.retry('LifecycleService.work')!;

    await duringShutdown(
      ctx,
      (held) => retry.execute(() => held),
      async () => {
        const fn = counted();

        const error = await rejectionOf(wrap(retry, breaker).execute(fn));
        expect(error).toBeInstanceOf(BulkheadRejectedError);
        expect(error.reason).toBe('shutdown');
        expect(error.policyName).toBe('LifecycleService.work+LifecycleService.breaker');
        expect(fn.calls).toBe(0);
        expect(breaker.stats()).toMatchObject({ totalCalls: 0 }); // never reached the breaker

        // policies made by hand belong to no application: wrapping them is not gated
        const standalone = wrap(
          new RetryPolicy('standalone-retry', { maxAttempts: 1 }),
          new CircuitBreakerPolicy('standalone-breaker', { failureThreshold: 1 }),
        );
        await expect(standalone.execute(fn)).resolves.toBe('ran');
        expect(fn.calls).toBe(1);
      },
    );
  });

  it.each([
    [
      'a registry handle call',
      (registry: ResilienceRegistry, held: Promise<string>) =>
        registry.circuitBreaker('LifecycleService.breaker')!.execute(() => held),
    ],
    [
      'a wrap() call of registry handles',
      (registry: ResilienceRegistry, held: Promise<string>) =>
        wrap(
          registry.retry('LifecycleService.work')!,
          registry.circuitBreaker('LifecycleService.breaker')!,
        ).execute(() => held),
    ],
  ])('waits for %s that was in flight when close() began', async (_kind, call) => {
    const ctx = await setup({ shutdownTimeout: 5000 });
    const { registry } = ctx;
    const hold = (held: Promise<string>) => {
      const inFlight = call(registry, held);
      expect(registry.inFlightCalls).toBe(1);
      return inFlight;
    };

    await duringShutdown(ctx, hold, expectStillWaiting); // close() waits for the call
    expect(registry.inFlightCalls).toBe(0);
  });

  it('stops waiting for a hanging registry handle call after shutdownTimeout', async () => {
    const { app, registry } = await setup({ shutdownTimeout: 150 });
    const hung = settle(
      registry.retry('LifecycleService.work')!.execute(() => new Promise<string>(() => undefined)),
    );
    expect(registry.inFlightCalls).toBe(1);

    await expectCloseToGiveUpOn(app, hung);
  });

  it('lets a call in flight finish its retries during the grace period', async () => {
    const clock = new FakeClock();
    const { app, registry, service } = await setup({ clock, shutdownTimeout: 5000 });
    const call = settle(service.retryOnce(), clock);
    await clock.advance(0);
    expect(service.calls).toBe(1); // the first attempt has failed; the retry waits 60ms

    const started = clock.now();
    const closing = settle(apps.close(app), clock);
    await waitFor(() => registry.isShuttingDown, 1000);
    await clock.advance(59);
    // close() waits for the retry, which is still in its backoff
    expect(closing.settled).toBe(false);
    expect(call.settled).toBe(false);
    expect(service.calls).toBe(1);

    await clock.advance(1); // the backoff ends: the second attempt succeeds
    await waitFor(() => closing.settled, 1000);
    expect(call.value).toBe('recovered');
    expect(call.at).toBe(started + 60);
    expect(service.calls).toBe(2);
    expect(closing.error).toBeUndefined();
    expect(closing.at).toBe(started + 60); // close() ended with the call, long before 5000ms
  });

  it('waits 10000ms (the default shutdownTimeout) for a hanging call, and not a millisecond less', async () => {
    const clock = new FakeClock();
    const { app, registry, service } = await setup({ clock }); // no shutdownTimeout given
    const hung = settle(service.narrow(new Promise<string>(() => undefined)));
    expect(registry.inFlightCalls).toBe(1);

    const started = clock.now();
    const closing = settle(apps.close(app), clock);
    await waitFor(() => registry.isShuttingDown, 1000);
    await clock.advance(9999);
    expect(closing.settled).toBe(false);

    await clock.advance(1);
    await waitFor(() => closing.settled, 1000);
    expect(closing.error).toBeUndefined();
    expect(closing.at).toBe(started + 10_000);
    expect(hung.settled).toBe(false); // given up on, not failed
    expect(registry.scheduler.size).toBe(0);
  });

  it('returns after about shutdownTimeout when a call hangs', async () => {
    const { app, service } = await setup({ shutdownTimeout: 150 });
    const hung = settle(service.narrow(new Promise<string>(() => undefined)));

    await expectCloseToGiveUpOn(app, hung);
  });

  it('clears every timer the module owns and fails the calls that were waiting', async () => {
    const clock = new FakeClock();
    const { app, registry, service } = await setup({ clock, shutdownTimeout: 100 });

    await expect(service.breaker()).rejects.toThrow('down'); // open: a half-open timer
    const backoff = settle(service.backoff()); // waiting 30s between attempts
    const gate = new Promise<string>(() => undefined);
    service.narrow(gate).catch(() => undefined); // takes the only slot, forever
    const queued = settle(service.narrow(gate)); // queue timer
    await service.limited();
    const limited = settle(service.limited()); // waiting for a permit
    service.timed(gate).catch(() => undefined); // timeout timer
    await clock.advance(0);
    expect(registry.scheduler.size).toBeGreaterThanOrEqual(5);

    const closing = apps.close(app);
    await clock.advance(100); // the grace period runs on the module's clock
    await closing;

    expect(registry.scheduler.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(backoff.error).toBeInstanceOf(UpstreamError); // the last error, unchanged
    expect(queued.error).toBeInstanceOf(BulkheadRejectedError);
    expect((queued.error as BulkheadRejectedError).reason).toBe('shutdown');
    expect(limited.error).toBeInstanceOf(BulkheadRejectedError);
    expect((limited.error as BulkheadRejectedError).reason).toBe('shutdown');
  });

  /** Runs a fixture script of test/fixtures in a Node child process (through ts-node). */
  const spawnFixture = (file: string) =>
    spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', fixture(file)], {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const fixture = (file: string) => join(__dirname, '..', 'fixtures', file);

  it('lets the process exit by itself after app.close()', async () => {
    const started = Date.now();
    const child = spawnFixture('shutdown-app.ts');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      const elapsed = Date.now() - started;
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const report = JSON.parse(stdout.trim().split('\n').pop()!);
      expect(report).toMatchObject({
        breakerWasOpen: true,
        timersBeforeClose: expect.any(Number),
        timersAfterClose: 0,
        backoff: 'UpstreamError',
        queued: 'shutdown',
      });
      expect(report.timersBeforeClose).toBeGreaterThanOrEqual(3);
      // startup (ts-node) plus close(); a leaked 30s or one-minute timer would keep it alive far longer
      expect(elapsed).toBeLessThan(15_000);
      expect(report.closeMs).toBeLessThan(2_000);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('on SIGTERM with enableShutdownHooks(), rejects new calls, lets the call in flight finish, then lets Nest end the process', async () => {
    const child = spawnFixture('signal-shutdown-app.ts');
    let stdout = '';
    let stderr = '';
    let signalledAt: number | undefined;
    const lines = () =>
      stdout
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line));
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (signalledAt === undefined && lines().some((line) => line.event === 'ready')) {
        signalledAt = Date.now();
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    try {
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve) => child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      const sinceSignal = Date.now() - signalledAt!;

      // Nest's shutdown hook runs the app's shutdown, removes its listener and sends the
      // same signal again (no useProcessExit): the default action then ends the process
      expect({ ...exit, stderr }).toEqual({ code: null, signal: 'SIGTERM', stderr: '' });
      expect(signalledAt).toBeDefined();
      const events = lines();
      expect(events.map((line) => line.event)).toEqual([
        'ready',
        'shutting-down',
        'during-shutdown',
        'in-flight',
        'backoff',
      ]);
      const [ready, shuttingDown, during, inFlight, backoff] = events;
      expect(ready.inFlight).toBe(2); // the call in flight and the retry in its backoff
      expect(shuttingDown.inFlight).toBe(2);
      // the new call, made while shutdown waited for the call in flight
      expect(during).toMatchObject({
        outcome: 'rejected',
        error: 'BulkheadRejectedError',
        reason: 'shutdown',
      });
      // the call in flight was let finish
      expect(inFlight).toMatchObject({ outcome: 'resolved', value: 'finished' });
      // the retry could not finish its 30s backoff: after the grace period (1000ms) its
      // wait was cleared and it failed with its last error
      expect(backoff).toMatchObject({ outcome: 'rejected', error: 'UpstreamError' });
      expect(backoff.ms - inFlight.ms).toBeGreaterThanOrEqual(500);
      // by itself and promptly: the grace period plus a little
      expect(sinceSignal).toBeGreaterThanOrEqual(900);
      expect(sinceSignal).toBeLessThan(5_000);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  }, 30_000);
});
