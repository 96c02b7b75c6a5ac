import { AsyncLocalStorage } from 'node:async_hooks';
import { CircuitBreakerPolicy } from './circuit-breaker.policy';
import type { StateChangeEvent } from '../common/events';

describe('CircuitBreakerPolicy half-open timer and async context', () => {
  it('emits the timed open -> half-open change outside the call that opened the breaker', async () => {
    const request = new AsyncLocalStorage<string>();
    const breaker = new CircuitBreakerPolicy('ctx', { failureThreshold: 1, resetTimeout: 20 });
    const seen: Array<[StateChangeEvent['to'], string | undefined]> = [];
    breaker.onEvent((event) => {
      if (event.type === 'state-change') seen.push([event.to, request.getStore()]);
    });
    const halfOpen = new Promise<void>((resolve) =>
      breaker.onEvent((event) => {
        if (event.type === 'state-change' && event.to === 'half-open') resolve();
      }),
    );

    await request.run('request-1', async () => {
      await expect(
        breaker.execute(async () => {
          throw new Error('down');
        }),
      ).rejects.toThrow('down');
    });
    await halfOpen;
    breaker.dispose();

    // the opening belongs to request-1; the timer's change belongs to no request
    expect(seen).toEqual([
      ['open', 'request-1'],
      ['half-open', undefined],
    ]);
  });
});
