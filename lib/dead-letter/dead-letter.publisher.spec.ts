import { FakeClock } from '../../test/utils/fake-clock';
import { TrackedScheduler } from '../common/scheduler';
import type { DeadLetterEvent } from '../common/events';
import type { DeadLetter, DeadLetterQueue } from './dead-letter.interface';
import { DeadLetterBufferOptions, resolveDeadLetterBufferOptions } from './dead-letter.options';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { InMemoryDeadLetterQueue } from './in-memory-dead-letter-queue';

const letter = (id: string): DeadLetter => ({
  id,
  policy: 'p',
  target: 'Svc.method',
  args: [],
  error: { name: 'Error', message: 'e' },
  attempts: 1,
  failedAt: '2026-01-01T00:00:00.000Z',
});

/**
 * A queue whose `publish` does what the test says: 'ok' stores the letter, 'fail' rejects,
 * 'hang' never settles. Every call is recorded.
 */
class ScriptedQueue implements DeadLetterQueue {
  mode: 'ok' | 'fail' | 'hang' | 'throw' = 'ok';
  readonly stored: string[] = [];
  readonly calls: string[] = [];
  publish(l: DeadLetter): Promise<void> {
    this.calls.push(l.id);
    switch (this.mode) {
      case 'ok':
        this.stored.push(l.id);
        return Promise.resolve();
      case 'fail':
        return Promise.reject(new Error('broker down'));
      case 'throw':
        throw new Error('sync failure');
      case 'hang':
        return new Promise<void>(() => undefined);
    }
  }
}

function setup(buffer: DeadLetterBufferOptions = {}, queue: DeadLetterQueue = new ScriptedQueue()) {
  const clock = new FakeClock();
  const logger = { log: jest.fn(), warn: jest.fn(), error: jest.fn() };
  const options = resolveDeadLetterBufferOptions({
    capacity: 10,
    publishTimeout: 100,
    initialDelay: 1_000,
    maxDelay: 8_000,
    multiplier: 2,
    ...buffer,
  });
  const publisher = new DeadLetterPublisher(queue, options, clock, clock, logger);
  return { clock, logger, publisher, queue: queue as ScriptedQueue };
}

describe('DeadLetterPublisher', () => {
  it('publishes straight to a working queue and counts it', async () => {
    const { publisher, queue, clock } = setup();
    await publisher.submit(letter('a'));
    expect(queue.stored).toEqual(['a']);
    expect(publisher.stats()).toEqual({
      published: 1,
      failedToPublish: 0,
      buffered: 0,
      dropped: 0,
      serializeFailures: 0,
    });
    expect(clock.pendingTimers).toBe(0);
  });

  it.each(['fail', 'throw'] as const)(
    'buffers a letter whose publish fails (%s), warns once, and retries with exponential backoff',
    async (mode) => {
      const { publisher, queue, clock, logger } = setup();
      queue.mode = mode;
      await publisher.submit(letter('a'));
      await publisher.submit(letter('b')); // buffered behind 'a', no publish of its own
      expect(queue.calls).toEqual(['a']);
      expect(publisher.stats()).toMatchObject({ published: 0, failedToPublish: 1, buffered: 2 });
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(logger.warn.mock.calls[0][0]).toMatch(/failed to publish/);

      // attempts at +1000, then +2000, +4000, +8000, +8000 (capped): each tries the oldest
      const attemptsAt: number[] = [];
      const start = clock.now();
      const spy = jest.spyOn(queue, 'publish');
      spy.mockImplementation((l) => {
        attemptsAt.push(clock.now() - start);
        return ScriptedQueue.prototype.publish.call(queue, l);
      });
      await clock.advance(1_000 + 2_000 + 4_000 + 8_000 + 8_000);
      expect(attemptsAt).toEqual([1_000, 3_000, 7_000, 15_000, 23_000]);
      expect(queue.calls.slice(1)).toEqual(['a', 'a', 'a', 'a', 'a']);
      expect(publisher.stats()).toMatchObject({ failedToPublish: 6, buffered: 2 });
      expect(logger.warn).toHaveBeenCalledTimes(1);

      // recovery: the next attempt publishes the whole buffer, oldest first, and logs it
      queue.mode = 'ok';
      await clock.advance(8_000);
      expect(queue.stored).toEqual(['a', 'b']);
      expect(publisher.stats()).toMatchObject({ published: 2, buffered: 0, dropped: 0 });
      expect(logger.log).toHaveBeenCalledTimes(1);
      expect(clock.pendingTimers).toBe(0);

      // the backoff starts over for the next outage, with a new warning
      queue.mode = 'fail';
      await publisher.submit(letter('c'));
      expect(logger.warn).toHaveBeenCalledTimes(2);
      queue.mode = 'ok';
      await clock.advance(999);
      expect(queue.stored).toEqual(['a', 'b']);
      await clock.advance(1);
      expect(queue.stored).toEqual(['a', 'b', 'c']);
    },
  );

  it('treats a publish that does not settle within publishTimeout as failed', async () => {
    const { publisher, queue, clock } = setup({ publishTimeout: 100 });
    queue.mode = 'hang';
    let settled = false;
    const submitted = publisher.submit(letter('a')).then(() => (settled = true));
    await clock.advance(99);
    expect(settled).toBe(false);
    await clock.advance(1);
    await submitted;
    expect(publisher.stats()).toMatchObject({ published: 0, failedToPublish: 1, buffered: 1 });

    // the retry of a hanging queue times out too, and the letter stays
    await clock.advance(1_000 + 100);
    expect(queue.calls).toEqual(['a', 'a']);
    expect(publisher.stats()).toMatchObject({ failedToPublish: 2, buffered: 1 });

    queue.mode = 'ok';
    await clock.advance(2_000);
    expect(queue.stored).toEqual(['a']);
    expect(publisher.stats()).toMatchObject({ published: 1, buffered: 0 });
  });

  it('keeps order: later letters wait behind the buffered ones', async () => {
    const { publisher, queue, clock } = setup();
    queue.mode = 'fail';
    await publisher.submit(letter('1'));
    queue.mode = 'ok'; // the queue works again, but '2' and '3' must not overtake '1'
    await publisher.submit(letter('2'));
    await publisher.submit(letter('3'));
    expect(queue.stored).toEqual([]);
    await clock.advance(1_000);
    expect(queue.stored).toEqual(['1', '2', '3']);
  });

  it('drops the oldest buffered letter when the buffer is full, counts it and logs once', async () => {
    const { publisher, queue, logger } = setup({ capacity: 3 });
    queue.mode = 'fail';
    for (const id of ['1', '2', '3', '4', '5']) await publisher.submit(letter(id));
    expect(publisher.stats()).toMatchObject({ buffered: 3, dropped: 2 });
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.error.mock.calls[0][0]).toMatch(/buffer is full/);
    queue.mode = 'ok';
    await publisher.close(10_000);
    expect(queue.stored).toEqual(['3', '4', '5']);
  });

  it('never drops the letter being published: the next oldest goes instead', async () => {
    const { publisher, queue, clock } = setup({ capacity: 2, publishTimeout: 100 });
    queue.mode = 'fail';
    await publisher.submit(letter('1'));
    await publisher.submit(letter('2'));
    queue.mode = 'hang';
    await clock.advance(1_000); // the retry of '1' is now in flight
    queue.mode = 'ok';
    await publisher.submit(letter('3')); // full: '2' is dropped, not '1'
    expect(publisher.stats()).toMatchObject({ buffered: 2, dropped: 1 });
    await clock.advance(100 + 2_000); // '1' times out, the next attempt delivers
    expect(queue.stored).toEqual(['1', '3']);
  });

  it("adds the queue's own drops to dropped", async () => {
    const queue = new InMemoryDeadLetterQueue(1);
    const { publisher } = setup({}, queue);
    await publisher.submit(letter('1'));
    await publisher.submit(letter('2'));
    expect(publisher.stats()).toMatchObject({ published: 2, dropped: 1 });
  });

  it('emits a dead-letter event per letter only while someone listens', async () => {
    const { publisher, clock } = setup();
    const events: DeadLetterEvent[] = [];
    await publisher.submit(letter('before'));
    const subscription = publisher.onEvent((event) => events.push(event));
    await publisher.submit(letter('a'));
    subscription.dispose();
    await publisher.submit(letter('after'));
    expect(events).toEqual([
      { type: 'dead-letter', name: 'p', at: clock.now(), letter: letter('a') },
    ]);
  });

  it('logs serializeArgs failures once per target and counts every one', () => {
    const { publisher, logger } = setup();
    publisher.serializeFailed('A.m', new Error('bad'));
    publisher.serializeFailed('A.m', new Error('bad'));
    publisher.serializeFailed('B.m', new Error('bad'));
    expect(publisher.stats().serializeFailures).toBe(3);
    expect(logger.warn).toHaveBeenCalledTimes(2);
  });

  describe('close()', () => {
    it('flushes the buffer to a queue that works again, without waiting for the backoff', async () => {
      const { publisher, queue, clock } = setup();
      queue.mode = 'fail';
      await publisher.submit(letter('1'));
      await publisher.submit(letter('2'));
      queue.mode = 'ok';
      await publisher.close(5_000);
      expect(queue.stored).toEqual(['1', '2']);
      expect(publisher.stats()).toMatchObject({ buffered: 0, dropped: 0 });
      expect(clock.pendingTimers).toBe(0);
    });

    it('keeps trying within the time limit, then logs what is left with a count', async () => {
      const { publisher, queue, clock, logger } = setup({ publishTimeout: 100 });
      queue.mode = 'fail';
      await publisher.submit(letter('1'));
      await publisher.submit(letter('2'));
      const attempts = queue.calls.length;
      let closed = false;
      const closing = publisher.close(3_000).then(() => (closed = true));
      await clock.advance(2_999);
      expect(closed).toBe(false);
      // attempts at once and after the next backoff (2000: the outage's third failure);
      // the one after that would fall past the limit
      expect(queue.calls.length - attempts).toBe(2);
      await clock.advance(1);
      await closing;
      expect(logger.error).toHaveBeenCalledTimes(1);
      const message = logger.error.mock.calls[0][0] as string;
      expect(message).toMatch(/^2 dead letter\(s\) could not be published before shutdown/);
      expect(message).toContain('"id":"1"');
      expect(message).toContain('"id":"2"');
      expect(publisher.stats()).toMatchObject({ buffered: 0, dropped: 2 });
    });

    it('is bounded by the time limit even when the queue hangs', async () => {
      const { publisher, queue, clock, logger } = setup({ publishTimeout: 5_000 });
      queue.mode = 'fail';
      await publisher.submit(letter('1'));
      queue.mode = 'hang';
      let closed = false;
      const closing = publisher.close(2_000).then(() => (closed = true));
      await clock.advance(1_999);
      expect(closed).toBe(false);
      await clock.advance(1);
      await closing;
      expect(logger.error.mock.calls[0][0]).toMatch(/^1 dead letter/);
    });

    it('returns at once with an empty buffer; later letters are published directly', async () => {
      const { publisher, queue, logger } = setup();
      await publisher.close(1_000);
      await publisher.submit(letter('late'));
      expect(queue.stored).toEqual(['late']);
      queue.mode = 'fail';
      await publisher.submit(letter('lost'));
      expect(logger.error).toHaveBeenCalledTimes(1);
      expect(logger.error.mock.calls[0][0]).toContain('"id":"lost"');
      expect(publisher.stats()).toMatchObject({ published: 1, failedToPublish: 1, dropped: 1 });
    });

    it('bounds the publish of a letter arriving after shutdown by publishTimeout', async () => {
      const { publisher, queue, logger } = setup({ publishTimeout: 50 });
      await publisher.close(1_000);
      queue.mode = 'hang';
      const started = Date.now();
      await publisher.submit(letter('after-close'));
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(publisher.stats()).toMatchObject({ published: 0, failedToPublish: 1, dropped: 1 });
      expect(logger.error.mock.calls[0][0]).toContain('within 50ms');
      expect(logger.error.mock.calls[0][0]).toContain('"id":"after-close"');
    });

    it('logs a letter whose first publish was in flight at close and then failed', async () => {
      const { publisher, queue, clock, logger } = setup({ publishTimeout: 100 });
      queue.mode = 'hang';
      let settled = false;
      const submitted = publisher.submit(letter('racing')).then(() => (settled = true));
      await publisher.close(1_000); // nothing buffered yet: returns at once
      await clock.advance(100); // the publish times out after close
      await submitted;
      expect(settled).toBe(true);
      expect(publisher.stats()).toMatchObject({ buffered: 0, dropped: 1, failedToPublish: 1 });
      expect(logger.error).toHaveBeenCalledTimes(1);
      expect(logger.error.mock.calls[0][0]).toContain('"id":"racing"');
    });

    it('ends a publish that hangs when the module clears its timers', async () => {
      const clock = new FakeClock();
      const scheduler = new TrackedScheduler(clock);
      const logger = { log: jest.fn(), warn: jest.fn(), error: jest.fn() };
      const queue = new ScriptedQueue();
      queue.mode = 'hang';
      const publisher = new DeadLetterPublisher(
        queue,
        resolveDeadLetterBufferOptions({ publishTimeout: 5_000 }),
        clock,
        scheduler,
        logger,
      );
      let settled = false;
      const submitted = publisher.submit(letter('stuck')).then(() => (settled = true));
      await publisher.close(1_000);
      scheduler.dispose(); // what the registry does last at shutdown
      await clock.advance(0);
      expect(settled).toBe(true);
      await submitted;
      expect(publisher.stats()).toMatchObject({ buffered: 0, dropped: 1 });
      expect(logger.error.mock.calls[0][0]).toContain('"id":"stuck"');
    });
  });
});
