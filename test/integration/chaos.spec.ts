import { Injectable, type ModuleMetadata } from '@nestjs/common';
import { firstValueFrom, Observable, of, toArray } from 'rxjs';
import {
  Chaos,
  ChaosEvent,
  ChaosPolicy,
  CircuitBreaker,
  CircuitOpenError,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceModuleOptions,
  ResilienceRegistry,
  Retry,
  Timeout,
  TimeoutError,
  UsePolicy,
} from '../../lib';
import { WRAPPED_METHODS } from '../../lib/module/resilience.constants';
import { settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock } from '../utils/fake-clock';

class InjectedError extends Error {
  override name = 'InjectedError';
}
const injected = () => new InjectedError('injected by chaos');
const NO_WAIT = { type: 'fixed', initialDelay: 10, jitter: 'none' } as const;

/** A random source that returns `values` in turn (then repeats the last one). */
const scripted = (...values: number[]) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
};

@Injectable()
class ChaosOnly {
  calls = 0;

  @Chaos({ rate: 1, fault: injected })
  read(id: string): string {
    this.calls++;
    return `real ${id}`;
  }
}

@Injectable()
class Protected {
  calls = 0;

  @Retry({ maxAttempts: 3, backoff: NO_WAIT })
  @CircuitBreaker('downstream', { failureThreshold: 3, resetTimeout: 1_000 })
  @Timeout(100)
  @Chaos('downstream-chaos', { rate: 0.5, fault: injected })
  async fetch(): Promise<string> {
    this.calls++;
    return 'real';
  }

  @Timeout(100)
  @Chaos({ rate: 1, latency: 5_000 })
  async slow(): Promise<string> {
    this.calls++;
    return 'real';
  }

  @Retry({ maxAttempts: 3, backoff: NO_WAIT })
  @Chaos({ rate: 1, result: (id: string) => `substitute ${id}` })
  stream(id: string): Observable<string> {
    this.calls++;
    return of(`real ${id}`);
  }
}

@Injectable()
class FromPolicySet {
  calls = 0;

  @UsePolicy('flaky')
  async load(): Promise<string> {
    this.calls++;
    return 'real';
  }
}

const POLICY_SETS: ResilienceModuleOptions['policies'] = {
  flaky: { retry: { maxAttempts: 2, backoff: NO_WAIT }, chaos: { rate: 1, fault: injected } },
};

describe('@Chaos and the module option chaos', () => {
  const apps = useTestApps();

  const start = async (
    options: ResilienceModuleOptions,
    providers: ModuleMetadata['providers'],
  ) => {
    const app = await apps.start({ imports: [ResilienceModule.forRoot(options)], providers });
    return { app, registry: app.get(ResilienceRegistry) };
  };

  describe('off (the default)', () => {
    it.each<[string, ResilienceModuleOptions]>([
      ['no chaos option', { policies: POLICY_SETS }],
      ['chaos: { enabled: false }', { policies: POLICY_SETS, chaos: { enabled: false } }],
    ])('with %s, @Chaos methods are left as they are and no policy exists', async (_, options) => {
      const { app, registry } = await start(options, [ChaosOnly, Protected, FromPolicySet]);
      const chaosRuns = jest.spyOn(ChaosPolicy.prototype, 'run');
      const only = app.get(ChaosOnly);
      // not wrapped at all: a synchronous method stays synchronous, no table entry
      expect(only.read('a')).toBe('real a');
      expect((only as unknown as Record<symbol, object>)[WRAPPED_METHODS]).not.toHaveProperty(
        'read',
      );
      await expect(app.get(Protected).fetch()).resolves.toBe('real');
      await expect(app.get(FromPolicySet).load()).resolves.toBe('real');
      expect(registry.chaos('downstream-chaos')).toBeUndefined();
      expect(registry.chaos('ChaosOnly.read')).toBeUndefined();
      expect(registry.chaos('flaky')).toBeUndefined();
      expect(registry.stats().chaos).toEqual({});
      expect(registry.stats().retries['Protected.fetch']).toMatchObject({
        calls: 1,
        successWithoutRetry: 1,
      });
      await expect(registry.policy('flaky')!.execute(() => 'real')).resolves.toBe('real');
      expect(chaosRuns).not.toHaveBeenCalled(); // no chaos step on any call path
      chaosRuns.mockRestore();
    });

    it('adds no step to a policy set', async () => {
      const { registry } = await start({ policies: POLICY_SETS }, [FromPolicySet]);
      expect(registry.policy('flaky')!.policies.map((p) => p.kind)).toEqual(['retry']);
    });

    it('still validates @Chaos options at bootstrap', async () => {
      @Injectable()
      class BadRate {
        @Chaos({ rate: 2, fault: injected })
        call(): void {}
      }
      const error = await apps
        .start({ imports: [ResilienceModule.forRoot()], providers: [BadRate] })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error).toMatchObject({ key: 'rate', value: 2, policyName: 'BadRate.call' });
    });

    it('fails bootstrap for one chaos name given two settings, as it would when enabled', async () => {
      @Injectable()
      class TwoSettings {
        @Chaos('shared-chaos', { rate: 0.1, fault: injected })
        a(): void {}

        @Chaos('shared-chaos', { rate: 0.9, fault: injected })
        b(): void {}
      }
      for (const enabled of [true, false]) {
        const error = await apps
          .start({
            imports: [ResilienceModule.forRoot({ chaos: { enabled } })],
            providers: [TwoSettings],
          })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(ResilienceConfigError);
        expect((error as Error).message).toContain('shared-chaos');
      }
    });
  });

  describe('enabled', () => {
    const enabled = (random: () => number, extra: ResilienceModuleOptions = {}) => {
      const clock = new FakeClock();
      return { clock, options: { clock, chaos: { enabled: true, random }, ...extra } };
    };

    it('injected faults are retried, and the method runs when a call gets none', async () => {
      const { clock, options } = enabled(scripted(0.1, 0.2, 0.9));
      const { app, registry } = await start(options, [Protected]);
      const events: ChaosEvent[] = [];
      registry.events$.subscribe((e) => e.type === 'chaos' && events.push(e));
      const service = app.get(Protected);

      const call = settle(service.fetch());
      await clock.advance(20);
      expect(call).toMatchObject({ status: 'resolved', value: 'real' });
      expect(service.calls).toBe(1);
      expect(registry.stats().retries['Protected.fetch']).toMatchObject({
        successWithRetry: 1,
        attempts: 3,
      });
      expect(registry.stats().chaos['downstream-chaos']).toEqual({
        enabled: true,
        rate: 0.5,
        calls: 3,
        injected: 2,
        faults: 2,
        results: 0,
        delayed: 0,
      });
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({ name: 'downstream-chaos', outcome: 'fault', latency: 0 });
    });

    it('the circuit breaker counts injected faults and opens', async () => {
      const { clock, options } = enabled(() => 0);
      const { app, registry } = await start(options, [Protected]);
      const call = settle(app.get(Protected).fetch());
      await clock.advance(20);
      expect(call.error).toBeInstanceOf(InjectedError);
      expect(registry.circuitBreaker('downstream')!.state).toBe('open');
      await expect(app.get(Protected).fetch()).rejects.toBeInstanceOf(CircuitOpenError);
      expect(app.get(Protected).calls).toBe(0);
    });

    it('a timeout cuts injected latency; the method is never called', async () => {
      const { clock, options } = enabled(() => 0);
      const { app, registry } = await start(options, [Protected]);
      const call = settle(app.get(Protected).slow(), clock);
      await clock.advance(100);
      expect(call.error).toBeInstanceOf(TimeoutError);
      expect(call.at).toBe(clock.now());
      await clock.advance(10_000);
      expect(app.get(Protected).calls).toBe(0);
      expect(registry.stats().chaos['Protected.slow']).toMatchObject({ delayed: 1 });
    });

    it('an Observable method emits the substitute result', async () => {
      const { options } = enabled(() => 0);
      const { app } = await start(options, [Protected]);
      const service = app.get(Protected);
      await expect(firstValueFrom(service.stream('x').pipe(toArray()))).resolves.toEqual([
        'substitute x',
      ]);
      expect(service.calls).toBe(0);
    });

    it('is switched at run time through the registry', async () => {
      const { options } = enabled(() => 0.3);
      const { app, registry } = await start(options, [ChaosOnly]);
      const service = app.get(ChaosOnly);
      await expect(service.read('a')).rejects.toBeInstanceOf(InjectedError);
      registry.chaos('ChaosOnly.read')!.disable();
      await expect(service.read('b')).resolves.toBe('real b');
      registry.chaos('ChaosOnly.read')!.enable().setRate(0.2); // 0.3 is not below 0.2
      await expect(service.read('c')).resolves.toBe('real c');
      expect(registry.stats().chaos['ChaosOnly.read']).toMatchObject({
        enabled: true,
        rate: 0.2,
        calls: 3,
        injected: 1,
      });
    });

    it('applies the chaos of a policy set, to @UsePolicy methods and registry.policy()', async () => {
      const { clock, options } = enabled(() => 0, { policies: POLICY_SETS });
      const { app, registry } = await start(options, [FromPolicySet]);
      const service = app.get(FromPolicySet);
      const call = settle(service.load());
      await clock.advance(10);
      expect(call.error).toBeInstanceOf(InjectedError);
      expect(service.calls).toBe(0);
      expect(registry.stats().retries.flaky).toMatchObject({ failedWithRetry: 1 });
      expect(registry.policy('flaky')!.policies.map((p) => p.kind)).toEqual(['retry', 'chaos']);
      registry.chaos('flaky')!.disable();
      await expect(service.load()).resolves.toBe('real');
      await expect(registry.policy('flaky')!.execute(() => 'direct')).resolves.toBe('direct');
    });
  });

  describe('bad module options fail bootstrap', () => {
    const bootstrapError = (options: ResilienceModuleOptions) =>
      apps.start({ imports: [ResilienceModule.forRoot(options)] }).then(
        () => undefined,
        (e: unknown) => e as ResilienceConfigError,
      );

    it.each<[ResilienceModuleOptions, string]>([
      [{ chaos: { enabled: 'yes' as never } }, 'chaos.enabled'],
      [{ chaos: { random: 0.5 as never } }, 'chaos.random'],
      [{ chaos: { enable: true } as never }, 'chaos.enable'],
    ])('%p names %s', async (options, key) => {
      const error = await bootstrapError(options);
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error).toMatchObject({ key });
    });

    it('a policy set with bad chaos options names the set and the key', async () => {
      const error = await bootstrapError({
        policies: { flaky: { chaos: { rate: -1, fault: injected } } },
      });
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error).toMatchObject({ key: 'rate', policyName: 'flaky.chaos' });
    });
  });
});
