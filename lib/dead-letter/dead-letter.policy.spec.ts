import { FakeClock } from '../../test/utils/fake-clock';
import { CallContext } from '../common/call-context';
import { PolicySet } from '../common/compose';
import { BulkheadRejectedError, ResilienceConfigError } from '../common/errors';
import { CircuitBreakerPolicy } from '../circuit-breaker/circuit-breaker.policy';
import { RetryPolicy } from '../retry/retry.policy';
import type { DeadLetter } from './dead-letter.interface';
import { DeadLetterPolicy, DeadLetterPolicySettings, withDeadLetter } from './dead-letter.policy';
import type { DeadLetterSink } from './dead-letter.publisher';

class RecordingSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  readonly serializeErrors: unknown[] = [];
  submit(letter: DeadLetter): Promise<void> {
    this.letters.push(letter);
    return Promise.resolve();
  }
  serializeFailed(_target: string, error: unknown): void {
    this.serializeErrors.push(error);
  }
}

function setup(settings: Partial<DeadLetterPolicySettings> = {}, name = 'Svc.call') {
  const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5));
  const sink = new RecordingSink();
  let n = 0;
  const policy = new DeadLetterPolicy(name, {
    target: 'Svc.call',
    sink,
    clock,
    newId: () => `id-${++n}`,
    ...settings,
  });
  return { policy, sink, clock };
}

const failing =
  (error: unknown = new Error('down')) =>
  () =>
    Promise.reject(error);

describe('DeadLetterPolicy', () => {
  it('passes a success through without a letter, calling the work synchronously', async () => {
    const { policy, sink } = setup();
    const work = jest.fn(() => 'ok');
    const result = policy.run(work, undefined, []);
    expect(work).toHaveBeenCalledTimes(1);
    await expect(result).resolves.toBe('ok');
    expect(sink.letters).toEqual([]);
    expect(policy.stats()).toEqual({ calls: 1, letters: 0 });
  });

  it('writes a letter with every field of API §6, then rethrows the same error', async () => {
    const { policy, sink } = setup();
    const error = new TypeError('upstream said no');
    await expect(policy.run(failing(error), undefined, ['a', 1])).rejects.toBe(error);
    expect(sink.letters).toEqual([
      {
        id: 'id-1',
        policy: 'Svc.call',
        target: 'Svc.call',
        args: ['a', 1],
        error: { name: 'TypeError', message: 'upstream said no', stack: error.stack },
        attempts: 1,
        failedAt: '2026-01-02T03:04:05.000Z',
      },
    ]);
    expect(policy.stats()).toEqual({ calls: 1, letters: 1 });
  });

  it('uses random UUIDs as ids by default', async () => {
    const sink = new RecordingSink();
    const policy = new DeadLetterPolicy('p', { target: 'T.m', sink });
    await policy.run(failing(), undefined).catch(() => undefined);
    await policy.run(failing(), undefined).catch(() => undefined);
    const [a, b] = sink.letters.map((l) => l.id);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('describes thrown values that are not errors', async () => {
    const { policy, sink } = setup();
    await policy.run(failing('plain string'), undefined).catch(() => undefined);
    await policy.run(failing({ code: 42n }), undefined).catch(() => undefined);
    await policy.run(() => Promise.reject(undefined), undefined).catch(() => undefined);
    expect(sink.letters.map((l) => l.error)).toEqual([
      { name: 'string', message: 'plain string' },
      { name: 'Object', message: '{"code":"42n"}' },
      { name: 'undefined', message: 'null' },
    ]);
  });

  it('still writes a letter for an error it cannot read', async () => {
    const { policy, sink } = setup();
    const symbolMessage = Object.assign(new Error('x'), { message: Symbol('no text') });
    const hostileName = new Error('hidden');
    Object.defineProperty(hostileName, 'name', {
      get(): never {
        throw new Error('no name');
      },
    });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const error of [symbolMessage, hostileName, proxy]) {
      let caught: unknown;
      await policy.run(failing(error), undefined, []).catch((e) => void (caught = e));
      expect(caught === error).toBe(true); // the call's own error, unchanged
    }
    expect(sink.letters).toHaveLength(3);
    expect(sink.letters[0].error).toMatchObject({ name: 'Error', message: 'Symbol(no text)' });
    expect(sink.letters[1].error).toEqual({
      name: '[Unreadable: Error: no name]',
      message: 'hidden',
    });
    expect(sink.letters[2].error.name).toBe('Object');
    for (const letter of sink.letters) {
      expect(typeof letter.error.name).toBe('string');
      expect(typeof letter.error.message).toBe('string');
      expect(JSON.parse(JSON.stringify(letter))).toEqual(letter);
    }
  });

  it('resolves to undefined with swallow: true, after publishing', async () => {
    const { policy, sink } = setup({ options: { swallow: true } });
    await expect(policy.run(failing(), undefined, [])).resolves.toBeUndefined();
    expect(sink.letters).toHaveLength(1);
  });

  it('counts the attempts of the retry below it', async () => {
    const clock = new FakeClock();
    const { policy, sink } = setup({ clock });
    const retry = new RetryPolicy(
      'Svc.call',
      {
        maxAttempts: 3,
        backoff: { type: 'fixed', initialDelay: 10, jitter: 'none' },
        retryOn: (error) => !(error instanceof RangeError),
      },
      { clock },
    );
    const set = new PolicySet('Svc.call', withDeadLetter(policy, [retry]));
    let calls = 0;
    const call = set.execute(() => Promise.reject(new Error(`failure #${++calls}`)));
    const outcome = call.catch((e: Error) => e.message);
    await clock.advance(20);
    await expect(outcome).resolves.toBe('failure #3');
    expect(sink.letters[0]).toMatchObject({ attempts: 3, error: { message: 'failure #3' } });

    // a call that succeeds on a later attempt leaves no letter; each call counts its own
    calls = 0;
    const second = set.execute(() => (++calls < 2 ? Promise.reject(new Error('x')) : 'ok'));
    await clock.advance(10);
    await expect(second).resolves.toBe('ok');
    await expect(set.execute(() => Promise.reject(new RangeError('no retry')))).rejects.toThrow(
      RangeError,
    );
    expect(sink.letters.map((l) => l.attempts)).toEqual([3, 1]);
  });

  it('is named after the breaker of its chain when given that name', () => {
    const breaker = new CircuitBreakerPolicy('gateway');
    const { policy } = setup({}, breaker.name);
    const chain = withDeadLetter(policy, [new RetryPolicy('r'), breaker]);
    expect(chain.map((p) => p.kind)).toEqual([
      'deadLetter',
      'retry',
      'deadLetter',
      'circuitBreaker',
    ]);
    expect(chain[2]).toBe(policy.counter);
    expect(withDeadLetter(policy, [breaker]).map((p) => p.kind)).toEqual([
      'deadLetter',
      'circuitBreaker',
    ]);
  });

  it('writes no letter for a call its caller cancelled', async () => {
    const { policy, sink } = setup();
    const caller = new CallContext();
    const running = policy.run(
      (context) =>
        new Promise((_, reject) => context.onAbort(() => reject(new Error('cancelled')))),
      caller,
    );
    caller.abort(new Error('unsubscribed'));
    await expect(running).rejects.toThrow('cancelled');
    expect(sink.letters).toEqual([]);
  });

  it('writes no letter for a call turned away by shutdown, but does for other rejections', async () => {
    const { policy, sink } = setup();
    const shutdown = new BulkheadRejectedError('b', 'shutdown');
    await expect(policy.run(failing(shutdown), undefined)).rejects.toBe(shutdown);
    expect(sink.letters).toEqual([]);
    await expect(
      policy.run(failing(new BulkheadRejectedError('b', 'full')), undefined),
    ).rejects.toThrow(BulkheadRejectedError);
    expect(sink.letters).toHaveLength(1);
  });

  describe('arguments', () => {
    it("go through the step's serializeArgs, which replaces the module's", async () => {
      const moduleSerializeArgs = jest.fn(() => ['module']);
      const { policy, sink } = setup({
        moduleSerializeArgs,
        options: { serializeArgs: ([, amount]) => [{ card: '****' }, amount] },
      });
      await policy.run(failing(), undefined, [{ card: '4242' }, 10]).catch(() => undefined);
      expect(sink.letters[0].args).toEqual([{ card: '****' }, 10]);
      expect(moduleSerializeArgs).not.toHaveBeenCalled();

      const { policy: plain, sink: plainSink } = setup({ moduleSerializeArgs });
      await plain.run(failing(), undefined, ['x']).catch(() => undefined);
      expect(plainSink.letters[0].args).toEqual(['module']);
      expect(moduleSerializeArgs).toHaveBeenCalledWith(['x']);
    });

    it('cannot change the arguments the method received', async () => {
      const args = [{ token: 'secret' }];
      const { policy } = setup({
        options: {
          serializeArgs: (a) => {
            a.length = 0;
            return a;
          },
        },
      });
      await policy.run(failing(), undefined, args).catch(() => undefined);
      expect(args).toEqual([{ token: 'secret' }]);
    });

    it('get a placeholder when serializeArgs throws; the call still fails with its own error', async () => {
      const problem = new Error('cannot redact');
      const { policy, sink } = setup({
        options: {
          serializeArgs: () => {
            throw problem;
          },
        },
      });
      const error = new Error('down');
      await expect(policy.run(failing(error), undefined, ['x'])).rejects.toBe(error);
      expect(sink.letters[0].args).toEqual(['[serializeArgs failed: Error: cannot redact]']);
      expect(sink.serializeErrors).toEqual([problem]);
    });

    it('are wrapped in an array when serializeArgs returns something else', async () => {
      const { policy, sink } = setup({
        options: { serializeArgs: () => ({ only: 'summary' }) as never },
      });
      await policy.run(failing(), undefined, ['x']).catch(() => undefined);
      expect(sink.letters[0].args).toEqual([{ only: 'summary' }]);
    });

    it('make a letter that always survives JSON', async () => {
      const { policy, sink } = setup();
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      const args = [
        loop,
        10n,
        Buffer.from('x'),
        new Float32Array([1]),
        new Error('inner'),
        new Date(0),
        new Map([[1, 2]]),
        new Set([3]),
        () => 1,
        Symbol('s'),
        new (class Card {
          number = '4242';
        })(),
        undefined,
      ];
      await policy.run(failing(), undefined, args).catch(() => undefined);
      const [letter] = sink.letters;
      expect(() => JSON.stringify(letter)).not.toThrow();
      expect(JSON.parse(JSON.stringify(letter))).toEqual(letter);
      expect(letter.args).toHaveLength(args.length);
    });
  });

  describe('options', () => {
    it.each([
      [{ swallow: 'yes' }, 'swallow'],
      [{ serializeArgs: 'redact' }, 'serializeArgs'],
      [{ swalow: true }, 'swalow'],
    ])('rejects %p, naming the key', (options, key) => {
      let caught: unknown;
      try {
        setup({ options: options as never });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ResilienceConfigError);
      expect((caught as ResilienceConfigError).key).toBe(key);
      expect((caught as Error).message).toContain('Svc.call');
    });

    it('rejects options that are not an object', () => {
      expect(() => setup({ options: 'swallow' as never })).toThrow(ResilienceConfigError);
    });
  });
});
