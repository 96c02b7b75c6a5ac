import { Injectable, Scope } from '@nestjs/common';
import { Observable, of, throwError } from 'rxjs';
import {
  CircuitBreaker,
  DEAD_LETTER_QUEUE,
  DeadLetter,
  DeadLetterReplayError,
  DrainableDeadLetterQueue,
  Fallback,
  InMemoryDeadLetterQueue,
  replayDeadLetters,
  ResilienceModule,
  ResilienceRegistry,
  Retry,
} from '../../lib';
import type { DeadLetter as Letter } from '../../lib/dead-letter/dead-letter.interface';
import { NO_WAIT, UpstreamError } from '../fixtures/flaky-client';
import { useTestApps } from '../fixtures/testing-app';

/** A downstream the test switches between failing and working. */
@Injectable()
class Ledger {
  down = true;
  /** Every call that reached the method body, with its arguments. */
  calls: unknown[][] = [];
  fallbacks = 0;

  @DeadLetter()
  @Retry({ maxAttempts: 2, backoff: NO_WAIT })
  @CircuitBreaker('ledger', { failureThreshold: 100 })
  @Fallback('recover')
  async record(entry: { account: string; amount: number }, note: string): Promise<string> {
    this.calls.push([entry, note]);
    if (this.down) throw new UpstreamError(`ledger down (${entry.account})`);
    return `recorded ${entry.account}`;
  }

  @DeadLetter({ swallow: true })
  async bestEffort(id: string): Promise<string> {
    this.calls.push([id]);
    if (this.down) throw new UpstreamError(`best effort ${id} failed`);
    return id;
  }

  @DeadLetter()
  stream(id: string): Observable<string> {
    this.calls.push([id]);
    return this.down ? throwError(() => new UpstreamError(`stream ${id} failed`)) : of(id);
  }

  recover(): string {
    this.fallbacks++;
    return 'fallback';
  }
}

@Injectable({ scope: Scope.TRANSIENT })
class PerConsumer {
  @DeadLetter()
  async send(): Promise<void> {
    throw new UpstreamError('transient failed');
  }
}

describe('replayDeadLetters', () => {
  const apps = useTestApps();

  async function start() {
    const queue = new InMemoryDeadLetterQueue();
    const app = await apps.start({
      imports: [ResilienceModule.forRoot({ deadLetterQueue: queue })],
      providers: [Ledger, PerConsumer],
    });
    return {
      app,
      queue,
      ledger: app.get(Ledger),
      registry: app.get(ResilienceRegistry),
      /** Waits until the module handed `n` letters to the queue. */
      letters: async (n: number) => {
        for (let i = 0; i < 100 && queue.size < n; i++) await new Promise((r) => setImmediate(r));
        expect(queue.size).toBe(n);
      },
    };
  }

  it('re-runs each letter through its method once the downstream is back, and empties the queue', async () => {
    const { ledger, queue, registry, letters } = await start();
    await expect(ledger.record({ account: 'a-1', amount: 5 }, 'first')).resolves.toBe('fallback');
    await expect(ledger.record({ account: 'a-2', amount: 7 }, 'second')).resolves.toBe('fallback');
    await letters(2);
    expect(ledger.calls).toHaveLength(4); // two attempts each

    ledger.down = false;
    ledger.calls = [];
    const result = await replayDeadLetters(queue, registry);

    expect(result).toEqual({ replayed: 2 });
    expect(queue.size).toBe(0);
    // oldest first, with the letters' own arguments
    expect(ledger.calls).toEqual([
      [{ account: 'a-1', amount: 5 }, 'first'],
      [{ account: 'a-2', amount: 7 }, 'second'],
    ]);
    // the replay went through the breaker
    expect(registry.circuitBreaker('ledger')!.stats().successfulCalls).toBe(2);
  });

  it('stops at a letter that fails again: no new letter, no fallback, the letter stays', async () => {
    const { ledger, queue, registry, letters } = await start();
    await ledger.record({ account: 'a-1', amount: 1 }, 'x');
    await ledger.record({ account: 'a-2', amount: 2 }, 'y');
    await letters(2);
    const [first] = await queue.peek(1);
    const fallbacksBefore = ledger.fallbacks;
    ledger.calls = [];

    const result = await replayDeadLetters(queue, registry);

    expect(result.replayed).toBe(0);
    expect(result.failed?.letter).toEqual(first);
    expect(result.failed?.error).toBeInstanceOf(UpstreamError);
    // the method's retry still applies to the replay; the fallback and the dead letter do not
    expect(ledger.calls).toHaveLength(2);
    expect(ledger.fallbacks).toBe(fallbacksBefore);
    expect(queue.size).toBe(2);
    expect(registry.stats().deadLetters.published).toBe(2);
  });

  it('does not let swallow: true hide a replay that failed', async () => {
    const { ledger, queue, registry, letters } = await start();
    await expect(ledger.bestEffort('b-1')).resolves.toBeUndefined();
    await letters(1);

    const failed = await replayDeadLetters(queue, registry);
    expect(failed.replayed).toBe(0);
    expect(failed.failed?.error).toBeInstanceOf(UpstreamError);
    expect(queue.size).toBe(1);

    ledger.down = false;
    await expect(replayDeadLetters(queue, registry)).resolves.toEqual({ replayed: 1 });
    expect(queue.size).toBe(0);
  });

  it('waits for an Observable method to complete', async () => {
    const { ledger, queue, registry, letters } = await start();
    await expect(
      new Promise((_, reject) => ledger.stream('s-1').subscribe({ error: reject })),
    ).rejects.toBeInstanceOf(UpstreamError);
    await letters(1);
    ledger.down = false;
    await expect(replayDeadLetters(queue, registry)).resolves.toEqual({ replayed: 1 });
    expect(ledger.calls.at(-1)).toEqual(['s-1']);
  });

  it('replays at most `limit` letters', async () => {
    const { ledger, queue, registry, letters } = await start();
    for (const account of ['a', 'b', 'c']) await ledger.record({ account, amount: 1 }, '');
    await letters(3);
    ledger.down = false;
    await expect(replayDeadLetters(queue, registry, { limit: 2 })).resolves.toEqual({
      replayed: 2,
    });
    expect(queue.size).toBe(1);
    expect((await queue.peek(1))[0].args[0]).toEqual({ account: 'c', amount: 1 });
  });

  it('re-runs with the arguments that `args` gives back (redacted ones restored)', async () => {
    const { ledger, queue, registry, letters } = await start();
    await ledger.record({ account: 'a-9', amount: 3 }, 'secret');
    await letters(1);
    ledger.down = false;
    ledger.calls = [];
    const result = await replayDeadLetters(queue, registry, {
      args: async (letter) => [letter.args[0], `restored for ${letter.id.length > 0}`],
    });
    expect(result).toEqual({ replayed: 1 });
    expect(ledger.calls).toEqual([[{ account: 'a-9', amount: 3 }, 'restored for true']]);

    await ledger.record({ account: 'a-10', amount: 3 }, 'x');
    ledger.down = true;
    await ledger.record({ account: 'a-11', amount: 3 }, 'x');
    await letters(1);
    const bad = await replayDeadLetters(queue, registry, {
      args: () => 'nope' as unknown as unknown[],
    });
    expect(String(bad.failed?.error)).toMatch(/args\(letter\) must return an array; got string/);
    await expect(
      replayDeadLetters(queue, registry, { args: 'x' as unknown as () => unknown[] }),
    ).rejects.toThrow(/args must be a function/);
  });

  it('hands letters to a replay function instead of the registry', async () => {
    const { ledger, queue, letters } = await start();
    await ledger.record({ account: 'a-1', amount: 5 }, 'n');
    await letters(1);
    const seen: Letter[] = [];
    const result = await replayDeadLetters(queue, (letter) => {
      seen.push(letter);
    });
    expect(result).toEqual({ replayed: 1 });
    expect(seen.map((l) => [l.target, l.policy, l.args])).toEqual([
      ['Ledger.record', 'ledger', [{ account: 'a-1', amount: 5 }, 'n']],
    ]);
  });

  it('explains why a letter cannot be replayed through the registry', async () => {
    const { app, queue, registry, letters } = await start();
    await queue.publish(fakeLetter('Nowhere.method'));
    const unknown = await replayDeadLetters(queue, registry);
    expect(unknown.failed?.error).toBeInstanceOf(DeadLetterReplayError);
    expect(String(unknown.failed?.error)).toMatch(/No decorated method "Nowhere\.method"/);
    await queue.drain(() => undefined);

    const transient = await app.resolve(PerConsumer);
    await expect(transient.send()).rejects.toThrow('transient failed');
    await letters(1);
    const result = await replayDeadLetters(queue, registry);
    expect((result.failed?.error as DeadLetterReplayError).target).toBe('PerConsumer.send');
    expect(String(result.failed?.error)).toMatch(/request-scoped or transient/);
    expect(queue.size).toBe(1);
  });

  it('rejects a queue that cannot be read back and a bad replayer or limit', async () => {
    const { registry, app } = await start();
    const writeOnly = { publish: async () => undefined } as unknown as DrainableDeadLetterQueue;
    await expect(replayDeadLetters(writeOnly, registry)).rejects.toThrow(/no drain\(handler\)/);
    const queue = app.get<InMemoryDeadLetterQueue>(DEAD_LETTER_QUEUE);
    await expect(replayDeadLetters(queue, {} as ResilienceRegistry)).rejects.toThrow(
      /ResilienceRegistry or a function/,
    );
    await expect(replayDeadLetters(queue, registry, { limit: -1 })).rejects.toThrow(
      /limit must be an integer >= 0; got -1/,
    );
  });

  it('rejects when the queue itself fails before handing over a letter', async () => {
    const { registry } = await start();
    const broken: DrainableDeadLetterQueue = {
      publish: async () => undefined,
      drain: async () => {
        throw new Error('broker unreachable');
      },
    };
    await expect(replayDeadLetters(broken, registry)).rejects.toThrow('broker unreachable');
  });
});

function fakeLetter(target: string): Letter {
  return {
    id: `id-${target}`,
    policy: target,
    target,
    args: [],
    error: { name: 'Error', message: 'x' },
    attempts: 1,
    failedAt: new Date(0).toISOString(),
  };
}
