import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import {
  BulkheadRejectedError,
  CircuitBreakerPolicy,
  ResilienceModule,
  ResilienceRegistry,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { UpstreamError } from '../fixtures/flaky-client';
import { LifecycleService } from '../fixtures/lifecycle.fixtures';
import {
  deferred,
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

  it('rejects new calls at once with BulkheadRejectedError(shutdown), and waits for the call in flight', async () => {
    const { app, registry, service } = await setup({ shutdownTimeout: 5000 });
    const gate = deferred<string>();
    service.gate = gate.promise;
    const inFlight = settle(service.work());
    expect(registry.inFlightCalls).toBe(1);

    const closing = settle(apps.close(app));
    try {
      await waitFor(() => registry.isShuttingDown, 1000);

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

      await sleep(50);
      expect(closing.settled).toBe(false); // close() waits for the call in flight
      expect(inFlight.settled).toBe(false);
    } finally {
      gate.resolve('finished');
    }
    await waitFor(() => closing.settled, 1000);
    expect(closing.error).toBeUndefined();
    expect(inFlight.value).toBe('finished');

    const afterClose = await rejectionOf(service.work());
    expect(afterClose).toBeInstanceOf(BulkheadRejectedError);
    expect(afterClose.reason).toBe('shutdown');
  });

  it('rejects registry handle calls at once with BulkheadRejectedError(shutdown), without calling fn', async () => {
    const { app, registry } = await setup({ shutdownTimeout: 5000 });
    const breaker = registry.circuitBreaker('LifecycleService.breaker')!;
    const retry = registry.retry('LifecycleService.work')!;
    expect(breaker).toBeDefined();
    expect(retry).toBeDefined();
    const held = deferred<string>();
    const inFlight = settle(retry.execute(() => held.promise)); // keeps shutdown waiting

    const closing = settle(apps.close(app));
    try {
      await waitFor(() => registry.isShuttingDown, 1000);
      let called = 0;
      const fn = async () => {
        called++;
        return 'ran';
      };

      const breakerError = await rejectionOf(breaker.execute(fn));
      expect(breakerError).toBeInstanceOf(BulkheadRejectedError);
      expect(breakerError.reason).toBe('shutdown');
      expect(breakerError.policyName).toBe('LifecycleService.breaker');
      const retryError = await rejectionOf(retry.execute(fn));
      expect(retryError).toBeInstanceOf(BulkheadRejectedError);
      expect(retryError.reason).toBe('shutdown');
      expect(retryError.policyName).toBe('LifecycleService.work');
      expect(called).toBe(0);
      expect(breaker.stats()).toMatchObject({ totalCalls: 0 }); // never reached the breaker

      // a policy made by hand belongs to no application: shutdown does not concern it
      const standalone = new CircuitBreakerPolicy('standalone', { failureThreshold: 1 });
      expect(standalone.gate).toBeUndefined();
      await expect(standalone.execute(fn)).resolves.toBe('ran');
      expect(called).toBe(1);
    } finally {
      held.resolve('held');
    }
    await waitFor(() => closing.settled, 1000);
    expect(closing.error).toBeUndefined();
    expect(inFlight.value).toBe('held');
  });

  it('waits for a registry handle call that was in flight when close() began', async () => {
    const { app, registry } = await setup({ shutdownTimeout: 5000 });
    const held = deferred<string>();
    const inFlight = settle(
      registry.circuitBreaker('LifecycleService.breaker')!.execute(() => held.promise),
    );
    expect(registry.inFlightCalls).toBe(1);

    const closing = settle(apps.close(app));
    try {
      await waitFor(() => registry.isShuttingDown, 1000);
      await sleep(50);
      expect(closing.settled).toBe(false); // close() waits for the handle call
      expect(inFlight.settled).toBe(false);
    } finally {
      held.resolve('finished');
    }
    await waitFor(() => closing.settled, 1000);
    expect(closing.error).toBeUndefined();
    expect(inFlight.value).toBe('finished');
    expect(registry.inFlightCalls).toBe(0);
  });

  it('stops waiting for a hanging registry handle call after shutdownTimeout', async () => {
    const { app, registry } = await setup({ shutdownTimeout: 150 });
    const hung = settle(
      registry.retry('LifecycleService.work')!.execute(() => new Promise<string>(() => undefined)),
    );
    expect(registry.inFlightCalls).toBe(1);

    const started = Date.now();
    await apps.close(app);
    const elapsed = Date.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1500);
    expect(hung.settled).toBe(false);
  });

  it('lets a call in flight finish its retries during the grace period', async () => {
    const { app, service } = await setup({ shutdownTimeout: 5000 });
    const call = settle(service.retryOnce());
    await sleep(5); // the first attempt has failed; the retry waits 60ms
    const started = Date.now();
    await apps.close(app);
    expect(call.value).toBe('recovered');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('returns after about shutdownTimeout when a call hangs', async () => {
    const { app, service } = await setup({ shutdownTimeout: 150 });
    const hung = settle(service.narrow(new Promise<string>(() => undefined)));

    const started = Date.now();
    await apps.close(app);
    const elapsed = Date.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1500);
    expect(hung.settled).toBe(false);
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

    await apps.close(app);

    expect(registry.scheduler.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(backoff.error).toBeInstanceOf(UpstreamError); // the last error, unchanged
    expect(queued.error).toBeInstanceOf(BulkheadRejectedError);
    expect((queued.error as BulkheadRejectedError).reason).toBe('shutdown');
    expect(limited.error).toBeInstanceOf(BulkheadRejectedError);
    expect((limited.error as BulkheadRejectedError).reason).toBe('shutdown');
  });

  it('lets the process exit by itself after app.close()', async () => {
    const script = join(__dirname, '..', 'fixtures', 'shutdown-app.ts');
    const started = Date.now();
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script], {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
});
