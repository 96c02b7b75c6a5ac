import { Injectable, ModuleMetadata } from '@nestjs/common';
import {
  Bulkhead,
  CircuitBreaker,
  Fallback,
  RateLimit,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceModuleOptions,
  ResilienceRegistry,
  Retry,
  Timeout,
  TimeoutError,
  UsePolicy,
} from '../../lib';
import { rejectionOf, settle, useTestApps } from '../fixtures/testing-app';
import { FakeClock } from '../utils/fake-clock';

@Injectable()
class NegativeResetTimeout {
  @CircuitBreaker({ resetTimeout: -1 })
  async call(): Promise<void> {}
}

@Injectable()
class NaNTimeout {
  @Timeout(NaN)
  async call(): Promise<void> {}
}

@Injectable()
class NegativeBackoff {
  @Retry({ backoff: { initialDelay: -5 } })
  async call(): Promise<void> {}
}

@Injectable()
class FailureRateOutOfRange {
  @CircuitBreaker('rates', { failureRateThreshold: 150 })
  async call(): Promise<void> {}
}

@Injectable()
class ZeroConcurrency {
  @Bulkhead({ maxConcurrent: 0 })
  async call(): Promise<void> {}
}

@Injectable()
class NaNQueueTimeout {
  @Bulkhead({ maxQueue: 1, queueTimeout: NaN })
  async call(): Promise<void> {}
}

@Injectable()
class NegativeInterval {
  @RateLimit({ limit: 1, interval: -1000 })
  async call(): Promise<void> {}
}

/** One millisecond more than a Node timer can wait (2^31 - 1 ms). */
const ABOVE_TIMER_LIMIT = 2_147_483_648;

@Injectable()
class ResetTimeoutAboveTimerLimit {
  @CircuitBreaker({ resetTimeout: ABOVE_TIMER_LIMIT })
  async call(): Promise<void> {}
}

@Injectable()
class QueueTimeoutAboveTimerLimit {
  @Bulkhead({ maxQueue: 1, queueTimeout: ABOVE_TIMER_LIMIT })
  async call(): Promise<void> {}
}

@Injectable()
class IntervalAboveTimerLimit {
  @RateLimit({ limit: 1, interval: ABOVE_TIMER_LIMIT })
  async call(): Promise<void> {}
}

@Injectable()
class MaxWaitAboveTimerLimit {
  @RateLimit({ limit: 1, interval: 1000, maxWait: ABOVE_TIMER_LIMIT })
  async call(): Promise<void> {}
}

@Injectable()
class InitialDelayAboveTimerLimit {
  @Retry({ backoff: { initialDelay: ABOVE_TIMER_LIMIT, maxDelay: ABOVE_TIMER_LIMIT } })
  async call(): Promise<void> {}
}

@Injectable()
class AtTimerLimit {
  @CircuitBreaker({ resetTimeout: 2_147_483_647 })
  @Bulkhead({ maxQueue: 1, queueTimeout: 2_147_483_647 })
  @RateLimit({ limit: 1, interval: 2_147_483_647, maxWait: 2_147_483_647 })
  @Retry({ backoff: { initialDelay: 2_147_483_647, maxDelay: 2_147_483_647 } })
  async call(): Promise<void> {}
}

@Injectable()
class MisspelledRetryKey {
  @Retry({ maxAtempts: 5 } as never)
  async call(): Promise<void> {}
}

@Injectable()
class MisspelledBreakerKey {
  @CircuitBreaker({ resetTimout: 1000 } as never)
  async call(): Promise<void> {}
}

@Injectable()
class MisspelledNestedKey {
  @Retry({ backoff: { intialDelay: 250 } } as never)
  async call(): Promise<void> {}
}

@Injectable()
class MisspelledBulkheadKey {
  @Bulkhead({ maxConcurent: 4 } as never)
  async call(): Promise<void> {}
}

@Injectable()
class UnknownPolicySet {
  @UsePolicy('nope')
  async call(): Promise<void> {}
}

@Injectable()
class MissingFallbackMethod {
  @Fallback('missing')
  async call(): Promise<void> {}
}

@Injectable()
class TwoRetries {
  @Retry({ maxAttempts: 2 })
  @Retry({ maxAttempts: 3 })
  async call(): Promise<void> {}
}

@Injectable()
class InitialDelayAboveDefaultMax {
  @Retry({ backoff: { initialDelay: 1000 } })
  async call(): Promise<void> {}
}

@Injectable()
class Fine {
  @Retry()
  async call(): Promise<void> {}
}

describe('bad configuration fails bootstrap with ResilienceConfigError', () => {
  const apps = useTestApps();

  /** The error that compile() or init() rejected with. */
  const bootstrapError = async (metadata: ModuleMetadata): Promise<ResilienceConfigError> => {
    try {
      const app = await apps.compile(metadata);
      await app.init();
    } catch (error) {
      return error as ResilienceConfigError;
    }
    throw new Error('bootstrap succeeded');
  };
  const withProvider = (provider: new () => unknown, options: ResilienceModuleOptions = {}) =>
    bootstrapError({ imports: [ResilienceModule.forRoot(options)], providers: [provider] });
  const withOptions = (options: ResilienceModuleOptions) =>
    bootstrapError({ imports: [ResilienceModule.forRoot(options)], providers: [Fine] });

  const expectConfigError = (error: unknown, ...fragments: string[]) => {
    expect(error).toBeInstanceOf(ResilienceConfigError);
    const { message } = error as Error;
    for (const fragment of fragments) expect(message).toContain(fragment);
  };

  describe('decorator options', () => {
    it.each<[string, new () => unknown, string[]]>([
      [
        'a negative duration',
        NegativeResetTimeout,
        ['NegativeResetTimeout.call', 'resetTimeout', '-1'],
      ],
      ['a NaN duration', NaNTimeout, ['NaNTimeout.call', 'timeout', 'NaN']],
      [
        'a negative nested duration',
        NegativeBackoff,
        ['NegativeBackoff.call', 'backoff.initialDelay', '-5'],
      ],
      ['a percentage above 100', FailureRateOutOfRange, ['"rates"', 'failureRateThreshold', '150']],
      ['a concurrency of 0', ZeroConcurrency, ['"ZeroConcurrency.call"', '"maxConcurrent" is 0;']],
      ['a NaN queue timeout', NaNQueueTimeout, ['NaNQueueTimeout.call', 'queueTimeout', 'NaN']],
      ['a negative interval', NegativeInterval, ['NegativeInterval.call', 'interval', '-1000']],
      [
        'a resetTimeout above the timer limit',
        ResetTimeoutAboveTimerLimit,
        ['ResetTimeoutAboveTimerLimit.call', '"resetTimeout"', '2147483648'],
      ],
      [
        'a queueTimeout above the timer limit',
        QueueTimeoutAboveTimerLimit,
        ['QueueTimeoutAboveTimerLimit.call', '"queueTimeout"', '2147483648'],
      ],
      [
        'an interval above the timer limit',
        IntervalAboveTimerLimit,
        ['IntervalAboveTimerLimit.call', '"interval"', '2147483648'],
      ],
      [
        'a maxWait above the timer limit',
        MaxWaitAboveTimerLimit,
        ['MaxWaitAboveTimerLimit.call', '"maxWait"', '2147483648'],
      ],
      [
        'a backoff.initialDelay above the timer limit',
        InitialDelayAboveTimerLimit,
        ['InitialDelayAboveTimerLimit.call', '"backoff.initialDelay"', '2147483648'],
      ],
    ])('%s', async (_case, provider, fragments) => {
      expectConfigError(await withProvider(provider), ...fragments);
    });

    it('a concurrency of 0 names the policy, the key and the value in the error fields too', async () => {
      const error = await withProvider(ZeroConcurrency);
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error).toMatchObject({
        policyName: 'ZeroConcurrency.call',
        key: 'maxConcurrent',
        value: 0,
      });
    });

    it('an unknown option key', async () => {
      const error = await withProvider(MisspelledRetryKey);
      expectConfigError(error, 'MisspelledRetryKey.call', 'maxAtempts');
      expect(error).toMatchObject({
        policyName: 'MisspelledRetryKey.call',
        key: 'maxAtempts',
        value: 5,
      });

      const other = await withProvider(MisspelledBreakerKey);
      expectConfigError(other, 'MisspelledBreakerKey.call', 'resetTimout');
      expect(other).toMatchObject({ key: 'resetTimout', value: 1000 });
    });

    it.each<[string, new () => unknown, string[]]>([
      ['@Retry', MisspelledRetryKey, ['MisspelledRetryKey.call', '"maxAtempts"', '5']],
      [
        '@CircuitBreaker',
        MisspelledBreakerKey,
        ['MisspelledBreakerKey.call', '"resetTimout"', '1000'],
      ],
      [
        'a nested @Retry key',
        MisspelledNestedKey,
        ['MisspelledNestedKey.call', '"backoff.intialDelay"', '250'],
      ],
      ['@Bulkhead', MisspelledBulkheadKey, ['MisspelledBulkheadKey.call', '"maxConcurent"', '4']],
    ])(
      'an unknown option key (%s): the message names the policy, the key and the value',
      async (_case, provider, fragments) => {
        expectConfigError(await withProvider(provider), ...fragments);
      },
    );

    it('an unknown @UsePolicy name', async () => {
      const error = await withProvider(UnknownPolicySet, { policies: { payments: {} } });
      expectConfigError(error, '"nope"', 'UnknownPolicySet.call', 'payments');
    });

    it('@Fallback naming a method the class does not have', async () => {
      expectConfigError(
        await withProvider(MissingFallbackMethod),
        'MissingFallbackMethod.call',
        '"missing"',
      );
    });

    it('two decorators of one kind on a method', async () => {
      expectConfigError(await withProvider(TwoRetries), 'TwoRetries.call', 'retry');
    });

    it('options that become invalid once the module defaults are merged under them', async () => {
      const error = await withProvider(InitialDelayAboveDefaultMax, {
        defaults: { retry: { backoff: { maxDelay: 500 } } },
      });
      expectConfigError(error, 'InitialDelayAboveDefaultMax.call', 'maxDelay', '500', '1000');
    });

    it('decorator arguments of the wrong type, when the class is defined', () => {
      const define = () => {
        class WrongArgument {
          @Retry(5 as never)
          async call(): Promise<void> {}
        }
        return WrongArgument;
      };
      expect(define).toThrow(ResilienceConfigError);
    });
  });

  describe('decorating what cannot be protected, when the class is defined', () => {
    /** The error that `define` threw. */
    const definitionError = (define: () => unknown): ResilienceConfigError => {
      try {
        define();
      } catch (error) {
        return error as ResilienceConfigError;
      }
      throw new Error('the class was defined without an error');
    };

    it('a static method: the message names ClassName.method', () => {
      const error = definitionError(() => {
        class StaticHolder {
          @Retry({ maxAttempts: 2 })
          static async load(): Promise<void> {}
        }
        return StaticHolder;
      });
      expectConfigError(error, 'StaticHolder.load', 'static');
      expect(error.policyName).toBe('StaticHolder.load');
    });

    it('a static method under another decorator: the message names the decorator too', () => {
      const error = definitionError(() => {
        class StaticTimeout {
          @Timeout(100)
          static ping(): string {
            return 'pong';
          }
        }
        return StaticTimeout;
      });
      expectConfigError(error, 'StaticTimeout.ping', '@Timeout');
    });

    it('a getter: the message names ClassName.key', () => {
      const error = definitionError(() => {
        class WithGetter {
          @Retry()
          get value(): number {
            return 1;
          }
        }
        return WithGetter;
      });
      expectConfigError(error, 'WithGetter.value', '@Retry', 'not a method');
      expect(error.policyName).toBe('WithGetter.value');
    });

    it('a data property descriptor: the message names ClassName.key', () => {
      class WithProperty {
        limit = 3;
      }
      const error = definitionError(() =>
        CircuitBreaker()(WithProperty.prototype, 'limit', { value: 3, writable: true }),
      );
      expectConfigError(error, 'WithProperty.limit', '@CircuitBreaker', 'not a method');
      expect(error).toMatchObject({ policyName: 'WithProperty.limit', key: 'limit' });
    });

    it('an instance method of the same class shape is fine', () => {
      const define = () => {
        class InstanceHolder {
          @Retry({ maxAttempts: 2 })
          async load(): Promise<void> {}
        }
        return InstanceHolder;
      };
      expect(define).not.toThrow();
    });
  });

  describe('module options', () => {
    it('durations of exactly the timer limit (2^31 - 1 ms) are accepted', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot({ shutdownTimeout: 2_147_483_647 })],
        providers: [AtTimerLimit],
      });
      expect(app.get(AtTimerLimit)).toBeInstanceOf(AtTimerLimit);
    });

    it('an unknown key', async () => {
      const error = await withOptions({ retries: {} } as never);
      expectConfigError(error, 'ResilienceModule', '"retries"');
    });

    it.each<[unknown, string]>([
      [-1, '-1'],
      [Number.NaN, 'NaN'],
      ['soon', '"soon"'],
      [ABOVE_TIMER_LIMIT, '2147483648'],
    ])('shutdownTimeout %p', async (value, shown) => {
      const error = await withOptions({ shutdownTimeout: value as number });
      expectConfigError(error, 'ResilienceModule', 'shutdownTimeout', shown);
    });

    it('an unknown key: the message names the value too', async () => {
      expectConfigError(
        await withOptions({ retrys: 3 } as never),
        'ResilienceModule',
        '"retrys"',
        '3',
      );
      expectConfigError(
        await withOptions({ defaults: { retrys: { maxAttempts: 7 } } } as never),
        'defaults',
        '"retrys"',
        '{"maxAttempts":7}',
      );
      expectConfigError(
        await withOptions({ policies: { payments: { retrys: { maxAttempts: 9 } } } } as never),
        'payments',
        '"retrys"',
        '{"maxAttempts":9}',
      );
    });

    it('bad defaults', async () => {
      expectConfigError(
        await withOptions({ defaults: { retry: { maxAttempts: 0 } } }),
        'defaults.retry',
        '"maxAttempts" is 0;',
      );
      expectConfigError(
        await withOptions({ defaults: { circuitBreaker: { resetTimeout: -10 } } }),
        'defaults.circuitBreaker',
        'resetTimeout',
        '-10',
      );
      expectConfigError(
        await withOptions({ defaults: { retrys: {} } as never }),
        'defaults',
        '"retrys"',
      );
    });

    it('a bad named policy set', async () => {
      expectConfigError(
        await withOptions({ policies: { payments: { circuitBreaker: { failureThreshold: -1 } } } }),
        'payments',
        'failureThreshold',
        '-1',
      );
      const zeroTimeout = await withOptions({
        policies: { payments: { timeout: { timeout: 0 } } },
      });
      expectConfigError(zeroTimeout, '"payments"', '"timeout" is 0;');
      expect(zeroTimeout).toMatchObject({ policyName: 'payments', key: 'timeout', value: 0 });
    });

    describe('a policy set is checked as it will be built (its options over the defaults)', () => {
      it('a timeout without its timeout, naming the set and the key', async () => {
        const error = await withOptions({ policies: { x: { timeout: {} } } });
        expectConfigError(error, '"x"', 'timeout');
        expect(error.policyName).toBe('x');
      });

      it('a rate limiter without its interval, naming the set and the key', async () => {
        const error = await withOptions({ policies: { y: { rateLimiter: { limit: 5 } } } });
        expectConfigError(error, '"y"', 'interval');
        expect(error.policyName).toBe('y');
      });

      it('the defaults can give what the set leaves out', async () => {
        const app = await apps.start({
          imports: [
            ResilienceModule.forRoot({
              defaults: { timeout: { timeout: 50 }, rateLimiter: { limit: 10, interval: 1000 } },
              policies: { x: { timeout: {} }, y: { rateLimiter: { limit: 5 } } },
            }),
          ],
          providers: [Fine],
        });
        const registry = app.get(ResilienceRegistry);
        await expect(registry.policy('x')!.execute(async () => 'x ran')).resolves.toBe('x ran');
        await expect(registry.policy('y')!.execute(async () => 'y ran')).resolves.toBe('y ran');
        // the sets' policies run with their options over the defaults
        expect(registry.timeout('x')!.options).toEqual({ timeout: 50 });
        expect(registry.rateLimiter('y')!.options).toMatchObject({ limit: 5, interval: 1000 });
      });

      it('a backoff valid only with the default maxDelay boots', async () => {
        const app = await apps.start({
          imports: [
            ResilienceModule.forRoot({
              defaults: { retry: { backoff: { maxDelay: 60_000 } } },
              policies: { slowRetry: { retry: { backoff: { initialDelay: 40_000 } } } },
            }),
          ],
          providers: [Fine],
        });
        const registry = app.get(ResilienceRegistry);
        expect(registry.policy('slowRetry')).toBeDefined();
        await expect(registry.policy('slowRetry')!.execute(async () => 'ok')).resolves.toBe('ok');
        expect(registry.retry('slowRetry')!.options.backoff).toMatchObject({
          initialDelay: 40_000,
          maxDelay: 60_000,
        });
      });

      it('a backoff that the merged defaults make invalid fails, naming the set', async () => {
        const error = await withOptions({
          defaults: { retry: { backoff: { maxDelay: 500 } } },
          policies: { quick: { retry: { backoff: { initialDelay: 1000 } } } },
        });
        expectConfigError(error, '"quick"', 'maxDelay', '500', '1000');
        expect(error.policyName).toBe('quick');
      });
    });

    it('a clock with setTimeout but no clearTimeout', async () => {
      const clock = { now: () => 0, setTimeout: () => 1 };
      const error = await withOptions({ clock } as ResilienceModuleOptions);
      expectConfigError(error, 'ResilienceModule', 'clock');
      expect(error.key).toBe('clock');
    });

    it('a clock with clearTimeout but no setTimeout', async () => {
      const clock = { now: () => 0, clearTimeout: () => undefined };
      const error = await withOptions({ clock } as ResilienceModuleOptions);
      expectConfigError(error, 'ResilienceModule', 'clock');
    });

    it('a clock with both timer methods, or neither, is fine', async () => {
      const policies = { t: { timeout: { timeout: 20 } } };
      const hang = () => new Promise<never>(() => undefined);

      // both: the clock drives the module's timers
      const fake = new FakeClock();
      const withTimers = await apps.start({
        imports: [ResilienceModule.forRoot({ clock: fake, policies })],
        providers: [Fine],
      });
      const registryWithTimers = withTimers.get(ResilienceRegistry);
      expect(registryWithTimers.retry('Fine.call')!.options.maxAttempts).toBe(3);
      expect(registryWithTimers.timeout('t')!.timeout).toBe(20);
      const started = fake.now();
      const timed = settle(registryWithTimers.policy('t')!.execute(hang), fake);
      await fake.advance(19);
      expect(timed.settled).toBe(false);
      await fake.advance(1);
      expect(timed.error).toBeInstanceOf(TimeoutError);
      expect(timed.at).toBe(started + 20);

      // neither: the clock tells the time, the Node timers run the delays
      const nowOnly = { now: jest.fn(() => Date.now()) };
      const withoutTimers = await apps.start({
        imports: [ResilienceModule.forRoot({ clock: nowOnly, policies })],
        providers: [Fine],
      });
      const registryWithoutTimers = withoutTimers.get(ResilienceRegistry);
      expect(registryWithoutTimers.retry('Fine.call')!.options.maxAttempts).toBe(3);
      const error = await rejectionOf(registryWithoutTimers.policy('t')!.execute(hang));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.timeout).toBe(20);
      expect(nowOnly.now).toHaveBeenCalled();
    });

    it('bad options from forRootAsync', async () => {
      const error = await bootstrapError({
        imports: [
          ResilienceModule.forRootAsync({
            useFactory: async () => ({ defaults: { bulkhead: { maxQueue: -3 } } }),
          }),
        ],
        providers: [Fine],
      });
      expectConfigError(error, 'defaults.bulkhead', 'maxQueue', '-3');
    });
  });
});
