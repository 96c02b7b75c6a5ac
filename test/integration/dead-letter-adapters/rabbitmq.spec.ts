import { Logger } from '@nestjs/common';
import * as amqp from 'amqplib';
import { randomUUID } from 'node:crypto';
import { MalformedDeadLetterError, ResilienceConfigError } from '../../../lib';
import { RabbitMqDeadLetterQueue, RequeueLimitExceededError } from '../../../lib/rabbitmq';
import { UpstreamError } from '../../fixtures/flaky-client';
import { sleep, useTestApps, waitFor } from '../../fixtures/testing-app';
import { describeWithService, freePort, RABBITMQ, RABBITMQ_URL } from '../../utils/services';
import { withPort } from '../../utils/tcp-proxy';
import {
  expectCloseGivesUp,
  expectFastRejection,
  expectStopWaitsFor,
  heldHandler,
  itRejectsBadOptions,
  letter,
  proxyTo,
  startOrders,
  useCleanup,
  type Letter as DeadLetter,
} from './shared';

describe('RabbitMqDeadLetterQueue options', () => {
  itRejectsBadOptions('RabbitMqDeadLetterQueue', (o) => new RabbitMqDeadLetterQueue(o), [
    [{ publishTimeout: 0 }, 'publishTimeout'],
    [{ connectTimeout: -1 }, 'connectTimeout'],
    [{ connectTimeout: Infinity }, 'connectTimeout'],
    [{ maxRequeues: 1.5 }, 'maxRequeues'],
    [{ requeueDelay: -5 }, 'requeueDelay'],
    [{ prefetch: 0 }, 'prefetch'],
    [{ prefetch: 70_000 }, 'prefetch'],
    [{ exchange: '' }, 'exchange'],
    [{ queue: 'amq.mine' }, 'queue'],
    [{ url: 'http://localhost' }, 'url'],
    [{ queueArguments: 'x' }, 'queueArguments'],
    [{ connection: {} }, 'connection'],
    [{ publishTimout: 100 }, 'publishTimout'],
  ]);

  it('refuses url together with a connection', () => {
    const connection = { createChannel() {}, createConfirmChannel() {}, on() {} };
    expect(() => new RabbitMqDeadLetterQueue({ connection, url: RABBITMQ_URL } as never)).toThrow(
      expect.objectContaining({ key: 'url' }),
    );
  });

  it('rejects bad consume and drain options before connecting', async () => {
    const queue = new RabbitMqDeadLetterQueue({ url: withPort(RABBITMQ_URL, await freePort()) });
    await expect(queue.consume(() => undefined, { maxRequeues: -1 })).rejects.toMatchObject({
      key: 'maxRequeues',
    });
    await expect(queue.consume(() => undefined, { prefetch: 2.5 })).rejects.toBeInstanceOf(
      ResilienceConfigError,
    );
    await expect(queue.drain(() => undefined, { onError: 'log' } as never)).rejects.toMatchObject({
      key: 'onError',
    });
    await queue.close();
  });
});

describeWithService(RABBITMQ, 'RabbitMqDeadLetterQueue against RabbitMQ', () => {
  let admin: amqp.ChannelModel;
  const cleanup = useCleanup();

  beforeAll(async () => {
    admin = await amqp.connect(RABBITMQ_URL);
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    await admin.close();
  });

  /** Unique exchange and queue names, deleted after the test. */
  function names(label = 'dlq') {
    const id = `test.${label}.${randomUUID()}`;
    const created = { exchange: `${id}.x`, queue: `${id}.q` };
    cleanup(() =>
      withChannel(async (channel) => {
        await channel.deleteQueue(created.queue);
        await channel.deleteExchange(created.exchange);
      }),
    );
    return created;
  }

  /** A queue of the test's own, closed after it; `connection` (yours) replaces the url. */
  function adapter(options: ConstructorParameters<typeof RabbitMqDeadLetterQueue>[0] = {}) {
    const queue = new RabbitMqDeadLetterQueue({
      ...(options.connection ? {} : { url: RABBITMQ_URL }),
      ...names(),
      ...options,
    });
    cleanup(() => queue.close());
    return queue;
  }

  const proxy = () => proxyTo(cleanup, RABBITMQ, RABBITMQ_URL);

  /** A connection of the test's own, closed after it. */
  async function ownConnection() {
    const connection = await amqp.connect(RABBITMQ_URL);
    cleanup(() => connection.close());
    return connection;
  }

  /** Runs `fn` on a fresh admin channel (a failed operation closes only that channel). */
  async function withChannel<T>(fn: (channel: amqp.Channel) => Promise<T>): Promise<T> {
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  const depth = (queue: string) =>
    withChannel(async (channel) => (await channel.checkQueue(queue)).messageCount);

  /** Takes every message waiting in `queue` (acknowledged). */
  const takeAll = (queue: string) =>
    withChannel(async (channel) => {
      const messages: amqp.GetMessage[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (message === false) return messages;
        messages.push(message);
      }
    });

  const lettersIn = async (queue: string) =>
    (await takeAll(queue)).map((m) => JSON.parse(m.content.toString('utf8')) as DeadLetter);

  describe('publish and drain', () => {
    it('drains the published letters in order, equal to what was published', async () => {
      const queue = adapter();
      const letters = [1, 2, 3, 4, 5].map((n) => letter(n));
      for (const l of letters) await queue.publish(l);
      expect(await depth(queue.queue)).toBe(5);

      const drained: DeadLetter[] = [];
      await expect(queue.drain((l) => void drained.push(l))).resolves.toBe(5);
      expect(drained).toEqual(letters);
      expect(await depth(queue.queue)).toBe(0);
      await expect(queue.drain(() => undefined)).resolves.toBe(0);
    });

    it('publishes persistent JSON with the routing key dlq.<policy>, messageId and headers', async () => {
      const queue = adapter();
      const one = letter(1, { policy: 'card-gateway', target: 'Cards.authorize' });
      const zero = letter(0);
      await queue.publish(zero); // declares the exchange
      const mine = names('tap').queue;
      const other = names('other').queue;
      await withChannel(async (channel) => {
        await channel.assertQueue(mine, { durable: false });
        await channel.bindQueue(mine, queue.exchange, 'dlq.#');
        await channel.assertQueue(other, { durable: false });
        await channel.bindQueue(other, queue.exchange, 'dlq.payments');
      });

      await queue.publish(one);
      const [message, ...rest] = await takeAll(mine);
      expect(rest).toHaveLength(0);
      expect(message.fields).toMatchObject({
        exchange: queue.exchange,
        routingKey: 'dlq.card-gateway',
      });
      expect(message.properties).toMatchObject({
        contentType: 'application/json',
        deliveryMode: 2,
        messageId: one.id,
        headers: {
          'x-error': 'UpstreamError: charge 1 failed',
          'x-original-target': 'Cards.authorize',
        },
      });
      expect(JSON.parse(message.content.toString('utf8'))).toEqual(one);
      expect(await depth(other)).toBe(0); // routed by key: dlq.card-gateway is not dlq.payments
      expect(await lettersIn(queue.queue)).toEqual([zero, one]);
    });

    it('a failing handler stops the drain; that letter and the later ones stay, in order', async () => {
      const queue = adapter();
      const letters = [1, 2, 3, 4, 5].map((n) => letter(n));
      for (const l of letters) await queue.publish(l);

      const seen: DeadLetter[] = [];
      const failure = new Error('handler failed');
      await expect(
        queue.drain((l) => {
          seen.push(l);
          if (seen.length === 3) throw failure;
        }),
      ).rejects.toBe(failure);
      expect(seen).toEqual(letters.slice(0, 3));
      expect(await depth(queue.queue)).toBe(3);

      const rest: DeadLetter[] = [];
      await expect(queue.drain(async (l) => void rest.push(l))).resolves.toBe(3);
      expect(rest).toEqual(letters.slice(2));
    });

    it('drains only the letters waiting when it starts', async () => {
      const queue = adapter();
      await queue.publish(letter(1));
      await queue.publish(letter(2));
      const republished: DeadLetter[] = [];
      const count = await queue.drain(async (l) => {
        const again = { ...l, id: randomUUID() };
        republished.push(again);
        await queue.publish(again);
      });
      expect(count).toBe(2);
      expect(await lettersIn(queue.queue)).toEqual(republished);
    });

    it('reports a message that is not a dead letter to onError and removes it', async () => {
      const queue = adapter();
      const first = letter(1);
      const last = letter(2);
      await queue.publish(first);
      await withChannel(async (channel) => {
        channel.sendToQueue(queue.queue, Buffer.from('not json'));
        channel.sendToQueue(queue.queue, Buffer.from(JSON.stringify({ ...first, attempts: 'x' })));
      });
      await queue.publish(last);

      const handled: DeadLetter[] = [];
      const errors: Array<[Error, string]> = [];
      const count = await queue.drain((l) => void handled.push(l), {
        onError: (error, message) => errors.push([error, message.content.toString('utf8')]),
      });
      expect(count).toBe(2);
      expect(handled).toEqual([first, last]);
      expect(errors.map(([e]) => e)).toEqual([
        expect.any(MalformedDeadLetterError),
        expect.objectContaining({ message: expect.stringContaining('"attempts"') }),
      ]);
      expect(errors[0][1]).toBe('not json');
      expect(await depth(queue.queue)).toBe(0);
    });
  });

  describe('confirms', () => {
    it('rejects a letter the broker nacks (queue full, reject-publish)', async () => {
      const queue = adapter({
        queueArguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
      });
      await expect(queue.publish(letter(1))).resolves.toBeUndefined();
      await expect(queue.publish(letter(2))).rejects.toThrow(/nack/);
      expect(await depth(queue.queue)).toBe(1);
      // the channel is still usable once there is room again
      await queue.drain(() => undefined);
      await expect(queue.publish(letter(3))).resolves.toBeUndefined();
    });

    it('rejects a letter no queue receives (mandatory, returned)', async () => {
      const queue = adapter();
      await queue.publish(letter(1));
      await withChannel((channel) => channel.unbindQueue(queue.queue, queue.exchange, 'dlq.#'));
      await expect(queue.publish(letter(2))).rejects.toThrow(/could not route/);
      expect(await depth(queue.queue)).toBe(1);
    });

    it('opens a new channel and declares the exchange again after the broker closed it', async () => {
      const queue = adapter();
      await queue.publish(letter(1));
      await withChannel((channel) => channel.deleteExchange(queue.exchange));
      // the broker closes the channel on a publish to a missing exchange (404)
      await expect(queue.publish(letter(2))).rejects.toThrow(/channel closed.*NOT_FOUND/i);
      const third = letter(3);
      await queue.publish(third);
      const ids = (await lettersIn(queue.queue)).map((l) => l.id);
      expect(ids).toHaveLength(2);
      expect(ids[1]).toBe(third.id);
    });

    it('64 concurrent publishes share one connection', async () => {
      const p = await proxy();
      await p.open();
      const queue = adapter({ url: p.url });
      await Promise.all(Array.from({ length: 64 }, (_, i) => queue.publish(letter(i))));
      expect(p.accepted).toBe(1);
      expect(await depth(queue.queue)).toBe(64);
    });

    it('a publish the broker does not confirm in time rejects, and the next one reconnects', async () => {
      const p = await proxy();
      await p.open();
      const queue = adapter({ url: p.url, publishTimeout: 200 });
      const first = letter(1);
      await queue.publish(first);

      p.paused = true;
      await expectFastRejection(
        queue.publish(letter(2)),
        'did not confirm the message within 200ms',
        1_000,
      );
      // the silent connection is dropped (its close is never answered, so its socket is destroyed)
      await waitFor(() => p.live === 0, 2_000);

      p.paused = false;
      const third = letter(3);
      await queue.publish(third);
      expect(p.accepted).toBe(2);
      expect(await lettersIn(queue.queue)).toEqual([first, third]);
    });
  });

  describe('consume', () => {
    it('acknowledges each letter the handler took', async () => {
      const queue = adapter();
      const letters = [1, 2, 3].map((n) => letter(n));
      for (const l of letters) await queue.publish(l);
      const handled: DeadLetter[] = [];
      const subscription = await queue.consume(async (l) => void handled.push(l));
      await waitFor(() => handled.length === 3);
      await subscription.stop();
      expect(handled).toEqual(letters);
      expect(await depth(queue.queue)).toBe(0);

      // a letter published later is not handed to a stopped subscription
      await queue.publish(letter(4));
      await sleep(50);
      expect(handled).toHaveLength(3);
      expect(await depth(queue.queue)).toBe(1);
    });

    it('puts a failed letter back, counting in x-requeue-count, until the handler takes it', async () => {
      const queue = adapter();
      const one = letter(1);
      const seen: DeadLetter[] = [];
      const onError = jest.fn();
      const subscription = await queue.consume(
        (l) => {
          seen.push(l);
          if (seen.length < 3) throw new Error(`not yet (${seen.length})`);
        },
        { maxRequeues: 5, requeueDelay: 20, onError },
      );
      await queue.publish(one);
      await waitFor(() => seen.length === 3);
      await subscription.stop();
      expect(seen).toEqual([one, one, one]);
      expect(onError).not.toHaveBeenCalled();
      expect(await depth(queue.queue)).toBe(0);
    });

    it('rejects a letter after maxRequeues to the queue’s dead-letter exchange and reports it', async () => {
      const parked = names('parked');
      await withChannel(async (channel) => {
        await channel.assertExchange(parked.exchange, 'fanout', { durable: false });
        await channel.assertQueue(parked.queue, { durable: false });
        await channel.bindQueue(parked.queue, parked.exchange, '');
      });
      const queue = adapter({
        queueArguments: { 'x-dead-letter-exchange': parked.exchange },
        requeueDelay: 10,
      });
      const one = letter(1);
      let calls = 0;
      const failure = new Error('still broken');
      const errors: Error[] = [];
      const subscription = await queue.consume(
        () => {
          calls++;
          throw failure;
        },
        { maxRequeues: 2, onError: (error) => errors.push(error) },
      );
      await queue.publish(one);
      await waitFor(() => errors.length === 1);
      await subscription.stop();

      expect(calls).toBe(3);
      expect(errors[0]).toBeInstanceOf(RequeueLimitExceededError);
      expect(errors[0]).toMatchObject({ letter: one, deliveries: 3, cause: failure });
      expect(await depth(queue.queue)).toBe(0);
      const [message, ...rest] = await takeAll(parked.queue);
      expect(rest).toHaveLength(0);
      expect(JSON.parse(message.content.toString('utf8'))).toEqual(one);
      expect(message.properties.headers).toMatchObject({ 'x-requeue-count': 2 });
    });

    it('sends malformed messages to onError, never to the handler', async () => {
      const queue = adapter();
      const handled: DeadLetter[] = [];
      const errors: Error[] = [];
      const subscription = await queue.consume((l) => void handled.push(l), {
        onError: (error) => errors.push(error),
      });
      await withChannel(async (channel) => {
        channel.sendToQueue(queue.queue, Buffer.from('{"id":'));
      });
      const good = letter(1);
      await queue.publish(good);
      await waitFor(() => handled.length === 1 && errors.length === 1);
      await subscription.stop();
      expect(handled).toEqual([good]);
      expect(errors[0]).toBeInstanceOf(MalformedDeadLetterError);
      expect(await depth(queue.queue)).toBe(0);
    });

    it('stop() waits for the handler in flight, then the letter is acknowledged', async () => {
      const queue = adapter();
      const held = heldHandler();
      const subscription = await queue.consume(held.handler);
      await queue.publish(letter(1));
      await expectStopWaitsFor(held, () => subscription.stop());
      expect(await depth(queue.queue)).toBe(0);
    });

    it('close() gives a stuck handler at most closeTimeout; its letter goes back to the queue', async () => {
      const queue = adapter({ connection: await ownConnection(), closeTimeout: 200 });
      const stuck = heldHandler();
      await queue.consume(stuck.handler);
      await queue.publish(letter(1));
      await stuck.started;
      try {
        await expectCloseGivesUp(() => queue.close(), 200);
      } finally {
        stuck.release();
      }
      // the consumer's channel was closed under the handler: the letter is ready again
      expect(await depth(queue.queue)).toBe(1);
    });

    it('close() while the consumer is reconnecting logs no error', async () => {
      const p = await proxy();
      await p.open();
      const queue = adapter({ url: p.url, connectTimeout: 3_000 });
      await queue.consume(() => undefined);
      const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        await p.shut(); // the consumer loses its channel and reconnects...
        p.holdMs = 300; // ...through a broker slow to answer
        await p.open();
        await waitFor(() => p.accepted === 2, 3_000);
        await queue.close(); // while that connection is still opening
        await sleep(50);
        expect(errors).not.toHaveBeenCalled();
      } finally {
        errors.mockRestore();
        warnings.mockRestore();
      }
    });

    it('starts again by itself after the broker connection was lost', async () => {
      const p = await proxy();
      await p.open();
      const queue = adapter({ url: p.url });
      const handled: DeadLetter[] = [];
      const subscription = await queue.consume((l) => void handled.push(l));
      const before = letter(1);
      await queue.publish(before);
      await waitFor(() => handled.length === 1);

      await p.shut();
      await sleep(50);
      await p.open();
      const after = letter(2);
      await withChannel(async (channel) => {
        channel.publish(queue.exchange, 'dlq.payments', Buffer.from(JSON.stringify(after)));
      });
      await waitFor(() => handled.some((l) => l.id === after.id), 3_000);
      // at least once: `before` comes again when its ack was cut off with the connection
      expect(handled[0]).toEqual(before);
      expect(handled.at(-1)).toEqual(after);
      for (const l of handled) expect([before, after]).toContainEqual(l);
      await subscription.stop();
    });
  });

  describe('when the broker is unavailable', () => {
    it('publish, drain and consume reject fast on a port nobody listens on', async () => {
      const queue = adapter({ url: withPort(RABBITMQ_URL, await freePort()) });
      for (const call of [
        () => queue.publish(letter(1)),
        () => queue.drain(() => undefined),
        () => queue.consume(() => undefined),
      ]) {
        await expectFastRejection(call(), /Cannot connect to RabbitMQ.*ECONNREFUSED/);
      }
    });

    it('publish rejects within connectTimeout when the broker accepts but never answers', async () => {
      const silent = await proxy();
      silent.paused = true; // takes connections, forwards nothing: no answer ever comes
      await silent.open();
      const queue = adapter({ url: silent.url, connectTimeout: 300 });
      const { ms: took } = await expectFastRejection(
        queue.publish(letter(1)),
        /within 300ms|ETIMEDOUT/,
      );
      expect(took).toBeGreaterThanOrEqual(250);
    });
  });

  it('rejects at once while the broker blocks the connection (resource alarm)', async () => {
    const connection = await ownConnection();
    const queue = adapter({ connection });
    await queue.publish(letter(1));

    connection.emit('blocked', 'low on memory');
    await expect(queue.publish(letter(2))).rejects.toThrow(/blocked.*low on memory/);
    connection.emit('unblocked');
    await queue.publish(letter(3));
    expect(await depth(queue.queue)).toBe(2);
  });

  describe('with ResilienceModule', () => {
    const apps = useTestApps();

    it('a failed call leaves its letter in RabbitMQ; app.close() closes the connection', async () => {
      const p = await proxy();
      await p.open();
      const queue = adapter({ url: p.url });
      const { app, orders, deadLetters } = await startOrders(apps, queue);

      await expect(orders.place('ada', 42)).rejects.toThrow('order ada 42 failed (#2)');
      expect(deadLetters()).toMatchObject({ published: 1, buffered: 0 });
      const [stored] = await lettersIn(queue.queue);
      expect(stored).toMatchObject({
        policy: 'Orders.place',
        target: 'Orders.place',
        args: ['ada', 42],
        attempts: 2,
        error: { name: 'UpstreamError', message: 'order ada 42 failed (#2)' },
      });
      expect(p.live).toBe(1);

      await apps.close(app);
      await waitFor(() => p.live === 0, 1_000);
      await expect(queue.publish(letter(1))).rejects.toThrow(/closed/);
    });

    it('buffers letters while the broker is away and delivers them when it is back', async () => {
      const p = await proxy(); // not listening yet: connections are refused
      const queue = adapter({ url: p.url });
      const { orders, deadLetters, flushed } = await startOrders(apps, queue);

      await expect(orders.place('ada', 1)).rejects.toThrow(UpstreamError);
      expect(deadLetters().buffered).toBeGreaterThanOrEqual(1);
      await expect(orders.place('bob', 2)).rejects.toThrow(UpstreamError);
      expect(deadLetters().buffered).toBe(2);

      await p.open();
      await flushed(3_000);
      expect((await lettersIn(queue.queue)).map((l) => l.args)).toEqual([
        ['ada', 1],
        ['bob', 2],
      ]);

      // an outage of a live connection: the adapter reconnects by itself
      await p.shut();
      await expect(orders.place('cy', 3)).rejects.toThrow(UpstreamError);
      expect(deadLetters().buffered).toBe(1);
      await p.open();
      await flushed(3_000);
      expect((await lettersIn(queue.queue)).map((l) => l.args)).toEqual([['cy', 3]]);
      expect(deadLetters().dropped).toBe(0);
    });

    it('never closes a connection it was given', async () => {
      const connection = await ownConnection();
      const closed = jest.fn();
      connection.on('close', closed);
      const queue = adapter({ connection });
      const { app, orders } = await startOrders(apps, queue);

      await expect(orders.place('ada', 7)).rejects.toThrow(UpstreamError);
      await apps.close(app);
      expect(closed).not.toHaveBeenCalled();
      const channel = await connection.createChannel();
      expect((await channel.checkQueue(queue.queue)).messageCount).toBe(1);
      await channel.close();
      expect(connection.listenerCount('close')).toBe(1); // only the test's own listener is left
    });
  });
});
