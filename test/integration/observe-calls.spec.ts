import { Injectable } from '@nestjs/common';
import {
  CallOutcome,
  CircuitBreaker,
  CircuitOpenError,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceRegistry,
} from '../../lib';
import { UpstreamError } from '../fixtures/flaky-client';
import { useTestApps } from '../fixtures/testing-app';
import { FakeClock } from '../utils/fake-clock';

class NotCounted extends Error {}

@Injectable()
class Inventory {
  constructor(private readonly clock: FakeClock) {}

  @CircuitBreaker('stock', { failureThreshold: 2, isFailure: (e) => !(e instanceof NotCounted) })
  async reserve(outcome: 'ok' | 'fail' | 'ignored', ms = 0): Promise<string> {
    if (ms > 0) await new Promise<void>((resolve) => this.clock.setTimeout(() => resolve(), ms));
    if (outcome === 'fail') throw new UpstreamError('no stock');
    if (outcome === 'ignored') throw new NotCounted('not a failure');
    return 'reserved';
  }
}

type Seen = [string, number, CallOutcome];

describe('ResilienceRegistry.observeCalls', () => {
  const apps = useTestApps();

  async function start() {
    const clock = new FakeClock(1_000);
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock })],
      providers: [Inventory, { provide: FakeClock, useValue: clock }],
    });
    return { clock, inventory: app.get(Inventory), registry: app.get(ResilienceRegistry) };
  }

  /** Runs `call` while the fake clock moves on by `ms`; its failure stays observed. */
  async function timed<T>(clock: FakeClock, ms: number, call: Promise<T>): Promise<T> {
    const outcome = call.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await clock.advance(ms);
    const settled = await outcome;
    if ('error' in settled) throw settled.error;
    return settled.value;
  }

  it('reports the duration and outcome of every admitted call, not the rejected ones', async () => {
    const { clock, inventory, registry } = await start();
    const seen: Seen[] = [];
    const observer = registry.observeCalls((...args) => seen.push(args));

    await timed(clock, 40, inventory.reserve('ok', 40));
    await expect(timed(clock, 15, inventory.reserve('ignored', 15))).rejects.toThrow(NotCounted);
    await expect(timed(clock, 5, inventory.reserve('fail', 5))).rejects.toThrow(UpstreamError);
    await expect(inventory.reserve('fail')).rejects.toThrow(UpstreamError);
    await expect(inventory.reserve('ok')).rejects.toBeInstanceOf(CircuitOpenError);

    expect(seen).toEqual([
      ['stock', 40, 'success'],
      ['stock', 15, 'success'], // isFailure said no: a success for the breaker
      ['stock', 5, 'failure'],
      ['stock', 0, 'failure'],
    ]);
    expect(registry.circuitBreaker('stock')!.stats().rejectedCalls).toBe(1);

    observer.dispose();
    registry.circuitBreaker('stock')!.close();
    await inventory.reserve('ok');
    expect(seen).toHaveLength(4);
  });

  it('fans out to several observers and keeps going when one throws', async () => {
    const { inventory, registry } = await start();
    const first: Seen[] = [];
    const second: Seen[] = [];
    registry.observeCalls(() => {
      throw new Error('observer bug');
    });
    const a = registry.observeCalls((...args) => first.push(args));
    registry.observeCalls((...args) => second.push(args));

    await expect(inventory.reserve('ok')).resolves.toBe('reserved');
    expect(first).toEqual([['stock', 0, 'success']]);
    expect(second).toEqual(first);

    a.dispose();
    await inventory.reserve('ok');
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(2);
  });

  it('reaches breakers created after the observer, and a lone throwing observer changes nothing', async () => {
    const { registry } = await start();
    const seen: Seen[] = [];
    registry.observeCalls((...args) => seen.push(args));
    const late = registry.getOrCreate('circuitBreaker', 'late', {}) as ReturnType<
      ResilienceRegistry['circuitBreaker']
    >;
    await late!.execute(async () => 1);
    expect(seen).toEqual([['late', 0, 'success']]);

    const { registry: other, inventory } = await start();
    other.observeCalls(() => {
      throw new Error('observer bug');
    });
    await expect(inventory.reserve('ok')).resolves.toBe('reserved');
  });

  it('one dispose() ends one registration, even of a function registered twice', async () => {
    const { inventory, registry } = await start();
    const seen: Seen[] = [];
    const observer = (...args: Seen) => void seen.push(args);
    const first = registry.observeCalls(observer);
    const second = registry.observeCalls(observer);
    await inventory.reserve('ok');
    expect(seen).toHaveLength(2);

    first.dispose();
    first.dispose(); // idempotent: it must not end the second registration
    await inventory.reserve('ok');
    expect(seen).toHaveLength(3);

    second.dispose();
    await inventory.reserve('ok');
    expect(seen).toHaveLength(3);
  });

  it('never reports a negative duration when the clock steps back', async () => {
    let now = 50_000;
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ clock: { now: () => now } })],
    });
    const registry = app.get(ResilienceRegistry);
    const seen: Seen[] = [];
    registry.observeCalls((...args) => seen.push(args));
    const breaker = registry.getOrCreate('circuitBreaker', 'wall', {}) as ReturnType<
      ResilienceRegistry['circuitBreaker']
    >;
    await breaker!.execute(async () => {
      now -= 1_000; // e.g. an NTP correction while the call ran
    });
    await expect(
      breaker!.execute(async () => {
        now -= 1_000;
        throw new UpstreamError('down');
      }),
    ).rejects.toThrow(UpstreamError);
    expect(seen).toEqual([
      ['wall', 0, 'success'],
      ['wall', 0, 'failure'],
    ]);
  });

  it('refuses an observer that is not a function, naming it', async () => {
    const { registry } = await start();
    let error: unknown;
    try {
      registry.observeCalls({ observe: () => undefined } as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect((error as ResilienceConfigError).key).toBe('observer');
    expect((error as Error).message).toContain('observeCalls() needs a function');
  });
});
