// Promise helpers shared by unit and integration tests. Pure: no Nest, no rxjs.

/** A promise with its resolve and reject functions. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = string>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How a promise settled, recorded without leaving a rejection unhandled. */
export interface Outcome<T> {
  status: 'pending' | 'resolved' | 'rejected';
  /** `status !== 'pending'`. */
  settled: boolean;
  value?: T;
  error?: unknown;
  /** When a clock was given: its time when the promise settled. */
  at?: number;
}

/** Records how (and, given a clock, when) `promise` settles. */
export function settle<T>(promise: Promise<T>, clock?: { now(): number }): Outcome<T> {
  const outcome: Outcome<T> = { status: 'pending', settled: false };
  const settled = (state: Partial<Outcome<T>>) =>
    Object.assign(outcome, state, { settled: true }, clock && { at: clock.now() });
  promise.then(
    (value) => settled({ status: 'resolved', value }),
    (error: unknown) => settled({ status: 'rejected', error }),
  );
  return outcome;
}

/** Real-time sleep, for the few tests that need real timers. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Polls `condition` with real time, for at most `within` ms. */
export async function waitFor(condition: () => boolean, within = 2000): Promise<void> {
  const end = Date.now() + within;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`condition not met within ${within}ms`);
    await sleep(2);
  }
}
