import { ContextIdFactory } from '@nestjs/core';
import type { TestingModule } from '@nestjs/testing';
import { CircuitOpenError, ResilienceModule, ResilienceRegistry } from '../../lib';
import {
  ASYNC_FACTORY_CLIENT,
  asyncFactoryClientProvider,
  FACTORY_CLIENT,
  factoryClientProvider,
  FactoryMadeClient,
  FirstConsumer,
  ForwardRefScopedClient,
  ImplicitlyScopedService,
  RequestScopedClient,
  SecondConsumer,
  TRANSIENT_FACTORY_CLIENT,
  TransientClient,
  TransientFactoryConsumer,
  transientFactoryClientProvider,
  UpstreamConfig,
} from '../fixtures/scoped.fixtures';
import { useTestApps } from '../fixtures/testing-app';

describe('request-scoped and transient providers', () => {
  const apps = useTestApps();

  describe('Scope.REQUEST', () => {
    const setup = async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [RequestScopedClient, ImplicitlyScopedService],
      });
      const resolve = <T>(cls: new (...args: any[]) => T) =>
        app.resolve(cls, ContextIdFactory.create());
      return { app, resolve, registry: app.get(ResilienceRegistry) };
    };

    it('protects the methods of each request instance', async () => {
      const { resolve, registry } = await setup();
      const client = await resolve(RequestScopedClient);
      expect(client).toBeInstanceOf(RequestScopedClient);

      await expect(client.flaky()).resolves.toBe(`instance ${client.id}`);
      expect(client.calls).toBe(3);
      expect(registry.stats().retries['RequestScopedClient.flaky']).toMatchObject({
        calls: 1,
        successWithRetry: 1,
      });
    });

    it('lets two request instances share one breaker by name', async () => {
      const { resolve, registry } = await setup();
      const a = await resolve(RequestScopedClient);
      const b = await resolve(RequestScopedClient);
      expect(a).not.toBe(b);

      await expect(a.call()).rejects.toThrow(`instance ${a.id} failed`);
      await expect(a.call()).rejects.toThrow(`instance ${a.id} failed`);

      b.fail = false;
      await expect(b.call()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(b.calls).toBe(0);
      expect(registry.circuitBreaker('scoped-upstream')?.state).toBe('open');
    });

    it('creates the policies once, not per request', async () => {
      const { resolve, registry } = await setup();
      for (let i = 0; i < 3; i++) {
        const client = await resolve(RequestScopedClient);
        client.fail = false;
        await client.call();
      }
      const { circuitBreakers, retries } = registry.stats();
      expect(Object.keys(circuitBreakers)).toEqual(['scoped-upstream']);
      expect(circuitBreakers['scoped-upstream']).toMatchObject({
        successfulCalls: 3,
        totalCalls: 3,
      });
      expect(Object.keys(retries).sort()).toEqual([
        'ImplicitlyScopedService.work',
        'RequestScopedClient.flaky',
      ]);
    });

    it('protects a provider that is request-scoped through its dependency', async () => {
      const { resolve } = await setup();
      const service = await resolve(ImplicitlyScopedService);
      expect(service.client).toBeInstanceOf(RequestScopedClient);
      await expect(service.work()).resolves.toBe('done');
      expect(service.calls).toBe(2);
    });

    it('protects a request-scoped provider that injects through forwardRef()', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [ForwardRefScopedClient, FirstConsumer, TransientClient],
      });
      const client = await app.resolve(ForwardRefScopedClient, ContextIdFactory.create());
      expect(client.consumer).toBeInstanceOf(FirstConsumer);
      await expect(client.flaky()).resolves.toBe('done');
      expect(client.calls).toBe(3);
    });

    it('leaves request instances made by hand unprotected', async () => {
      await setup();
      const client = new RequestScopedClient();
      await expect(client.flaky()).rejects.toThrow('not yet');
      expect(client.calls).toBe(1);
    });
  });

  describe('Scope.REQUEST factory providers', () => {
    const setup = async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [
          UpstreamConfig,
          RequestScopedClient,
          factoryClientProvider,
          asyncFactoryClientProvider,
        ],
      });
      const resolve = (token: string) =>
        app.resolve<FactoryMadeClient>(token, ContextIdFactory.create());
      return { app, resolve, registry: app.get(ResilienceRegistry) };
    };

    it.each([
      ['a factory', FACTORY_CLIENT],
      ['an async factory', ASYNC_FACTORY_CLIENT],
    ])('protects the methods of what %s returns', async (_kind, token) => {
      const { resolve, registry } = await setup();
      const client = await resolve(token);
      expect(client).toBeInstanceOf(FactoryMadeClient);
      expect(client.config).toBeInstanceOf(UpstreamConfig); // the factory got its dependency
      await expectFlakyRetried(client, registry);
    });

    it.each([
      ['a factory', FACTORY_CLIENT],
      ['an async factory', ASYNC_FACTORY_CLIENT],
    ])(
      'gives what %s returns a new instance per request, sharing the breaker by name with a class provider',
      async (_kind, token) => {
        const { app, resolve, registry } = await setup();
        const a = await resolve(token);
        const b = await resolve(token);
        expect(a).not.toBe(b);

        await expect(a.call()).rejects.toThrow(`factory instance ${a.id} failed`);
        const classMade = await app.resolve(RequestScopedClient, ContextIdFactory.create());
        await expect(classMade.call()).rejects.toThrow(`instance ${classMade.id} failed`);
        expect(registry.circuitBreaker('scoped-upstream')?.state).toBe('open');

        b.fail = false;
        await expect(b.call()).rejects.toBeInstanceOf(CircuitOpenError);
        expect(b.calls).toBe(0);
        classMade.fail = false;
        await expect(classMade.call()).rejects.toBeInstanceOf(CircuitOpenError);
        expect(classMade.calls).toBe(1);

        const { circuitBreakers } = registry.stats();
        expect(Object.keys(circuitBreakers)).toEqual(['scoped-upstream']);
        expect(circuitBreakers['scoped-upstream']).toMatchObject({
          failedCalls: 2,
          rejectedCalls: 2,
        });
      },
    );
  });

  describe('Scope.TRANSIENT', () => {
    const setup = () =>
      apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [TransientClient, FirstConsumer, SecondConsumer],
      });

    it('protects every instance, and the instances share one breaker', async () => {
      const app = await setup();
      const first = app.get(FirstConsumer).client;
      const second = app.get(SecondConsumer).client;
      expect(first).not.toBe(second);

      await expect(first.call()).rejects.toThrow(`transient ${first.id} failed`);
      await expect(first.call()).rejects.toThrow(`transient ${first.id} failed`);

      await expect(second.call()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(second.calls).toBe(0);
      const { circuitBreakers } = app.get(ResilienceRegistry).stats();
      expect(Object.keys(circuitBreakers)).toEqual(['TransientClient.call']);
      expect(circuitBreakers['TransientClient.call']).toMatchObject({
        state: 'open',
        failedCalls: 2,
        rejectedCalls: 1,
      });
    });

    it('protects instances resolved later', async () => {
      const app = await setup();
      const resolved = await app.resolve(TransientClient);
      await expect(resolved.call()).rejects.toThrow('failed');
      await expect(resolved.call()).rejects.toThrow('failed');
      await expect(resolved.call()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(resolved.calls).toBe(2);
    });
  });

  describe('Scope.TRANSIENT factory providers', () => {
    const setup = () =>
      apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [UpstreamConfig, transientFactoryClientProvider, TransientFactoryConsumer],
      });

    it.each([
      [
        'made for a singleton consumer at bootstrap',
        async (app: TestingModule) => app.get(TransientFactoryConsumer).client,
      ],
      [
        'resolved later',
        (app: TestingModule) =>
          app.resolve<FactoryMadeClient>(TRANSIENT_FACTORY_CLIENT, ContextIdFactory.create()),
      ],
    ])('protects the methods of what the factory returns, %s', async (_when, get) => {
      const app = await setup();
      const client = await get(app);
      expect(client).toBeInstanceOf(FactoryMadeClient);
      expect(client.config).toBeInstanceOf(UpstreamConfig);
      await expectFlakyRetried(client, app.get(ResilienceRegistry));
    });
  });
});

/** `flaky()` fails twice, then succeeds: it resolves only when its @Retry protects it. */
async function expectFlakyRetried(client: FactoryMadeClient, registry: ResilienceRegistry) {
  await expect(client.flaky()).resolves.toBe(`http://upstream.test via ${client.id}`);
  expect(client.calls).toBe(3);
  expect(registry.stats().retries['FactoryMadeClient.flaky']).toMatchObject({
    calls: 1,
    successWithRetry: 1,
    attempts: 3,
  });
}
