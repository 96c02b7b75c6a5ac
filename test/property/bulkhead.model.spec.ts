import fc from 'fast-check';
import { BulkheadPolicy } from '../../lib/bulkhead/bulkhead.policy';
import { KeyedBulkheadPolicy } from '../../lib/bulkhead/keyed-bulkhead.policy';
import type { BulkheadOverflow } from '../../lib/bulkhead/bulkhead.options';
import { CallContext } from '../../lib/common/call-context';
import { BulkheadRejectedError, CallAbortedError } from '../../lib/common/errors';
import { FakeClock, flush } from '../utils/fake-clock';
import { deferred, Deferred, Outcome, settle } from '../utils/promises';
import { assertProperty, PROPERTY_TIMEOUT } from './property-runs';

/*
 * Random command sequences (calls, releases, failures, aborts through the CallContext, clock
 * advances) run against the real BulkheadPolicy / KeyedBulkheadPolicy and against a reference
 * model of the contract (API.md §2 `@Bulkhead`, bulkhead.options.ts). After every command the
 * two agree on every counter, on which works have started, and on how each call ended.
 */

interface Config {
  maxConcurrent: number;
  maxQueue: number;
  queueTimeout: number;
  overflow: BulkheadOverflow;
  /** Keyed: one bulkhead per key, at most `maxKeys` idle ones kept. */
  keyed: boolean;
  maxKeys: number;
}

const KEYS = ['a', 'b', 'c'] as const;

type Expected =
  | { status: 'pending' }
  | { status: 'resolved' }
  | { status: 'rejected'; reason: 'full' | 'evicted' | 'queue-timeout' | 'failed' | 'aborted' };

interface ModelCall {
  id: number;
  key: string;
  phase: 'queued' | 'running' | 'done';
  /** The work was called (it got a slot). */
  started: boolean;
  enqueuedAt: number;
  expected: Expected;
}

interface Counters {
  accepted: number;
  rejected: number;
  queueTimeouts: number;
  aborted: number;
}

class Partition implements Counters {
  running: ModelCall[] = [];
  queue: ModelCall[] = [];
  accepted = 0;
  rejected = 0;
  queueTimeouts = 0;
  aborted = 0;
  get idle(): boolean {
    return this.running.length === 0 && this.queue.length === 0;
  }
}

/** What the contract says a (keyed) bulkhead does. */
class BulkheadModel {
  readonly partitions = new Map<string, Partition>();
  /** Idle partitions, least recently used first (keyed only). */
  idle: string[] = [];
  readonly retired: Counters = { accepted: 0, rejected: 0, queueTimeouts: 0, aborted: 0 };
  readonly calls: ModelCall[] = [];

  constructor(readonly config: Config) {}

  /** A new call; `aborted`: its context was cancelled before it reached the bulkhead. */
  start(key: string, now: number, aborted: boolean): ModelCall {
    const call: ModelCall = {
      id: this.calls.length,
      key,
      phase: 'done',
      started: false,
      enqueuedAt: now,
      expected: { status: 'pending' },
    };
    this.calls.push(call);
    let part = this.partitions.get(key);
    if (!part) {
      part = new Partition();
      this.partitions.set(key, part);
    }
    this.idle = this.idle.filter((k) => k !== key);
    const { maxConcurrent, maxQueue, overflow } = this.config;
    if (aborted) {
      part.aborted++;
      call.expected = { status: 'rejected', reason: 'aborted' };
    } else if (part.running.length < maxConcurrent) {
      this.run(part, call);
    } else if (part.queue.length < maxQueue) {
      call.phase = 'queued';
      part.queue.push(call);
    } else if (overflow === 'drop-oldest' && maxQueue > 0) {
      const evicted = part.queue.shift()!;
      this.finish(evicted, { status: 'rejected', reason: 'evicted' });
      part.rejected++;
      call.phase = 'queued';
      part.queue.push(call);
    } else {
      part.rejected++;
      call.expected = { status: 'rejected', reason: 'full' };
    }
    if (part.idle) this.markIdle(key);
    return call;
  }

  /** A running call's work settled (success, failure, or it stopped because it was aborted). */
  settleRunning(call: ModelCall, expected: Expected): void {
    const part = this.partitions.get(call.key)!;
    part.running = part.running.filter((c) => c !== call);
    this.finish(call, expected);
    const next = part.queue.shift();
    if (next) this.run(part, next);
    else if (part.running.length === 0) this.markIdle(call.key);
  }

  /** The caller of a queued call cancelled it. */
  abandon(call: ModelCall): void {
    const part = this.partitions.get(call.key)!;
    part.queue = part.queue.filter((c) => c !== call);
    part.aborted++;
    this.finish(call, { status: 'rejected', reason: 'aborted' });
  }

  /** Time moved to `now`: queued calls that waited queueTimeout ms or more fail. */
  advance(now: number): void {
    const { queueTimeout } = this.config;
    if (queueTimeout === 0) return;
    for (const part of this.partitions.values()) {
      const expired = part.queue.filter((c) => c.enqueuedAt + queueTimeout <= now);
      part.queue = part.queue.filter((c) => !expired.includes(c));
      for (const call of expired) {
        part.queueTimeouts++;
        part.rejected++;
        this.finish(call, { status: 'rejected', reason: 'queue-timeout' });
      }
    }
  }

  stats() {
    const sum = {
      active: 0,
      queued: 0,
      maxConcurrent: this.config.maxConcurrent,
      maxQueue: this.config.maxQueue,
      ...this.retired,
    };
    for (const part of this.partitions.values()) {
      sum.active += part.running.length;
      sum.queued += part.queue.length;
      sum.accepted += part.accepted;
      sum.rejected += part.rejected;
      sum.queueTimeouts += part.queueTimeouts;
      sum.aborted += part.aborted;
    }
    return this.config.keyed ? { ...sum, keys: this.partitions.size } : sum;
  }

  private run(part: Partition, call: ModelCall): void {
    call.phase = 'running';
    call.started = true;
    part.accepted++;
    part.running.push(call);
  }

  private finish(call: ModelCall, expected: Expected): void {
    call.phase = 'done';
    call.expected = expected;
  }

  private markIdle(key: string): void {
    if (!this.config.keyed) return;
    if (!this.idle.includes(key)) this.idle.push(key);
    while (this.idle.length > this.config.maxKeys) {
      const oldest = this.idle.shift()!;
      const part = this.partitions.get(oldest)!;
      this.partitions.delete(oldest);
      this.retired.accepted += part.accepted;
      this.retired.rejected += part.rejected;
      this.retired.queueTimeouts += part.queueTimeouts;
      this.retired.aborted += part.aborted;
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface RealCall {
  context: CallContext;
  work: Deferred<string>;
  started: number;
  outcome: Outcome<string>;
  abortReason?: Error;
}

interface Real {
  policy: BulkheadPolicy | KeyedBulkheadPolicy;
  clock: FakeClock;
  calls: RealCall[];
  config: Config;
}

type Command = fc.AsyncCommand<BulkheadModel, Real>;

const NOT_YET: Outcome<string> = { status: 'pending', settled: false };

function execute(r: Real, key: string, call: RealCall): Promise<string> {
  const work = (context: CallContext) => {
    call.started++;
    // well-behaved work: it stops when its call is cancelled
    context.onAbort((reason) => call.work.reject(reason));
    return call.work.promise;
  };
  return r.policy instanceof KeyedBulkheadPolicy
    ? r.policy.executeFor(key, work, call.context)
    : r.policy.execute(work, call.context);
}

class StartCommand implements Command {
  constructor(
    readonly key: number,
    readonly preAborted: boolean,
  ) {}
  check = () => true;
  async run(m: BulkheadModel, r: Real) {
    const key = r.config.keyed ? KEYS[this.key % KEYS.length] : 'only';
    const context = new CallContext();
    const call: RealCall = { context, work: deferred<string>(), started: 0, outcome: NOT_YET };
    if (this.preAborted) {
      call.abortReason = new Error('cancelled before the call');
      context.abort(call.abortReason);
    }
    const modelCall = m.start(key, r.clock.now(), this.preAborted);
    call.outcome = settle(execute(r, key, call));
    r.calls.push(call);
    // a call that finds a free slot starts synchronously
    expect(call.started).toBe(modelCall.phase === 'running' ? 1 : 0);
    await verify(m, r);
  }
  toString = () => `start(${this.key}${this.preAborted ? ', aborted' : ''})`;
}

const running = (m: Readonly<BulkheadModel>) => m.calls.filter((c) => c.phase === 'running');
const live = (m: Readonly<BulkheadModel>) => m.calls.filter((c) => c.phase !== 'done');

class ReleaseCommand implements Command {
  constructor(
    readonly index: number,
    readonly ok: boolean,
  ) {}
  check = (m: Readonly<BulkheadModel>) => running(m).length > 0;
  async run(m: BulkheadModel, r: Real) {
    const candidates = running(m);
    const target = candidates[this.index % candidates.length];
    const call = r.calls[target.id];
    if (this.ok) call.work.resolve(`done #${target.id}`);
    else call.work.reject(new Error(`failed #${target.id}`));
    m.settleRunning(
      target,
      this.ok ? { status: 'resolved' } : { status: 'rejected', reason: 'failed' },
    );
    await verify(m, r);
  }
  toString = () => `release(#${this.index}, ${this.ok ? 'ok' : 'fail'})`;
}

/** Aborts a queued or running call through its CallContext. */
class AbortCommand implements Command {
  constructor(readonly index: number) {}
  check = (m: Readonly<BulkheadModel>) => live(m).length > 0;
  async run(m: BulkheadModel, r: Real) {
    const candidates = live(m);
    const target = candidates[this.index % candidates.length];
    const call = r.calls[target.id];
    call.abortReason = new Error(`aborted #${target.id}`);
    if (target.phase === 'queued') m.abandon(target);
    else m.settleRunning(target, { status: 'rejected', reason: 'aborted' });
    call.context.abort(call.abortReason);
    await verify(m, r);
  }
  toString = () => `abort(#${this.index})`;
}

class AdvanceCommand implements Command {
  constructor(readonly fraction: number) {}
  check = () => true;
  async run(m: BulkheadModel, r: Real) {
    const base = r.config.queueTimeout || 100;
    await r.clock.advance(Math.max(1, Math.round(base * this.fraction)));
    m.advance(r.clock.now());
    await verify(m, r);
  }
  toString = () => `advance(queueTimeout x ${this.fraction})`;
}

async function verify(m: BulkheadModel, r: Real): Promise<void> {
  await flush();
  expect(r.policy.stats()).toEqual(m.stats());
  expect(r.policy.stats().active).toBeLessThanOrEqual(
    r.config.maxConcurrent * Math.max(1, m.partitions.size),
  );
  if (r.policy instanceof KeyedBulkheadPolicy) {
    for (const key of KEYS) {
      const part = m.partitions.get(key);
      const seen = r.policy.forKey(key);
      if (!part) expect(seen).toBeUndefined();
      else {
        expect(seen).toMatchObject({
          active: part.running.length,
          queued: part.queue.length,
          accepted: part.accepted,
          rejected: part.rejected,
          queueTimeouts: part.queueTimeouts,
          aborted: part.aborted,
        });
      }
    }
  }
  m.calls.forEach((expected, id) => {
    const call = r.calls[id];
    // a work starts at most once, and exactly when the model admits it
    expect({ id, started: call.started }).toEqual({ id, started: expected.started ? 1 : 0 });
    expectOutcome(call, expected.expected, id);
  });
}

function expectOutcome(call: RealCall, expected: Expected, id: number): void {
  const { outcome } = call;
  expect({ id, status: outcome.status }).toEqual({ id, status: expected.status });
  if (expected.status !== 'rejected') return;
  const error = outcome.error;
  switch (expected.reason) {
    case 'full':
    case 'evicted':
    case 'queue-timeout':
      expect(error).toBeInstanceOf(BulkheadRejectedError);
      expect((error as BulkheadRejectedError).reason).toBe(expected.reason);
      break;
    case 'aborted':
      expect(error === call.abortReason || error instanceof CallAbortedError).toBe(true);
      break;
    case 'failed':
      expect((error as Error).message).toBe(`failed #${id}`);
  }
}

// ---------------------------------------------------------------------------------------------

const configArb: fc.Arbitrary<Config> = fc.record({
  maxConcurrent: fc.integer({ min: 1, max: 3 }),
  maxQueue: fc.integer({ min: 0, max: 3 }),
  queueTimeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500 })),
  overflow: fc.constantFrom<BulkheadOverflow>('reject', 'drop-oldest'),
  keyed: fc.boolean(),
  maxKeys: fc.integer({ min: 1, max: 3 }),
});

const commandsArb = fc.commands(
  [
    fc
      .tuple(fc.nat(2), fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true)))
      .map(([k, aborted]) => new StartCommand(k, aborted)),
    fc.tuple(fc.nat(7), fc.boolean()).map(([i, ok]) => new ReleaseCommand(i, ok)),
    fc.nat(7).map((i) => new AbortCommand(i)),
    fc.integer({ min: 0, max: 125 }).map((p) => new AdvanceCommand(p / 100)),
  ],
  { maxCommands: 60, size: 'max' },
);

function createPolicy(config: Config, clock: FakeClock) {
  const { keyed, maxKeys, ...options } = config;
  const time = { clock, scheduler: clock };
  return keyed
    ? new KeyedBulkheadPolicy('model', { ...options, maxKeys, key: (k: string) => k }, time)
    : new BulkheadPolicy('model', options, time);
}

describe('BulkheadPolicy and KeyedBulkheadPolicy against a reference model (property)', () => {
  it(
    'agree on active, queued and every counter after every command, and drain to zero',
    async () => {
      await assertProperty(
        fc.asyncProperty(configArb, commandsArb, async (config, commands) => {
          const clock = new FakeClock();
          const real: Real = { policy: createPolicy(config, clock), clock, calls: [], config };
          const model = new BulkheadModel(config);
          await fc.asyncModelRun(() => ({ model, real }), commands);

          // drain: finish every running call until nothing runs or waits
          for (let call = running(model)[0]; call; call = running(model)[0]) {
            real.calls[call.id].work.resolve('drained');
            model.settleRunning(call, { status: 'resolved' });
            await verify(model, real);
          }
          expect(real.policy.stats()).toMatchObject({ active: 0, queued: 0 });
          expect(real.calls.every((c) => c.outcome.settled)).toBe(true);
          expect(clock.pendingTimers).toBe(0);
        }),
      );
    },
    PROPERTY_TIMEOUT,
  );
});
