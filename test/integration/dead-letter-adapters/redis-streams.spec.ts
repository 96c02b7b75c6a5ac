import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { ResilienceConfigError } from '../../../lib';
import { MalformedDeadLetterError } from '../../../lib/dead-letter/dead-letter.codec';
import {
  RedisStreamEntry,
  RedisStreamsDeadLetterQueue,
  RedisStreamsDeadLetterQueueOptions,
  RedisStreamsDeliveryLimitError,
} from '../../../lib/redis';
import { deferred, rejectionOf, sleep, useTestApps, waitFor } from '../../fixtures/testing-app';
import {
  describeWithService,
  freePort,
  REDIS,
  REDIS_URL,
  ThrowawayRedis,
} from '../../utils/services';
import {
  expectCloseGivesUp,
  expectStopWaitsFor,
  heldHandler,
  itRejectsBadOptions,
  expectFastRejection,
  letter,
  startOrders,
  timed,
  useCleanup,
  type Letter,
} from './shared';

type Reported = { error: Error; entry?: RedisStreamEntry };

describe('RedisStreamsDeadLetterQueue options', () => {
  const make = (options: unknown) =>
    new RedisStreamsDeadLetterQueue(options as RedisStreamsDeadLetterQueueOptions);

  itRejectsBadOptions('RedisStreamsDeadLetterQueue', make, [
    [{ maxLength: 0 }, 'maxLength'],
    [{ maxLength: 1.5 }, 'maxLength'],
    [{ commandTimeout: -1 }, 'commandTimeout'],
    [{ closeTimeout: Number.NaN }, 'closeTimeout'],
    [{ prefix: '' }, 'prefix'],
    [{ connection: 42 }, 'connection'],
    [{ client: {} }, 'client'],
    [{ maxLenght: 10 }, 'maxLenght'],
  ]);

  it('rejects a connection next to a client', async () => {
    const client = new Redis({ lazyConnect: true });
    try {
      expect(() => make({ client, connection: REDIS_URL })).toThrow(/"connection"/);
    } finally {
      client.disconnect();
    }
  });

  it('checks the options of consume() and drain() before touching Redis', async () => {
    const queue = new RedisStreamsDeadLetterQueue({ connection: 'redis://127.0.0.1:1' });
    try {
      const handler = () => undefined;
      const cases: Array<[unknown, string]> = [
        [undefined, 'group'],
        [{ group: 'g' }, 'consumer'],
        [{ group: 'g', consumer: 'c', blockMs: 0 }, 'blockMs'],
        [{ group: 'g', consumer: 'c', maxDeliveries: 0 }, 'maxDeliveries'],
        [{ group: 'g', consumer: 'c', claimIdleMs: -5 }, 'claimIdleMs'],
        [{ group: 'g', consumer: 'c', onError: 'log' }, 'onError'],
        [{ group: 'g', consumer: 'c', batch: 5 }, 'batch'],
      ];
      for (const [options, key] of cases) {
        const error = await rejectionOf(queue.consume(handler, options as never));
        expect(error).toBeInstanceOf(ResilienceConfigError);
        expect(error.key).toBe(key);
      }
      const drainError = await rejectionOf(queue.drain(handler, { batchSize: 0 }));
      expect(drainError).toBeInstanceOf(ResilienceConfigError);
      expect(drainError.key).toBe('batchSize');
    } finally {
      await queue.close();
    }
  });
});

describeWithService(REDIS, 'RedisStreamsDeadLetterQueue', () => {
  const apps = useTestApps();
  const cleanup = useCleanup();
  let admin: Redis;

  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await admin.quit();
  });

  /** A queue on a stream of the test's own; closed and its stream deleted after the test. */
  function queue(options: RedisStreamsDeadLetterQueueOptions = {}): RedisStreamsDeadLetterQueue {
    const q = new RedisStreamsDeadLetterQueue({
      connection: options.client ? undefined : REDIS_URL,
      prefix: `test:${randomUUID()}`,
      ...options,
    });
    cleanup(() => admin.del(q.key));
    cleanup(() => q.close());
    return q;
  }

  /** The pending entries of a group (XPENDING summary count). */
  async function pending(key: string, group: string): Promise<number> {
    const [count] = (await admin.xpending(key, group)) as [number];
    return Number(count);
  }

  it('appends each letter as a stream entry with its fields, and drains them in order', async () => {
    const q = queue();
    const letters = [1, 2, 3, 4, 5].map((n) => letter(n));
    for (const l of letters) await q.publish(l);

    const entries = await admin.xrange(q.key, '-', '+');
    expect(entries).toHaveLength(5);
    const [, flat] = entries[0];
    const fields = Object.fromEntries(
      flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : [])),
    );
    expect(fields).toEqual({
      letter: JSON.stringify(letters[0]),
      error: 'UpstreamError: charge 1 failed',
      policy: 'payments',
      target: 'Payments.charge',
      id: letters[0].id,
    });

    const seen: Letter[] = [];
    await expect(q.drain((l) => void seen.push(l))).resolves.toBe(5);
    expect(seen).toEqual(letters);
    expect(await admin.xlen(q.key)).toBe(0); // drain deletes what it handled
    await expect(q.drain(() => undefined)).resolves.toBe(0);
  });

  it('a failing drain handler stops the drain; that letter and the later ones stay', async () => {
    const q = queue();
    const letters = [1, 2, 3, 4].map((n) => letter(n));
    for (const l of letters) await q.publish(l);

    const seen: string[] = [];
    const failure = new Error('replay failed');
    const error = await rejectionOf(
      q.drain((l) => {
        seen.push(l.id);
        if (seen.length === 3) throw failure;
      }),
    );
    expect(error).toBe(failure);
    expect(seen).toEqual(letters.slice(0, 3).map((l) => l.id));
    expect(await admin.xlen(q.key)).toBe(2);

    // letters published while a drain runs wait for the next drain
    const late = letter(9);
    const second: Letter[] = [];
    await expect(
      q.drain(async (l) => {
        second.push(l);
        if (second.length === 1) await q.publish(late);
      }),
    ).resolves.toBe(2);
    expect(second).toEqual(letters.slice(2));
    const third: Letter[] = [];
    await q.drain((l) => void third.push(l));
    expect(third).toEqual([late]);
  });

  it('caps the stream near maxLength (MAXLEN ~), keeping the newest letters', async () => {
    const q = queue({ maxLength: 100 });
    const letters = Array.from({ length: 350 }, (_, n) => letter(n));
    for (let i = 0; i < letters.length; i += 50) {
      await Promise.all(letters.slice(i, i + 50).map((l) => q.publish(l)));
    }
    const length = await admin.xlen(q.key);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(200); // trimmed in whole nodes of 100 entries
    const [[, newest]] = await admin.xrevrange(q.key, '+', '-', 'COUNT', 1);
    expect(newest[newest.indexOf('id') + 1]).toBe(letters[349].id);
  });

  it('drains past entries that hold no letter, reporting and deleting them', async () => {
    const q = queue();
    const good = letter(1);
    await admin.xadd(q.key, '*', 'letter', 'not json');
    await admin.xadd(q.key, '*', 'something', 'else');
    await q.publish(good);
    const reported: Reported[] = [];
    const handled: Letter[] = [];
    await expect(
      q.drain((l) => void handled.push(l), {
        onError: (error, entry) => reported.push({ error, entry }),
      }),
    ).resolves.toBe(1);
    expect(handled).toEqual([good]);
    expect(reported.map((r) => r.error)).toEqual([
      expect.any(MalformedDeadLetterError),
      expect.any(MalformedDeadLetterError),
    ]);
    expect(reported[0].entry?.fields).toEqual({ letter: 'not json' });
    expect(reported[1].error.message).toContain('no "letter" field');
    expect(await admin.xlen(q.key)).toBe(0);
  });

  it('consume() reads the letters already stored and new ones, acknowledging each', async () => {
    const q = queue();
    const before = letter(1);
    await q.publish(before);
    const seen: Letter[] = [];
    const sub = await q.consume((l) => void seen.push(l), {
      group: 'workers',
      consumer: 'w1',
      blockMs: 200,
    });
    const after = letter(2);
    await q.publish(after);
    await waitFor(() => seen.length === 2, 3_000);
    await sub.stop();
    expect(seen).toEqual([before, after]);
    expect(await pending(q.key, 'workers')).toBe(0);
    expect(await admin.xlen(q.key)).toBe(2); // acknowledged entries stay in the stream
  });

  it('a failed handler leaves the letter pending; it is handed out again after claimIdleMs', async () => {
    const q = queue();
    const l = letter(1);
    await q.publish(l);
    const calls: number[] = [];
    const consumeStarted = Date.now(); // Redis delivers the letter after this
    const sub = await q.consume(
      async () => {
        calls.push(Date.now());
        if (calls.length === 1) throw new Error('not yet');
      },
      { group: 'retrying', consumer: 'w1', claimIdleMs: 150, blockMs: 100 },
    );
    await waitFor(() => calls.length === 1, 2_000);
    await sleep(50);
    expect(await pending(q.key, 'retrying')).toBe(1);
    await waitFor(() => calls.length === 2, 3_000);
    expect(calls[1] - consumeStarted).toBeGreaterThanOrEqual(148); // 2ms: clock rounding
    await sleep(250); // longer than claimIdleMs: an acknowledged letter does not come back
    await sub.stop();
    expect(await pending(q.key, 'retrying')).toBe(0);
    expect(calls).toHaveLength(2);
  });

  it('gives a letter up after maxDeliveries handler failures and reports it', async () => {
    const q = queue();
    const l = letter(1);
    await q.publish(l);
    let calls = 0;
    const reported: Reported[] = [];
    const sub = await q.consume(
      () => {
        calls++;
        throw new Error('always fails');
      },
      {
        group: 'limited',
        consumer: 'w1',
        claimIdleMs: 50,
        blockMs: 50,
        maxDeliveries: 2,
        onError: (error, entry) => reported.push({ error, entry }),
      },
    );
    await waitFor(() => reported.length === 1, 3_000);
    await sleep(150); // a few more claim rounds: nothing comes back
    await sub.stop();
    expect(calls).toBe(2);
    const [{ error, entry }] = reported;
    expect(error).toBeInstanceOf(RedisStreamsDeliveryLimitError);
    expect((error as RedisStreamsDeliveryLimitError).letter).toEqual(l);
    expect(error.message).toContain('after 2 deliveries');
    expect(entry?.fields.id).toBe(l.id);
    expect(await pending(q.key, 'limited')).toBe(0);
    expect(await admin.xlen(q.key)).toBe(1);
  });

  it('a malformed entry goes to onError, never to the handler, and is acknowledged', async () => {
    const q = queue();
    const good = letter(1);
    await admin.xadd(q.key, '*', 'letter', '{"id":"x"}');
    await q.publish(good);
    const handled: Letter[] = [];
    const reported: Reported[] = [];
    const sub = await q.consume((l) => void handled.push(l), {
      group: 'strict',
      consumer: 'w1',
      blockMs: 100,
      onError: (error, entry) => reported.push({ error, entry }),
    });
    await waitFor(() => handled.length === 1, 2_000);
    await sub.stop();
    expect(handled).toEqual([good]);
    expect(reported).toHaveLength(1);
    expect(reported[0].error).toBeInstanceOf(MalformedDeadLetterError);
    expect(reported[0].error.message).toContain('"policy"');
    expect(reported[0].entry?.fields.letter).toBe('{"id":"x"}');
    expect(await pending(q.key, 'strict')).toBe(0);
  });

  it('two consumers of one group share the letters, each letter going to one of them', async () => {
    const q = queue();
    const handledBy: Record<string, string[]> = { a: [], b: [] };
    const subs = await Promise.all(
      ['a', 'b'].map((name) =>
        q.consume(
          async (l) => {
            handledBy[name].push(l.id);
            await sleep(5);
          },
          { group: 'shared', consumer: name, batchSize: 1, blockMs: 1_000 },
        ),
      ),
    );
    await sleep(50); // both are blocked in XREADGROUP
    const letters = Array.from({ length: 20 }, (_, n) => letter(n));
    for (const l of letters) {
      await q.publish(l);
      await sleep(2);
    }
    await waitFor(() => handledBy.a.length + handledBy.b.length === 20, 5_000);
    await Promise.all(subs.map((s) => s.stop()));
    expect(handledBy.a.length).toBeGreaterThan(0);
    expect(handledBy.b.length).toBeGreaterThan(0);
    expect([...handledBy.a, ...handledBy.b].sort()).toEqual(letters.map((l) => l.id).sort());
    expect(await pending(q.key, 'shared')).toBe(0);
  });

  it('the letters of a consumer that died are reclaimed by another after claimIdleMs', async () => {
    const prefix = `test:${randomUUID()}`;
    const dying = queue({ prefix, closeTimeout: 50 });
    const survivor = queue({ prefix });
    const l = letter(1);
    let takenAt = 0;
    const never = deferred<void>();
    await dying.consume(
      () => {
        takenAt = Date.now();
        return never.promise; // hangs: the worker is stuck, then its process goes away
      },
      { group: 'g', consumer: 'dying', blockMs: 100 },
    );
    const published = Date.now(); // Redis delivers the letter to 'dying' after this
    await dying.publish(l);
    await waitFor(() => takenAt > 0, 2_000);
    // its connections close (with a warning); the letter stays pending, owned by 'dying'
    await expectCloseGivesUp(() => dying.close(), 50);
    const [[, owner, , deliveries]] = (await admin.xpending(dying.key, 'g', '-', '+', 10)) as [
      [string, string, number, number],
    ];
    expect([owner, deliveries]).toEqual(['dying', 1]);

    const seen: Letter[] = [];
    const sub = await survivor.consume((x) => void seen.push(x), {
      group: 'g',
      consumer: 'survivor',
      claimIdleMs: 300,
      blockMs: 100,
    });
    await waitFor(() => seen.length === 1, 3_000);
    expect(Date.now() - published).toBeGreaterThanOrEqual(298);
    expect(seen).toEqual([l]);
    await sub.stop();
    expect(await pending(survivor.key, 'g')).toBe(0);
    never.resolve();
  });

  it('stop() cuts a long blocking read short and waits for the handler in flight', async () => {
    const q = queue();
    const idle = await q.consume(() => undefined, {
      group: 'idle',
      consumer: 'w1',
      blockMs: 10_000,
    });
    await sleep(50);
    const { ms, error } = await timed(idle.stop());
    expect(error).toBeUndefined();
    expect(ms).toBeLessThan(500);

    const held = heldHandler();
    const busy = await q.consume(held.handler, { group: 'busy', consumer: 'w1', blockMs: 10_000 });
    await q.publish(letter(1));
    await expectStopWaitsFor(held, () => busy.stop());
    expect(await pending(q.key, 'busy')).toBe(0); // acknowledged before stop() resolved
  });

  it('close() gives a stuck handler at most closeTimeout, warns, and leaves its letter pending', async () => {
    const q = queue({ closeTimeout: 200 });
    const stuck = heldHandler();
    await q.consume(stuck.handler, { group: 'stuck', consumer: 'w1', blockMs: 1_000 });
    await q.publish(letter(1));
    await stuck.started;
    try {
      await expectCloseGivesUp(() => q.close(), 200);
      expect(await pending(q.key, 'stuck')).toBe(1);
    } finally {
      stuck.release();
    }
  });

  it('close() waits for a handler that ends within closeTimeout, without a warning', async () => {
    const q = queue({ closeTimeout: 2_000 });
    const held = heldHandler();
    await q.consume(held.handler, { group: 'prompt', consumer: 'w1', blockMs: 1_000 });
    await q.publish(letter(1));
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await expectStopWaitsFor(held, () => q.close());
      expect(warned).not.toHaveBeenCalled();
    } finally {
      warned.mockRestore();
    }
    expect(await pending(q.key, 'prompt')).toBe(0); // acknowledged before the connection closed
  });

  it('publish rejects fast when Redis is unreachable, and close() still ends cleanly', async () => {
    const port = await freePort();
    const q = queue({ connection: `redis://127.0.0.1:${port}`, commandTimeout: 300 });
    const { error } = await expectFastRejection(
      q.publish(letter(1)),
      /could not publish dead letter .* within 300ms/,
    );
    expect(error.message).toContain('ECONNREFUSED');
    // still failing fast later (no letter waits in an offline queue)
    await expectFastRejection(q.publish(letter(2)), /within 300ms/);
    await expect(q.consume(() => undefined, { group: 'g', consumer: 'c' })).rejects.toThrow(
      /consumer group "g"/,
    );
    await q.close();
    await expect(q.publish(letter(3))).rejects.toThrow(/after close/);
  });

  it('with the module: a call that finally fails leaves its letter in the stream', async () => {
    const q = queue();
    const { app, orders, deadLetters } = await startOrders(apps, q);
    await expect(orders.place('o-17')).rejects.toThrow('order o-17 failed (#2)');
    const drained: Letter[] = [];
    await q.drain((l) => void drained.push(l));
    expect(drained).toEqual([
      expect.objectContaining({
        policy: 'Orders.place',
        target: 'Orders.place',
        args: ['o-17'],
        attempts: 2,
        error: expect.objectContaining({
          name: 'UpstreamError',
          message: 'order o-17 failed (#2)',
        }),
      }),
    ]);
    expect(deadLetters()).toMatchObject({ published: 1, buffered: 0 });
    await apps.close(app);
    expect(q.connection.status).toBe('end'); // its own connection is closed by the module
  });

  it('with the module: a client passed in stays open after app.close()', async () => {
    const client = new Redis(REDIS_URL);
    cleanup(() => client.quit());
    const q = queue({ client });
    const { app, orders } = await startOrders(apps, q);
    const seen: Letter[] = [];
    await q.consume((l) => void seen.push(l), { group: 'g', consumer: 'c', blockMs: 100 });
    await expect(orders.place('o-1')).rejects.toThrow();
    await waitFor(() => seen.length === 1, 2_000);
    await apps.close(app); // stops the consumer and closes its blocking connection
    expect(client.status).toBe('ready');
    await expect(client.ping()).resolves.toBe('PONG');
    expect(await admin.xlen(q.key)).toBe(1);
    // the queue is closed even though the client is not
    await expect(q.publish(letter(2))).rejects.toThrow(/publish\(\) after close/);
    await expect(q.drain(() => undefined)).rejects.toThrow(/drain\(\) after close/);
    expect(await admin.xlen(q.key)).toBe(1);
  });

  describe('when Redis is away', () => {
    let server: ThrowawayRedis;
    beforeEach(async () => {
      server = new ThrowawayRedis(await freePort());
    });
    afterEach(async () => {
      await apps.closeAll();
      await server.kill();
    });

    /** The module with a queue on the throwaway server, and what its stream holds. */
    async function setup() {
      const q = new RedisStreamsDeadLetterQueue({ connection: server.url, commandTimeout: 200 });
      const { orders, deadLetters: stats, flushed } = await startOrders(apps, q);
      const stream = async () => {
        const reader = new Redis(server.url);
        try {
          const entries = await reader.xrange(q.key, '-', '+');
          return entries.map(([, f]) => JSON.parse(f[f.indexOf('letter') + 1]) as Letter);
        } finally {
          reader.disconnect();
        }
      };
      return { q, stats, flushed, stream, orders };
    }

    it('buffers a letter while Redis has not started yet and delivers it once it has', async () => {
      const { orders, stats, flushed, stream } = await setup();
      // the call waits for one publish, which fails fast
      await expectFastRejection(orders.place('early'), 'order early failed');
      expect(stats().buffered).toBeGreaterThanOrEqual(1);

      await server.start();
      await flushed(5_000);
      expect(stats()).toMatchObject({ published: 1, dropped: 0 });
      expect(await stream()).toEqual([expect.objectContaining({ args: ['early'] })]);
    });

    it('publish fails fast during an outage; buffer and consumer recover after a restart', async () => {
      await server.start();
      const { q, orders, stats, flushed, stream } = await setup();
      const seen: Letter[] = [];
      const reported: Reported[] = [];
      await q.consume((l) => void seen.push(l), {
        group: 'g',
        consumer: 'c',
        blockMs: 100,
        onError: (error, entry) => reported.push({ error, entry }),
      });
      await orders.place('before').catch(() => undefined);
      await waitFor(() => seen.length === 1, 2_000);

      await server.kill();
      await expectFastRejection(q.publish(letter(1)), /could not publish dead letter/, 1_000);
      await orders.place('during').catch(() => undefined);
      expect(stats().buffered).toBe(1);
      await waitFor(() => reported.length > 0, 2_000);
      expect(reported[0].entry).toBeUndefined(); // the lost connection, reported once

      await server.start(); // empty: the stream and group are created again
      await flushed(5_000);
      expect(await stream()).toEqual([expect.objectContaining({ args: ['during'] })]);
      await waitFor(() => seen.length === 2, 5_000);
      expect(seen.map((l) => l.args)).toEqual([['before'], ['during']]);
      expect(reported).toHaveLength(1);
    });
  });
});
