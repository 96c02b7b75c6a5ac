// NatsDeadLetterQueue against a real NATS server with JetStream (NATS_URL). Every test uses
// its own stream and subject prefix and deletes its streams afterwards.
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { connect, JetStreamManager, nanos, NatsConnection, StringCodec } from 'nats';
import { MalformedDeadLetterError, ResilienceConfigError } from '../../../lib';
import { NatsDeadLetterQueue, NatsDeadLetterQueueOptions } from '../../../lib/nats';
import { UpstreamError } from '../../fixtures/flaky-client';
import { deferred, rejectionOf, sleep, useTestApps } from '../../fixtures/testing-app';
import { describeWithService, freePort, NATS, NATS_URL } from '../../utils/services';
import {
  eventually,
  expectCloseGivesUp,
  expectStopWaitsFor,
  heldHandler,
  itRejectsBadOptions,
  expectFastRejection,
  letter,
  proxyTo,
  startOrders,
  useCleanup,
  type Letter,
} from './shared';

const sc = StringCodec();
/** JetStream's error code for a stream that does not exist. */
const STREAM_NOT_FOUND = 10059;

describe('NatsDeadLetterQueue options', () => {
  itRejectsBadOptions('NatsDeadLetterQueue', (o) => new NatsDeadLetterQueue(o), [
    [{ servers: '' }, 'servers'],
    [{ servers: [] }, 'servers'],
    [{ stream: 'has.dot' }, 'stream'],
    [{ stream: 'has space' }, 'stream'],
    [{ subjectPrefix: 'dlq.>' }, 'subjectPrefix'],
    [{ subjectPrefix: 'a..b' }, 'subjectPrefix'],
    [{ subjectPrefix: 'a b' }, 'subjectPrefix'],
    [{ publishTimeout: 0 }, 'publishTimeout'],
    [{ publishTimeout: '500' }, 'publishTimeout'],
    [{ connectTimeout: -1 }, 'connectTimeout'],
    [{ maxMessages: 1.5 }, 'maxMessages'],
    [{ maxAge: Infinity }, 'maxAge'],
    [{ connection: {} }, 'connection'],
    [{ connectionOptions: { servers: 'nats://x:1' } }, 'connectionOptions'],
    [{ publishTimout: 100 }, 'publishTimout'],
  ]);

  it('rejects servers together with a connection', () => {
    const connection = {
      jetstream: () => undefined,
      jetstreamManager: () => undefined,
      status: () => undefined,
      isClosed: () => false,
    } as unknown as NatsConnection;
    expect(() => new NatsDeadLetterQueue({ connection, servers: NATS_URL })).toThrow(
      /"servers".*no value when a connection is given/,
    );
  });

  it('checks the options of consume() and drain() before connecting', async () => {
    const queue = new NatsDeadLetterQueue({ servers: 'nats://127.0.0.1:1' });
    const bad = await rejectionOf(queue.consume(() => undefined, { maxDeliver: 0 }));
    expect(bad).toBeInstanceOf(ResilienceConfigError);
    expect(bad.key).toBe('maxDeliver');
    expect((await rejectionOf(queue.consume(() => undefined, { durable: 'a.b' }))).key).toBe(
      'durable',
    );
    expect((await rejectionOf(queue.drain(() => undefined, { onError: 1 as never }))).key).toBe(
      'onError',
    );
    await expect(queue.drain('x' as never)).rejects.toThrow(TypeError);
    await queue.close();
  });

  it('maps policy names to one valid subject token each', () => {
    const queue = new NatsDeadLetterQueue({ subjectPrefix: 'app.dlq' });
    expect(queue.subjectFor('card-gateway_2')).toBe('app.dlq.card-gateway_2');
    expect(queue.subjectFor('Payments.charge')).toBe('app.dlq.Payments%2Echarge');
    expect(queue.subjectFor('a b')).toBe('app.dlq.a%20b');
    expect(queue.subjectFor('*')).toBe('app.dlq.%2A');
    expect(queue.subjectFor('>')).toBe('app.dlq.%3E');
    expect(queue.subjectFor('100%')).toBe('app.dlq.100%25');
    expect(queue.subjectFor('é')).toBe('app.dlq.%C3%A9');
    expect(queue.subjectFor('')).toBe('app.dlq.%');
    const long = queue.subjectFor('x'.repeat(500));
    expect(long).toMatch(/^app\.dlq\.x{200}~[0-9a-f]{16}$/);
    expect(queue.subjectFor('x'.repeat(501))).not.toBe(long);
    for (const name of ['a.b', 'a b', 'x*y>z', 'tab\there']) {
      const token = queue.subjectFor(name).slice('app.dlq.'.length);
      expect(token).toMatch(/^[A-Za-z0-9_%-]+$/);
      expect(decodeURIComponent(token)).toBe(name);
    }
  });
});

describeWithService(NATS, 'NatsDeadLetterQueue (NATS JetStream)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const cleanup = useCleanup();

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await nc.jetstreamManager();
  });

  afterAll(async () => {
    await nc?.close();
  });

  /** A stream name and subject prefix of this test only; the stream is deleted after it. */
  function names() {
    const id = randomUUID().replace(/-/g, '');
    const stream = `DLQ_TEST_${id}`;
    cleanup(() =>
      jsm.streams.delete(stream).catch((error: { api_error?: { err_code?: number } }) => {
        if (error.api_error?.err_code !== STREAM_NOT_FOUND) throw error;
      }),
    );
    return { stream, subjectPrefix: `t${id.slice(0, 12)}.dlq` };
  }

  function queue(options: NatsDeadLetterQueueOptions = {}) {
    const q = new NatsDeadLetterQueue({
      ...(options.connection ? {} : { servers: NATS_URL }),
      ...names(),
      ...options,
    });
    cleanup(() => q.close());
    return q;
  }

  const proxy = () => proxyTo(cleanup, NATS, NATS_URL);

  /** Every message in the stream, oldest first. */
  async function stored(stream: string) {
    const { state } = await jsm.streams.info(stream);
    const out = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      try {
        out.push(await jsm.streams.getMessage(stream, { seq }));
      } catch {
        // deleted
      }
    }
    return out;
  }

  const count = async (stream: string) => (await jsm.streams.info(stream)).state.messages;

  describe('publish', () => {
    it('creates the stream on dlq.> and stores the letter on the policy subject with its headers', async () => {
      const q = queue({ maxMessages: 100, maxAge: 60_000 });
      const sent = letter(1, {
        policy: 'Payments.charge',
        error: { name: 'UpstreamError', message: 'line one\r\nline two' },
        target: 'Orders.place',
      });
      await q.publish(sent);

      const info = await jsm.streams.info(q.stream);
      expect(info.config.subjects).toEqual([`${q.subjectPrefix}.>`]);
      expect(info.config.max_msgs).toBe(100);
      expect(info.config.max_age).toBe(nanos(60_000));
      const [message, ...rest] = await stored(q.stream);
      expect(rest).toEqual([]);
      expect(message.subject).toBe(`${q.subjectPrefix}.Payments%2Echarge`);
      expect(JSON.parse(sc.decode(message.data))).toEqual(sent);
      expect(message.header.get('x-error')).toBe('UpstreamError: line one line two');
      expect(message.header.get('x-original-target')).toBe('Orders.place');
      expect(message.header.get('Nats-Msg-Id')).toBe(sent.id);
    });

    it('maps policy names that are not valid subject tokens and keeps the real name in the letter', async () => {
      const q = queue();
      const policies = ['card gateway', 'a.b.c', 'x*y>z', 'naïve'];
      const sent = policies.map((policy) => letter(1, { policy }));
      for (const l of sent) await q.publish(l);
      const messages = await stored(q.stream);
      expect(messages.map((m) => m.subject)).toEqual(policies.map((p) => q.subjectFor(p)));
      expect(messages.map((m) => m.subject.split('.').length)).toEqual(
        policies.map(() => q.subjectPrefix.split('.').length + 1),
      );
      expect(messages.map((m) => JSON.parse(sc.decode(m.data)))).toEqual(sent);
    });

    it('stores a letter published twice once (JetStream de-duplication on letter.id)', async () => {
      const q = queue();
      const sent = letter();
      await q.publish(sent);
      await q.publish(sent);
      await q.publish(letter());
      expect(await count(q.stream)).toBe(2);
    });

    it('uses an existing stream whose subjects cover the prefix as it is', async () => {
      const { stream, subjectPrefix } = names();
      await jsm.streams.add({
        name: stream,
        subjects: ['elsewhere.x', `${subjectPrefix}.>`],
        max_msgs: 7,
      });
      const q = queue({ stream, subjectPrefix, maxMessages: 1_000 });
      await q.publish(letter());
      const info = await jsm.streams.info(stream);
      expect(info.config.max_msgs).toBe(7);
      expect(info.config.subjects).toEqual(['elsewhere.x', `${subjectPrefix}.>`]);
      expect(info.state.messages).toBe(1);
    });

    it('rejects with a clear error when the stream exists with other subjects', async () => {
      const { stream, subjectPrefix } = names();
      await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.only`] });
      const q = queue({ stream, subjectPrefix });
      const error = await rejectionOf(q.publish(letter()));
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error.message).toContain(
        `stream "${stream}" exists with subjects [${subjectPrefix}.only]`,
      );
      expect(error.message).toContain(`"${subjectPrefix}.>"`);
      expect(await count(stream)).toBe(0);
    });

    it('creates the stream again when it was deleted', async () => {
      const q = queue();
      await q.publish(letter());
      await jsm.streams.delete(q.stream);
      await expect(q.publish(letter())).rejects.toThrow(/did not accept/);
      await q.publish(letter());
      expect(await count(q.stream)).toBe(1);
    });
  });

  describe('drain', () => {
    it('hands the letters over oldest first, equal to those published, and empties the stream', async () => {
      const q = queue();
      const sent = [
        letter(1, { policy: 'a' }),
        letter(2, { policy: 'b.c' }),
        letter(3, { policy: 'a' }),
      ];
      for (const l of sent) await q.publish(l);
      const seen: Letter[] = [];
      await expect(q.drain((l) => void seen.push(l))).resolves.toBe(3);
      expect(seen).toEqual(sent);
      expect(await count(q.stream)).toBe(0);
      await expect(q.drain(() => undefined)).resolves.toBe(0);
    });

    it('stops at a handler that throws, rejects with its error and keeps that letter and the later ones', async () => {
      const q = queue();
      const sent = [letter(), letter(), letter()];
      for (const l of sent) await q.publish(l);
      const boom = new Error('handler failed');
      const seen: string[] = [];
      const error = await rejectionOf(
        q.drain(async (l) => {
          seen.push(l.id);
          if (l.id === sent[1].id) throw boom;
        }),
      );
      expect(error).toBe(boom);
      expect(seen).toEqual([sent[0].id, sent[1].id]);
      expect((await stored(q.stream)).map((m) => JSON.parse(sc.decode(m.data)).id)).toEqual([
        sent[1].id,
        sent[2].id,
      ]);
      const again: Letter[] = [];
      await expect(q.drain((l) => void again.push(l))).resolves.toBe(2);
      expect(again).toEqual(sent.slice(1));
    });

    it('hands over only the letters present when it starts', async () => {
      const q = queue();
      await q.publish(letter());
      const republished = letter(2, { policy: 'again' });
      await expect(q.drain(() => q.publish(republished))).resolves.toBe(1);
      const [left, ...rest] = await stored(q.stream);
      expect(rest).toEqual([]);
      expect(JSON.parse(sc.decode(left.data))).toEqual(republished);
    });

    it('runs a second drain after the first', async () => {
      const q = queue();
      const sent = [letter(), letter()];
      for (const l of sent) await q.publish(l);
      const gate = deferred<void>();
      const order: string[] = [];
      const first = q.drain(async (l) => {
        order.push(`first:${l.id}`);
        await gate.promise;
      });
      const second = q.drain((l) => void order.push(`second:${l.id}`));
      await sleep(100);
      expect(order).toEqual([`first:${sent[0].id}`]);
      gate.resolve();
      await expect(first).resolves.toBe(2);
      await expect(second).resolves.toBe(0);
      expect(order).toEqual([`first:${sent[0].id}`, `first:${sent[1].id}`]);
    });

    it('logs a message that is not a dead letter under the context Resilience without onError', async () => {
      const q = queue();
      await q.publish(letter());
      await nc.jetstream().publish(`${q.subjectPrefix}.junk`, sc.encode('[]'));
      const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      try {
        await expect(q.drain(() => undefined)).resolves.toBe(1);
        expect(logged).toHaveBeenCalledTimes(1);
        expect(logged.mock.contexts[0]).toMatchObject({ context: 'Resilience' });
        expect(String(logged.mock.calls[0][0])).toMatch(
          new RegExp(`deleted message 2 of stream "${q.stream}", which is not a dead letter`),
        );
      } finally {
        logged.mockRestore();
      }
      expect(await count(q.stream)).toBe(0);
    });

    it('reports a message that is not a dead letter to onError, never to the handler, and deletes it', async () => {
      const q = queue();
      const good = [letter(), letter()];
      await q.publish(good[0]);
      await nc.jetstream().publish(`${q.subjectPrefix}.junk`, sc.encode('not json'));
      await nc.jetstream().publish(`${q.subjectPrefix}.junk`, sc.encode('{"id":1}'));
      await q.publish(good[1]);
      const seen: Letter[] = [];
      const errors: Array<[unknown, string]> = [];
      await expect(
        q.drain((l) => void seen.push(l), { onError: (e, raw) => void errors.push([e, raw]) }),
      ).resolves.toBe(2);
      expect(seen).toEqual(good);
      expect(errors.map(([, raw]) => raw)).toEqual(['not json', '{"id":1}']);
      expect(errors.every(([e]) => e instanceof MalformedDeadLetterError)).toBe(true);
      expect((errors[1][0] as Error).message).toContain('"id" must be a string');
      expect(await count(q.stream)).toBe(0);
    });
  });

  describe('consume', () => {
    it('hands letters to the handler as they arrive, acknowledges and deletes them', async () => {
      const q = queue();
      const sent = [letter(), letter(), letter()];
      await q.publish(sent[0]);
      const seen: Letter[] = [];
      const sub = await q.consume((l) => void seen.push(l), { durable: 'worker' });
      await q.publish(sent[1]);
      await q.publish(sent[2]);
      await eventually(() => seen.length === 3);
      expect(seen).toEqual(sent);
      await eventually(async () => (await count(q.stream)) === 0);
      await sub.stop();
      const info = await jsm.consumers.info(q.stream, 'worker');
      expect(info.num_ack_pending).toBe(0);
      expect(info.num_pending).toBe(0);
    });

    it('delivers a letter again after nakDelay when the handler fails', async () => {
      const q = queue();
      const sent = letter();
      await q.publish(sent);
      const calls: number[] = [];
      const sub = await q.consume(
        (l) => {
          expect(l).toEqual(sent);
          calls.push(Date.now());
          if (calls.length === 1) throw new Error('not yet');
        },
        { nakDelay: 400 },
      );
      await eventually(() => calls.length === 2);
      expect(calls[1] - calls[0]).toBeGreaterThanOrEqual(350);
      expect(calls[1] - calls[0]).toBeLessThan(3_000);
      await eventually(async () => (await count(q.stream)) === 0);
      await sub.stop();
    });

    it('terminates a letter after maxDeliver failed deliveries, reports it and leaves it for drain()', async () => {
      const q = queue();
      const sent = letter();
      await q.publish(sent);
      let calls = 0;
      const errors: Array<[unknown, string]> = [];
      const sub = await q.consume(
        () => {
          calls++;
          throw new Error(`failure ${calls}`);
        },
        { maxDeliver: 2, nakDelay: 50, onError: (e, raw) => void errors.push([e, raw]) },
      );
      await eventually(() => errors.length === 1);
      await sleep(400);
      expect(calls).toBe(2);
      expect((errors[0][0] as Error).message).toBe('failure 2');
      expect(JSON.parse(errors[0][1])).toEqual(sent);
      await sub.stop();
      expect(await count(q.stream)).toBe(1);
      const drained: Letter[] = [];
      await expect(q.drain((l) => void drained.push(l))).resolves.toBe(1);
      expect(drained).toEqual([sent]);
    });

    it('reports a malformed message to onError, never to the handler, and removes it', async () => {
      const q = queue();
      const good = letter();
      await q.publish(good);
      await nc.jetstream().publish(`${q.subjectPrefix}.junk`, sc.encode('{"broken"'));
      const seen: Letter[] = [];
      const errors: Array<[unknown, string]> = [];
      const sub = await q.consume((l) => void seen.push(l), {
        onError: (e, raw) => void errors.push([e, raw]),
      });
      await eventually(() => seen.length === 1 && errors.length === 1);
      expect(seen).toEqual([good]);
      expect(errors[0][0]).toBeInstanceOf(MalformedDeadLetterError);
      expect(errors[0][1]).toBe('{"broken"');
      await eventually(async () => (await count(q.stream)) === 0);
      await sub.stop();
    });

    it('stop() waits for the handler in flight and keeps the durable consumer', async () => {
      const q = queue();
      await q.publish(letter());
      const held = heldHandler();
      const sub = await q.consume(held.handler);
      await expectStopWaitsFor(held, () => sub.stop());
      expect(await count(q.stream)).toBe(0);
      await expect(jsm.consumers.info(q.stream, 'resilience-dlq')).resolves.toMatchObject({
        name: 'resilience-dlq',
      });
    });
    it('close() gives a stuck handler at most closeTimeout, then closes the connection', async () => {
      const p = await proxy();
      await p.open();
      const q = queue({ servers: p.url, closeTimeout: 200 });
      await q.publish(letter());
      const stuck = heldHandler();
      const intervals = jest.spyOn(global, 'setInterval');
      try {
        await q.consume(stuck.handler, { ackWait: 200 });
        await stuck.started;
        expect(p.live).toBe(1);
        await expectCloseGivesUp(() => q.close(), 200);
        await eventually(() => p.live === 0, 2_000);
        // the handler's in-progress timer does not keep the process alive
        const timer = intervals.mock.results.at(-1)?.value as NodeJS.Timeout;
        expect(timer.hasRef()).toBe(false);
      } finally {
        intervals.mockRestore();
        stuck.release();
      }
      await sleep(20);
      // neither acknowledged nor deleted: JetStream delivers it again later
      expect(await count(q.stream)).toBe(1);
    });

    it('close() waits for the handler in flight before closing the connection', async () => {
      const q = queue();
      await q.publish(letter());
      const held = heldHandler();
      await q.consume(held.handler);
      await expectStopWaitsFor(held, () => q.close());
      expect(await count(q.stream)).toBe(0); // handled, deleted and acknowledged before the close
    });

    it('close() stops the subscriptions before closing the connection', async () => {
      const q = queue();
      await q.publish(letter());
      const seen: Letter[] = [];
      await q.consume((l) => void seen.push(l));
      await eventually(() => seen.length === 1);
      await q.close();
      await nc.jetstream().publish(q.subjectFor('later'), sc.encode(JSON.stringify(letter())));
      await sleep(200);
      expect(seen).toHaveLength(1);
      expect(await count(q.stream)).toBe(1);
    });
  });

  describe('when NATS is unavailable', () => {
    it('rejects fast on a port where nothing listens, and again on the next publish', async () => {
      const port = await freePort();
      const q = queue({ servers: `nats://127.0.0.1:${port}` });
      for (let i = 0; i < 2; i++) {
        await expectFastRejection(q.publish(letter()), /cannot connect to NATS/);
      }
    });

    it('connects on a later publish once the server is reachable', async () => {
      const p = await proxy();
      const q = queue({ servers: p.url });
      await expectFastRejection(q.publish(letter()), /cannot connect to NATS/);
      await p.open();
      const sent = letter();
      await q.publish(sent);
      expect(JSON.parse(sc.decode((await stored(q.stream))[0].data))).toEqual(sent);
    });

    it('rejects fast while reconnecting, without queueing the letter in the client, then reconnects', async () => {
      const p = await proxy();
      await p.open();
      const q = queue({ servers: p.url, connectionOptions: { reconnectTimeWait: 100 } });
      await q.publish(letter());
      await p.shut();
      await sleep(100);
      const lost = letter();
      await expectFastRejection(q.publish(lost), /not connected to NATS/);
      await p.open();
      const after = letter();
      await eventually(
        () =>
          q.publish(after).then(
            () => true,
            () => false,
          ),
        10_000,
      );
      await sleep(200);
      const ids = (await stored(q.stream)).map((m) => JSON.parse(sc.decode(m.data)).id);
      expect(ids).toHaveLength(2);
      expect(ids).toContain(after.id);
      expect(ids).not.toContain(lost.id);
    });
  });

  describe('with ResilienceModule', () => {
    const apps = useTestApps();

    it('publishes the letter of a failed call into the stream', async () => {
      const q = queue();
      const { orders } = await startOrders(apps, q);
      await expect(orders.place('o-1')).rejects.toThrow('order o-1 failed (#2)');
      const [message] = await stored(q.stream);
      expect(message.subject).toBe(q.subjectFor('Orders.place'));
      expect(JSON.parse(sc.decode(message.data))).toMatchObject({
        policy: 'Orders.place',
        target: 'Orders.place',
        args: ['o-1'],
        attempts: 2,
        error: { name: 'UpstreamError', message: 'order o-1 failed (#2)' },
      });
    });

    it('buffers the letter while NATS is unreachable and delivers it once it is back', async () => {
      const p = await proxy();
      const q = queue({ servers: p.url });
      const { orders, deadLetters, flushed } = await startOrders(apps, q);
      await expect(orders.place('o-2')).rejects.toThrow(UpstreamError);
      expect(deadLetters().buffered).toBeGreaterThanOrEqual(1);
      await p.open();
      await flushed(10_000);
      const messages = await stored(q.stream);
      expect(messages.map((m) => JSON.parse(sc.decode(m.data)).args)).toEqual([['o-2']]);
      expect(deadLetters().published).toBe(1);
    });

    it('closes its own connection when the application closes', async () => {
      const p = await proxy();
      await p.open();
      const q = queue({ servers: p.url });
      const { app, orders } = await startOrders(apps, q);
      await expect(orders.place('o-3')).rejects.toThrow(UpstreamError);
      expect(p.live).toBe(1);
      await apps.close(app);
      await eventually(() => p.live === 0, 2_000);
      await expect(q.publish(letter())).rejects.toThrow(/closed/);
    });

    it('leaves a connection it was given open', async () => {
      const own = await connect({ servers: NATS_URL });
      try {
        const q = queue({ connection: own });
        const { app, orders } = await startOrders(apps, q);
        await expect(orders.place('o-4')).rejects.toThrow(UpstreamError);
        expect(await count(q.stream)).toBe(1);
        await apps.close(app);
        expect(own.isClosed()).toBe(false);
        await expect(own.flush()).resolves.toBeUndefined();
        await expect(
          own.jetstream().publish(`${q.subjectPrefix}.probe`, sc.encode('x')),
        ).resolves.toMatchObject({ stream: q.stream });
      } finally {
        await own.close();
      }
    });
  });
});
