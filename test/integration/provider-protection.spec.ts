import { ResilienceModule, ResilienceRegistry, RetryStats } from '../../lib';
import { FlakyClient, UpstreamError } from '../fixtures/flaky-client';
import { rejectionOf, useTestApps } from '../fixtures/testing-app';

const retryStats = (overrides: Partial<RetryStats>): RetryStats => ({
  calls: 0,
  successWithoutRetry: 0,
  successWithRetry: 0,
  failedWithRetry: 0,
  failedWithoutRetry: 0,
  attempts: 0,
  ...overrides,
});

describe('methods of ordinary providers', () => {
  const apps = useTestApps();
  const start = () =>
    apps.start({ imports: [ResilienceModule.forRoot()], providers: [FlakyClient] });

  it('are protected after init: the retry succeeds after two failures', async () => {
    const app = await start();
    const client = app.get(FlakyClient);

    await expect(client.fetch()).resolves.toBe('ok');
    expect(client.calls).toBe(3);
    const registry = app.get(ResilienceRegistry);
    expect(registry.stats().retries['FlakyClient.fetch']).toEqual(
      retryStats({ calls: 1, successWithRetry: 1, attempts: 3 }),
    );

    await expect(client.fetch()).resolves.toBe('ok');
    expect(registry.stats().retries['FlakyClient.fetch']).toEqual(
      retryStats({ calls: 2, successWithoutRetry: 1, successWithRetry: 1, attempts: 4 }),
    );
  });

  it('rethrow the last error unchanged once the retries are used up', async () => {
    const app = await start();
    const client = app.get(FlakyClient);
    client.failures = 10;

    const error = await rejectionOf(client.fetch());
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toBe('upstream failure #3');
    expect(client.calls).toBe(3);
    expect(app.get(ResilienceRegistry).stats().retries['FlakyClient.fetch']).toEqual(
      retryStats({ calls: 1, failedWithRetry: 1, attempts: 3 }),
    );
  });

  it('create their policies at bootstrap, before the first call', async () => {
    const app = await start();
    const registry = app.get(ResilienceRegistry);
    expect(registry.retry('FlakyClient.fetch')).toBeDefined();
    expect(registry.retry('FlakyClient.double')).toBeDefined();
    expect(Object.keys(registry.stats().retries).sort()).toEqual([
      'FlakyClient.double',
      'FlakyClient.fetch',
    ]);
  });

  it('are a plain call on an instance that Nest does not manage', async () => {
    await start(); // the module being active somewhere must not matter
    const client = new FlakyClient();

    const error = await rejectionOf(client.fetch());
    expect(error.message).toBe('upstream failure #1');
    expect(client.calls).toBe(1);

    client.failures = 0;
    expect(client.double(21)).toBe(42); // synchronous: a plain value, not a Promise
  });

  it('are a plain call without the module', async () => {
    const app = await apps.start({ providers: [FlakyClient] });
    const client = app.get(FlakyClient);
    await expect(client.fetch()).rejects.toThrow('upstream failure #1');
    expect(client.calls).toBe(1);
  });

  it('are a plain call before init, and protected once init has run', async () => {
    const app = await apps.compile({
      imports: [ResilienceModule.forRoot()],
      providers: [FlakyClient],
    });
    const client = app.get(FlakyClient);

    await expect(client.fetch()).rejects.toThrow('upstream failure #1');
    expect(client.calls).toBe(1);

    await app.init();
    await expect(client.fetch()).resolves.toBe('ok'); // #2 fails, #3 succeeds
    expect(client.calls).toBe(3);
    expect(app.get(ResilienceRegistry).stats().retries['FlakyClient.fetch']).toEqual(
      retryStats({ calls: 1, successWithRetry: 1, attempts: 2 }),
    );
  });

  it('are protected on instances a factory provider creates', async () => {
    const app = await apps.start({
      imports: [ResilienceModule.forRoot()],
      providers: [{ provide: 'CLIENT', useFactory: () => new FlakyClient() }],
    });
    const client = app.get<FlakyClient>('CLIENT');
    await expect(client.fetch()).resolves.toBe('ok');
    expect(client.calls).toBe(3);
  });

  it('are wrapped once when one instance is registered under two tokens', async () => {
    const app = await apps.start({
      imports: [ResilienceModule.forRoot()],
      providers: [FlakyClient, { provide: 'ALIAS', useExisting: FlakyClient }],
    });
    const client = app.get<FlakyClient>('ALIAS');
    expect(client).toBe(app.get(FlakyClient));
    client.failures = 10;

    await expect(client.fetch()).rejects.toThrow('upstream failure #3');
    expect(client.calls).toBe(3); // not 9: the retry does not wrap itself
    expect(app.get(ResilienceRegistry).stats().retries['FlakyClient.fetch']).toMatchObject({
      calls: 1,
      attempts: 3,
    });
  });
});
