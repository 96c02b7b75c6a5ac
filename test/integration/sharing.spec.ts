import { Injectable, type Provider } from '@nestjs/common';
import { ContextIdFactory } from '@nestjs/core';
import {
  Bulkhead,
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimit,
  RateLimitedError,
  ResilienceConfigError,
  ResilienceEvent,
  ResilienceModule,
  ResilienceRegistry,
} from '../../lib';
import { FakeClock } from '../utils/fake-clock';
import { RequestScopedClient } from '../fixtures/scoped.fixtures';
import {
  BareSharedClient,
  ClassifyingClient,
  ConfiguredSharedClient,
  ConflictingPaymentsClient,
  InventoryClient,
  OtherFunctionClassifyingClient,
  OtherThresholdSharedClient,
  PaymentsClient,
  PaymentsReporter,
  SameFunctionClassifyingClient,
} from '../fixtures/shared-breaker.fixtures';
import { deferred, rejectionOf, settle, useTestApps } from '../fixtures/testing-app';

/** One slot, no queue; one permit a minute. */
@Injectable()
class NarrowClient {
  calls = 0;

  @Bulkhead({ maxConcurrent: 1, maxQueue: 0 })
  async narrow(gate: Promise<string>): Promise<string> {
    this.calls++;
    return gate;
  }

  @RateLimit({ limit: 1, interval: 60_000 })
  async limited(): Promise<string> {
    this.calls++;
    return 'permitted';
  }
}

describe('sharing policies', () => {
  const apps = useTestApps();

  /** The error that `init()` fails with, for an application of `providers`. */
  const initError = async (providers: Provider[]) => {
    const app = await apps.compile({ imports: [ResilienceModule.forRoot()], providers });
    return rejectionOf(app.init());
  };

  describe('by name within one application', () => {
    it('two methods giving the same breaker name share the breaker', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [PaymentsClient, PaymentsReporter],
      });
      const client = app.get(PaymentsClient);
      const reporter = app.get(PaymentsReporter);

      await expect(client.charge()).rejects.toThrow('charge failed');
      await expect(client.refund()).rejects.toThrow('refund failed'); // second failure: opens

      client.fail = false;
      await expect(client.charge()).rejects.toBeInstanceOf(CircuitOpenError);
      await expect(reporter.report()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(client.calls).toBe(2);
      expect(reporter.calls).toBe(0);

      const { circuitBreakers } = app.get(ResilienceRegistry).stats();
      expect(Object.keys(circuitBreakers)).toEqual(['payments']);
      expect(circuitBreakers.payments).toMatchObject({
        state: 'open',
        failedCalls: 2,
        rejectedCalls: 2,
        totalCalls: 4,
      });
    });

    it('the same name with conflicting options fails init with ResilienceConfigError', async () => {
      const error = await initError([PaymentsClient, ConflictingPaymentsClient]);
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error.message).toContain('"payments"');
      expect(error.message).toContain('failureThreshold');
      expect(error.message).toContain('7');
    });
  });

  describe('declarations of one name', () => {
    it.each([
      ['the bare declaration first', [BareSharedClient, ConfiguredSharedClient]],
      ['the bare declaration last', [ConfiguredSharedClient, BareSharedClient]],
    ])(
      'a bare @CircuitBreaker(name) takes the options declared elsewhere (%s)',
      async (_order, providers) => {
        const app = await apps.start({ imports: [ResilienceModule.forRoot()], providers });
        const bare = app.get(BareSharedClient);
        const configured = app.get(ConfiguredSharedClient);
        const registry = app.get(ResilienceRegistry);

        await expect(bare.call()).rejects.toThrow('bare failed'); // one failure opens it
        expect(registry.circuitBreaker('shared')?.state).toBe('open');
        await expect(bare.call()).rejects.toBeInstanceOf(CircuitOpenError);
        await expect(configured.call()).rejects.toBeInstanceOf(CircuitOpenError);
        expect(bare.calls).toBe(1);
        expect(configured.calls).toBe(0);
        expect(Object.keys(registry.stats().circuitBreakers)).toEqual(['shared']);
      },
    );

    it.each([
      ['one order', [ConfiguredSharedClient, OtherThresholdSharedClient]],
      ['the other order', [OtherThresholdSharedClient, ConfiguredSharedClient]],
      [
        'with a bare declaration in between',
        [ConfiguredSharedClient, BareSharedClient, OtherThresholdSharedClient],
      ],
      [
        'with a bare declaration first',
        [BareSharedClient, OtherThresholdSharedClient, ConfiguredSharedClient],
      ],
    ])(
      'two different option sets for one name fail init, naming the policy (%s)',
      async (_order, providers) => {
        const error = await initError(providers);
        expect(error).toBeInstanceOf(ResilienceConfigError);
        expect(error.policyName).toBe('shared');
        expect(error.message).toContain('"shared"');
        expect(error.message).toContain('failureThreshold');
      },
    );

    it('two different isFailure functions for one name fail init', async () => {
      const error = await initError([ClassifyingClient, OtherFunctionClassifyingClient]);
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error.policyName).toBe('classified');
      expect(error.message).toContain('"classified"');
      expect(error.message).toContain('isFailure');
    });

    it('one isFailure function shared by reference is the same declaration', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        providers: [ClassifyingClient, SameFunctionClassifyingClient],
      });
      const first = app.get(ClassifyingClient);
      const second = app.get(SameFunctionClassifyingClient);
      await expect(first.call()).rejects.toThrow('classified failed');
      await expect(second.call()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(second.calls).toBe(0);
    });
  });

  describe('between two applications in one process', () => {
    const startTwo = async () => {
      const metadata = {
        imports: [ResilienceModule.forRoot()],
        providers: [InventoryClient, PaymentsClient, RequestScopedClient],
      };
      const a = await apps.start(metadata);
      const b = await apps.start(metadata);
      return { a, b };
    };

    it('share no breaker: tripping it in app A leaves app B closed', async () => {
      const { a, b } = await startTwo();
      await expect(a.get(InventoryClient).reserve(true)).rejects.toThrow('reserve failed');
      await expect(a.get(InventoryClient).reserve(false)).rejects.toBeInstanceOf(CircuitOpenError);

      await expect(b.get(InventoryClient).reserve(false)).resolves.toBe('reserved');

      const registryA = a.get(ResilienceRegistry);
      const registryB = b.get(ResilienceRegistry);
      expect(registryA).not.toBe(registryB);
      expect(registryA.circuitBreaker('InventoryClient.reserve')?.state).toBe('open');
      expect(registryB.circuitBreaker('InventoryClient.reserve')?.state).toBe('closed');
    });

    it('keep separate stats and events', async () => {
      const { a, b } = await startTwo();
      const eventsA: ResilienceEvent[] = [];
      const eventsB: ResilienceEvent[] = [];
      a.get(ResilienceRegistry).events$.subscribe((e) => eventsA.push(e));
      b.get(ResilienceRegistry).events$.subscribe((e) => eventsB.push(e));

      await expect(a.get(PaymentsClient).charge()).rejects.toThrow();
      await expect(a.get(PaymentsClient).charge()).rejects.toThrow();
      await expect(b.get(PaymentsClient).refund()).rejects.toThrow();

      const statsA = a.get(ResilienceRegistry).stats().circuitBreakers.payments;
      const statsB = b.get(ResilienceRegistry).stats().circuitBreakers.payments;
      expect(statsA).toMatchObject({ state: 'open', failedCalls: 2 });
      expect(statsB).toMatchObject({ state: 'closed', failedCalls: 1, failureCount: 1 });
      expect(eventsA.map((e) => e.type)).toEqual(['state-change']);
      expect(eventsB).toEqual([]);
    });

    it('share nothing for request-scoped providers either', async () => {
      const { a, b } = await startTwo();
      const inA = await a.resolve(RequestScopedClient, ContextIdFactory.create());
      await expect(inA.call()).rejects.toThrow();
      await expect(inA.call()).rejects.toThrow();
      await expect(inA.call()).rejects.toBeInstanceOf(CircuitOpenError);

      const inB = await b.resolve(RequestScopedClient, ContextIdFactory.create());
      inB.fail = false;
      await expect(inB.call()).resolves.toBe(inB.id);
      expect(a.get(ResilienceRegistry).circuitBreaker('scoped-upstream')?.state).toBe('open');
      expect(b.get(ResilienceRegistry).circuitBreaker('scoped-upstream')?.state).toBe('closed');
    });

    describe('one object provided with useValue', () => {
      it("to two applications fails the second application's init", async () => {
        const shared = new InventoryClient();
        const metadata = {
          imports: [ResilienceModule.forRoot()],
          providers: [{ provide: InventoryClient, useValue: shared }],
        };
        const a = await apps.start(metadata);
        const b = await apps.compile(metadata);

        const error = await rejectionOf(b.init());
        expect(error).toBeInstanceOf(ResilienceConfigError);
        expect(error.message).toContain('InventoryClient');
        expect(error.message).toMatch(/provided to two (Nest )?applications/);

        // the first application keeps its own protection
        await expect(a.get(InventoryClient).reserve(true)).rejects.toThrow('reserve failed');
        await expect(a.get(InventoryClient).reserve(false)).rejects.toBeInstanceOf(
          CircuitOpenError,
        );
      });

      it('behind two tokens of one application is fine (two useValue tokens)', async () => {
        const shared = new InventoryClient();
        const app = await apps.start({
          imports: [ResilienceModule.forRoot()],
          providers: [
            { provide: 'FIRST', useValue: shared },
            { provide: 'SECOND', useValue: shared },
          ],
        });
        const first = app.get<InventoryClient>('FIRST');
        const second = app.get<InventoryClient>('SECOND');
        expect(first).toBe(second);

        await expect(first.reserve(true)).rejects.toThrow('reserve failed');
        await expect(second.reserve(false)).rejects.toBeInstanceOf(CircuitOpenError);
        expect(shared.calls).toBe(1);
        expect(app.get(ResilienceRegistry).circuitBreaker('InventoryClient.reserve')?.state).toBe(
          'open',
        );
      });

      it('behind two tokens of one application is fine (useExisting)', async () => {
        const shared = new InventoryClient();
        const app = await apps.start({
          imports: [ResilienceModule.forRoot()],
          providers: [
            { provide: InventoryClient, useValue: shared },
            { provide: 'ALIAS', useExisting: InventoryClient },
          ],
        });
        const alias = app.get<InventoryClient>('ALIAS');
        expect(alias).toBe(shared);

        await expect(alias.reserve(true)).rejects.toThrow('reserve failed');
        await expect(shared.reserve(false)).rejects.toBeInstanceOf(CircuitOpenError);
        expect(shared.calls).toBe(1);
      });
    });

    describe('queues and permits', () => {
      /** Two applications of the same class, on one FakeClock: time cannot free a slot or a permit. */
      const startTwoNarrow = async () => {
        const clock = new FakeClock();
        const metadata = {
          imports: [ResilienceModule.forRoot({ clock })],
          providers: [NarrowClient],
        };
        const a = await apps.start(metadata);
        const b = await apps.start(metadata);
        return {
          a: a.get(NarrowClient),
          b: b.get(NarrowClient),
          ra: a.get(ResilienceRegistry),
          rb: b.get(ResilienceRegistry),
        };
      };
      const N = 'NarrowClient.narrow';
      const L = 'NarrowClient.limited';

      it('share no bulkhead: with the slot taken in app A, app B still admits a call', async () => {
        const { a, b, ra, rb } = await startTwoNarrow();
        const heldA = deferred<string>();
        const heldB = deferred<string>();
        const inA = a.narrow(heldA.promise); // takes app A's only slot
        const stateA = settle(inA);
        try {
          const full = await rejectionOf(a.narrow(Promise.resolve('no room')));
          expect(full).toBeInstanceOf(BulkheadRejectedError);
          expect(full.reason).toBe('full');

          // app B's bulkhead of the same method is empty: it admits a call at once
          const inB = b.narrow(heldB.promise);
          expect(b.calls).toBe(1);
          expect(ra.stats().bulkheads[N]).toMatchObject({ active: 1, accepted: 1, rejected: 1 });
          expect(rb.stats().bulkheads[N]).toMatchObject({ active: 1, accepted: 1, rejected: 0 });
          // and it is full on its own account only
          const fullB = await rejectionOf(b.narrow(Promise.resolve('no room')));
          expect(fullB).toBeInstanceOf(BulkheadRejectedError);
          expect(fullB.reason).toBe('full');

          heldB.resolve('b');
          await expect(inB).resolves.toBe('b');
          await expect(b.narrow(Promise.resolve('b again'))).resolves.toBe('b again');
          // app B's calls freed nothing in app A
          expect(stateA.settled).toBe(false);
          const stillFull = await rejectionOf(a.narrow(Promise.resolve('no room')));
          expect(stillFull).toBeInstanceOf(BulkheadRejectedError);
          expect(stillFull.reason).toBe('full');
        } finally {
          heldA.resolve('a');
          heldB.resolve('b');
        }
        await expect(inA).resolves.toBe('a');
        await expect(a.narrow(Promise.resolve('a again'))).resolves.toBe('a again');
        expect(a.calls).toBe(2);
        expect(ra.stats().bulkheads[N]).toMatchObject({ accepted: 2, rejected: 2 });
        expect(rb.stats().bulkheads[N]).toMatchObject({ accepted: 2, rejected: 1 });
      });

      it("share no rate limiter: app A's used permit leaves app B's permit free", async () => {
        const { a, b, ra, rb } = await startTwoNarrow();
        await expect(a.limited()).resolves.toBe('permitted');
        const limited = await rejectionOf(a.limited());
        expect(limited).toBeInstanceOf(RateLimitedError);

        await expect(b.limited()).resolves.toBe('permitted');
        await expect(b.limited()).rejects.toBeInstanceOf(RateLimitedError);

        expect(a.calls).toBe(1);
        expect(b.calls).toBe(1);
        expect(ra.stats().rateLimiters[L]).toEqual({ permitted: 1, rejected: 1 });
        expect(rb.stats().rateLimiters[L]).toEqual({ permitted: 1, rejected: 1 });
      });
    });

    it('closing app A leaves app B working', async () => {
      const { a, b } = await startTwo();
      await apps.close(a);
      await expect(b.get(InventoryClient).reserve(false)).resolves.toBe('reserved');
    });
  });
});
