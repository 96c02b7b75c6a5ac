import fc from 'fast-check';
import { BulkheadPolicy } from '../../lib/bulkhead/bulkhead.policy';
import { KeyedBulkheadPolicy } from '../../lib/bulkhead/keyed-bulkhead.policy';
import type { BulkheadOverflow } from '../../lib/bulkhead/bulkhead.options';
import { CallContext } from '../../lib/common/call-context';
import { runChain } from '../../lib/common/compose';
import { Policy, Work } from '../../lib/common/policy';
import { RetryPolicy } from '../../lib/retry/retry.policy';
import { TimeoutPolicy } from '../../lib/timeout/timeout.policy';
import { FakeClock, flush } from '../utils/fake-clock';
import { deferred, Deferred, Outcome, settle } from '../utils/promises';
import { assertProperty, PROPERTY_TIMEOUT } from './property-runs';

/*
 * The bulkhead inside a timeout and a retry, as a decorated method runs it
 * (Retry(Timeout(Bulkhead(method)))): random calls, releases, failures, aborts of the caller's
 * CallContext and clock advances. The test keeps its own books of every attempt (when it
 * reached the bulkhead, when its work started and stopped, how it left) and checks after every
 * command that the policies' figures match them: no permit lost or released twice, no counter
 * drift, no work started for a call that already ended, and everything drains to zero.
 */

interface Config {
  maxConcurrent: number;
  maxQueue: number;
  queueTimeout: number;
  overflow: BulkheadOverflow;
  keyed: boolean;
  timeout: number;
  maxAttempts: number;
  retryDelay: number;
}

const KEYS = ['a', 'b'] as const;

/** One attempt of one call, as it passed the bulkhead. */
interface Attempt {
  call: number;
  key: string;
  /** The work was called (the attempt got a slot). */
  started: boolean;
  /** The work's promise settled (released, failed or stopped by an abort). */
  workDone: boolean;
  /** The bulkhead turned it away or it was cancelled before it got a slot. */
  leftUnstarted: boolean;
  work?: Deferred<string>;
}

/** Sits between the timeout and the bulkhead and records each attempt that reaches the bulkhead. */
class Probe extends Policy {
  readonly kind = 'timeout' as const;
  constructor(private readonly books: Books) {
    super('probe');
  }
  run<T>(fn: Work<T>, context: CallContext | undefined, args?: readonly unknown[]): Promise<T> {
    const attempt: Attempt = {
      call: args![1] as number,
      key: args![0] as string,
      started: false,
      workDone: false,
      leftUnstarted: false,
    };
    this.books.attempts.push(attempt);
    this.books.current.set(attempt.call, attempt);
    const result = fn(context!) as Promise<T>;
    result.catch(() => {
      if (!attempt.started) attempt.leftUnstarted = true;
    });
    return result;
  }
  stats() {
    return {};
  }
}

interface Books {
  attempts: Attempt[];
  /** The latest attempt of each call. */
  current: Map<number, Attempt>;
  calls: Array<{ context: CallContext; outcome: Outcome<string> }>;
  /** Works started for a call that had already ended: must stay empty. */
  lateStarts: number[];
}

interface Real {
  config: Config;
  clock: FakeClock;
  bulkhead: BulkheadPolicy | KeyedBulkheadPolicy;
  timeout: TimeoutPolicy;
  retry: RetryPolicy;
  chain: Policy[];
  books: Books;
}

type Command = fc.AsyncCommand<object, Real>;

function startCall(r: Real, key: string, preAborted: boolean): void {
  const id = r.books.calls.length;
  const context = new CallContext();
  if (preAborted) context.abort(new Error('cancelled before the call'));
  const entry = { context, outcome: { status: 'pending', settled: false } as Outcome<string> };
  r.books.calls.push(entry);
  const work = (ctx: CallContext) => {
    const attempt = r.books.current.get(id)!;
    if (entry.outcome.settled) r.books.lateStarts.push(id);
    attempt.started = true;
    attempt.work = deferred<string>();
    ctx.onAbort((reason) => attempt.work!.reject(reason));
    const done = () => (attempt.workDone = true);
    attempt.work.promise.then(done, done);
    return attempt.work.promise;
  };
  entry.outcome = settle(runChain(r.chain, work, context, [key, id]));
}

const runningAttempts = (r: Real) => r.books.attempts.filter((a) => a.started && !a.workDone);
const openCalls = (r: Real) => r.books.calls.filter((c) => !c.outcome.settled);

class StartCommand implements Command {
  constructor(
    readonly key: number,
    readonly preAborted: boolean,
  ) {}
  check = () => true;
  async run(_m: object, r: Real) {
    startCall(r, r.config.keyed ? KEYS[this.key % KEYS.length] : 'only', this.preAborted);
    await verify(r);
  }
  toString = () => `start(${this.key}${this.preAborted ? ', aborted' : ''})`;
}

class ReleaseCommand implements Command {
  constructor(
    readonly index: number,
    readonly ok: boolean,
  ) {}
  check = () => true;
  async run(_m: object, r: Real) {
    const candidates = runningAttempts(r);
    if (candidates.length === 0) return;
    const attempt = candidates[this.index % candidates.length];
    if (this.ok) attempt.work!.resolve('done');
    else attempt.work!.reject(new Error('failed'));
    await verify(r);
  }
  toString = () => `release(#${this.index}, ${this.ok ? 'ok' : 'fail'})`;
}

class AbortCommand implements Command {
  constructor(readonly index: number) {}
  check = () => true;
  async run(_m: object, r: Real) {
    const candidates = openCalls(r);
    if (candidates.length === 0) return;
    candidates[this.index % candidates.length].context.abort(new Error('caller gave up'));
    await verify(r);
  }
  toString = () => `abort(#${this.index})`;
}

class AdvanceCommand implements Command {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_m: object, r: Real) {
    await r.clock.advance(this.ms);
    await verify(r);
  }
  toString = () => `advance(${this.ms})`;
}

/** The policies' figures agree with the books. */
async function verify(r: Real): Promise<void> {
  await flush();
  const { attempts, calls, lateStarts } = r.books;
  const { maxConcurrent, maxQueue } = r.config;
  const running = attempts.filter((a) => a.started && !a.workDone);
  const queued = attempts.filter((a) => !a.started && !a.leftUnstarted);
  const stats = r.bulkhead.stats();
  expect(stats.active).toBe(running.length);
  expect(stats.queued).toBe(queued.length);
  expect(stats.accepted).toBe(attempts.filter((a) => a.started).length);
  // every attempt that reached the bulkhead is accounted for exactly once
  expect(stats.accepted + stats.rejected + stats.aborted + stats.queued).toBe(attempts.length);
  const keys = r.bulkhead instanceof KeyedBulkheadPolicy ? KEYS : (['only'] as const);
  for (const key of keys) {
    const active = running.filter((a) => a.key === key).length;
    const waiting = queued.filter((a) => a.key === key).length;
    expect(active).toBeLessThanOrEqual(maxConcurrent);
    expect(waiting).toBeLessThanOrEqual(maxQueue);
    if (waiting > 0) expect(active).toBe(maxConcurrent);
    if (r.bulkhead instanceof KeyedBulkheadPolicy) {
      const part = r.bulkhead.forKey(key);
      expect(part?.active ?? 0).toBe(active);
      expect(part?.queued ?? 0).toBe(waiting);
    }
  }
  // one timeout call and one retry attempt per bulkhead entry
  expect(r.timeout.stats().calls).toBe(attempts.length);
  const retry = r.retry.stats();
  expect(retry.attempts).toBe(attempts.length);
  expect(retry.calls).toBe(calls.length);
  const settled = calls.filter((c) => c.outcome.settled);
  expect(
    retry.successWithoutRetry +
      retry.successWithRetry +
      retry.failedWithRetry +
      retry.failedWithoutRetry,
  ).toBe(settled.length);
  expect(retry.successWithoutRetry + retry.successWithRetry).toBe(
    settled.filter((c) => c.outcome.status === 'resolved').length,
  );
  expect(lateStarts).toEqual([]);
}

const configArb: fc.Arbitrary<Config> = fc.record({
  maxConcurrent: fc.integer({ min: 1, max: 3 }),
  maxQueue: fc.integer({ min: 0, max: 3 }),
  queueTimeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
  overflow: fc.constantFrom<BulkheadOverflow>('reject', 'drop-oldest'),
  keyed: fc.boolean(),
  timeout: fc.integer({ min: 1, max: 300 }),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  retryDelay: fc.integer({ min: 0, max: 100 }),
});

const commandsArb = fc.commands(
  [
    fc
      .tuple(fc.nat(1), fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true)))
      .map(([k, aborted]) => new StartCommand(k, aborted)),
    fc.tuple(fc.nat(7), fc.boolean()).map(([i, ok]) => new ReleaseCommand(i, ok)),
    fc.nat(7).map((i) => new AbortCommand(i)),
    fc.integer({ min: 1, max: 250 }).map((ms) => new AdvanceCommand(ms)),
  ],
  { maxCommands: 60, size: 'max' },
);

function build(config: Config): Real {
  const clock = new FakeClock();
  const time = { clock, scheduler: clock };
  const options = {
    maxConcurrent: config.maxConcurrent,
    maxQueue: config.maxQueue,
    queueTimeout: config.queueTimeout,
    overflow: config.overflow,
  };
  const bulkhead = config.keyed
    ? new KeyedBulkheadPolicy('b', { ...options, key: (key: string) => key }, time)
    : new BulkheadPolicy('b', options, time);
  const timeout = new TimeoutPolicy('t', config.timeout, time);
  const retry = new RetryPolicy(
    'r',
    {
      maxAttempts: config.maxAttempts,
      backoff: { type: 'fixed', initialDelay: config.retryDelay, jitter: 'none' },
    },
    time,
  );
  const books: Books = { attempts: [], current: new Map(), calls: [], lateStarts: [] };
  const chain = [retry, timeout, new Probe(books), bulkhead];
  return { config, clock, bulkhead, timeout, retry, chain, books };
}

describe('a bulkhead inside timeout and retry (property)', () => {
  it(
    'loses no permit, releases none twice, keeps its counters and drains to zero',
    async () => {
      await assertProperty(
        fc.asyncProperty(configArb, commandsArb, async (config, commands) => {
          const real = build(config);
          await fc.asyncModelRun(() => ({ model: {}, real }), commands);

          // drain: let every work finish and every timer run
          for (let round = 0; openCalls(real).length > 0; round++) {
            expect(round).toBeLessThan(100);
            for (const attempt of runningAttempts(real)) attempt.work!.resolve('drained');
            await real.clock.advance(400);
            await verify(real);
          }
          await real.clock.advance(400);
          await verify(real);
          expect(real.bulkhead.stats()).toMatchObject({ active: 0, queued: 0 });
          expect(real.clock.pendingTimers).toBe(0);
        }),
      );
    },
    PROPERTY_TIMEOUT,
  );
});
