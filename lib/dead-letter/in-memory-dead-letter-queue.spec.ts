import { ResilienceConfigError } from '../common/errors';
import type { DeadLetter } from './dead-letter.interface';
import { InMemoryDeadLetterQueue } from './in-memory-dead-letter-queue';

const letter = (id: string): DeadLetter => ({
  id,
  policy: 'p',
  target: 'Svc.method',
  args: [id],
  error: { name: 'Error', message: `failure ${id}` },
  attempts: 1,
  failedAt: '2026-01-01T00:00:00.000Z',
});

const ids = (letters: DeadLetter[]) => letters.map((l) => l.id);

async function filled(n: number, capacity?: number): Promise<InMemoryDeadLetterQueue> {
  const queue = new InMemoryDeadLetterQueue(capacity);
  for (let i = 1; i <= n; i++) await queue.publish(letter(`l${i}`));
  return queue;
}

describe('InMemoryDeadLetterQueue', () => {
  it('keeps letters oldest first; peek(n) shows the n oldest without removing them', async () => {
    const queue = await filled(3);
    expect(queue.size).toBe(3);
    expect(ids(await queue.peek(2))).toEqual(['l1', 'l2']);
    expect(ids(await queue.peek())).toEqual(['l1', 'l2', 'l3']);
    expect(ids(await queue.peek(10))).toEqual(['l1', 'l2', 'l3']);
    expect(await queue.peek(0)).toEqual([]);
    expect(queue.size).toBe(3);
    await expect(queue.peek(-1)).rejects.toThrow(RangeError);
  });

  it('defaults to a capacity of 10000', () => {
    expect(new InMemoryDeadLetterQueue().capacity).toBe(10_000);
  });

  it('drops the oldest letter when full and counts the drops', async () => {
    const queue = await filled(5, 3);
    expect(queue.size).toBe(3);
    expect(queue.dropped).toBe(2);
    expect(ids(await queue.peek())).toEqual(['l3', 'l4', 'l5']);
  });

  it('stays correct over many publishes and drains (storage compaction)', async () => {
    const queue = await filled(5_000, 100);
    expect(queue.dropped).toBe(4_900);
    expect(ids(await queue.peek(2))).toEqual(['l4901', 'l4902']);
    const seen: string[] = [];
    await queue.drain((l) => void seen.push(l.id));
    expect(seen).toHaveLength(100);
    expect(seen[99]).toBe('l5000');
    await queue.publish(letter('next'));
    expect(ids(await queue.peek())).toEqual(['next']);
  });

  it.each([0, -1, 1.5, NaN, '10'])('rejects capacity %p with a ResilienceConfigError', (bad) => {
    expect(() => new InMemoryDeadLetterQueue(bad as number)).toThrow(ResilienceConfigError);
    expect(() => new InMemoryDeadLetterQueue(bad as number)).toThrow(/"capacity"/);
  });

  it('drain hands letters over oldest first and removes each once its handler resolves', async () => {
    const queue = await filled(3);
    const sizes: number[] = [];
    const seen: string[] = [];
    const drained = await queue.drain(async (l) => {
      sizes.push(queue.size); // the letter being handled is still queued
      await Promise.resolve();
      seen.push(l.id);
    });
    expect(drained).toBe(3);
    expect(seen).toEqual(['l1', 'l2', 'l3']);
    expect(sizes).toEqual([3, 2, 1]);
    expect(queue.size).toBe(0);
  });

  it('drain stops when a handler throws: that letter and all after it stay, in order', async () => {
    const queue = await filled(4);
    const failure = new Error('consumer down');
    const seen: string[] = [];
    await expect(
      queue.drain((l) => {
        seen.push(l.id);
        if (l.id === 'l2') throw failure;
      }),
    ).rejects.toBe(failure);
    expect(seen).toEqual(['l1', 'l2']);
    expect(ids(await queue.peek())).toEqual(['l2', 'l3', 'l4']);

    await expect(queue.drain(() => Promise.reject(failure))).rejects.toBe(failure);
    expect(queue.size).toBe(3);
    await expect(queue.drain(() => undefined)).resolves.toBe(3);
    expect(queue.size).toBe(0);
  });

  it('drain hands over only the letters queued when it started', async () => {
    const queue = await filled(2);
    const seen: string[] = [];
    await queue.drain(async (l) => {
      seen.push(l.id);
      await queue.publish(letter(`${l.id}-again`));
    });
    expect(seen).toEqual(['l1', 'l2']);
    expect(ids(await queue.peek())).toEqual(['l1-again', 'l2-again']);
  });

  it('runs a second drain after the first, never handing a letter over twice', async () => {
    const queue = await filled(3);
    const seen: string[] = [];
    const handler = async (l: DeadLetter) => {
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(l.id);
    };
    const [a, b] = await Promise.all([queue.drain(handler), queue.drain(handler)]);
    expect([a, b]).toEqual([3, 0]);
    expect(seen).toEqual(['l1', 'l2', 'l3']);
  });

  it('drain rejects a handler that is not a function', async () => {
    const queue = await filled(1);
    await expect(queue.drain(undefined as never)).rejects.toThrow(TypeError);
    expect(queue.size).toBe(1);
  });
});
