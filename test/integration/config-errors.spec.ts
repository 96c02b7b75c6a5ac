import { Injectable, ModuleMetadata } from '@nestjs/common';
import {
  Bulkhead,
  CircuitBreaker,
  Fallback,
  RateLimit,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceModuleOptions,
  Retry,
  Timeout,
  UsePolicy,
} from '../../lib';
import { useTestApps } from '../fixtures/testing-app';

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
      ['a concurrency of 0', ZeroConcurrency, ['ZeroConcurrency.call', 'maxConcurrent', '0']],
      ['a NaN queue timeout', NaNQueueTimeout, ['NaNQueueTimeout.call', 'queueTimeout', 'NaN']],
      ['a negative interval', NegativeInterval, ['NegativeInterval.call', 'interval', '-1000']],
    ])('%s', async (_case, provider, fragments) => {
      expectConfigError(await withProvider(provider), ...fragments);
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

  describe('module options', () => {
    it('an unknown key', async () => {
      const error = await withOptions({ retries: {} } as never);
      expectConfigError(error, 'ResilienceModule', '"retries"');
    });

    it.each<[unknown, string]>([
      [-1, '-1'],
      [Number.NaN, 'NaN'],
      ['soon', '"soon"'],
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
        'maxAttempts',
        '0',
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
      expectConfigError(
        await withOptions({ policies: { payments: { timeout: { timeout: 0 } } } }),
        'payments',
        'timeout',
        '0',
      );
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
