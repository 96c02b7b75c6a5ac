import fc from 'fast-check';
import { CallAbortedError, CircuitOpenError } from '../../lib/common/errors';
import type { CircuitState, ResilienceEvent } from '../../lib/common/events';
import { CircuitBreakerPolicy } from '../../lib/circuit-breaker/circuit-breaker.policy';
import type {
  CircuitBreakerOptions,
  SlidingWindowOptions,
} from '../../lib/circuit-breaker/circuit-breaker.options';
import { FakeClock } from '../utils/fake-clock';
import { deferred, Deferred } from '../utils/promises';
import { assertProperty, PROPERTY_TIMEOUT } from './property-runs';

/*
 * Random command sequences run against the real CircuitBreakerPolicy and against a reference
 * model written from the contract (API.md §2 and §4, README "@CircuitBreaker", the option docs
 * of circuit-breaker.options.ts). After every command the two must agree on the state, every
 * figure of stats(), retryAfter and the events emitted so far.
 */

type Outcome = 'success' | 'failure' | 'ignored' | 'cancelled';

interface Config {
  failureThreshold: number;
  successThreshold: number;
  resetTimeout: number;
  halfOpenMaxCalls: number;
  failureRateThreshold?: number;
  slowCallRateThreshold?: number;
  slowCallDuration: number;
  minimumCalls: number;
  slidingWindow: { type: 'count' | 'time'; size: number };
  /** When set, errors named 'Ignorable' do not count as failures (`isFailure`). */
  ignoreErrors: boolean;
}

const IGNORABLE = 'Ignorable';

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

interface ModelCall {
  id: number;
  start: number;
  generation: number;
  trial: boolean;
}

type Admission =
  | { admitted: true; call: ModelCall }
  | { admitted: false; retryAfter: number; state: CircuitState };

interface ExpectedEvent {
  type: 'state-change' | 'call-rejected';
  [key: string]: unknown;
}

/** What the contract says a breaker does, kept as plainly as possible. */
class BreakerModel {
  state: CircuitState = 'closed';
  /** Changes on every transition; outcomes of calls admitted under an older one are stale. */
  generation = 0;
  openedAt = 0;
  stateChangedAt: number;
  failureCount = 0;
  successCount = 0;
  /** Trial calls of the current half-open period still running: their start times. */
  trials: ModelCall[] = [];
  successfulCalls = 0;
  failedCalls = 0;
  rejectedCalls = 0;
  slowCalls = 0;
  lastError?: { name: string; message: string };
  /** Every outcome recorded since the window was last cleared, oldest first. */
  outcomes: Array<{ at: number; failed: boolean; slow: boolean }> = [];
  events: ExpectedEvent[] = [];
  /** Calls started with `hold` and not yet released, in start order (same order as the real side). */
  held: ModelCall[] = [];
  private nextId = 1;

  constructor(
    readonly config: Config,
    readonly name: string,
    now: number,
  ) {
    this.stateChangedAt = now;
  }

  get rateMode(): boolean {
    return (
      this.config.failureRateThreshold !== undefined ||
      this.config.slowCallRateThreshold !== undefined
    );
  }

  /** The outcomes the sliding window holds at `now`. */
  window(now: number): Array<{ failed: boolean; slow: boolean }> {
    const { type, size } = this.config.slidingWindow;
    if (type === 'count') return this.outcomes.slice(-size);
    // ten slices of size / 10 ms: the current one and the nine before it
    const width = size / 10;
    const current = Math.floor(now / width);
    return this.outcomes.filter((o) => current - Math.floor(o.at / width) < 10);
  }

  /** An open breaker is half-open once resetTimeout has passed, whoever looks. */
  settle(now: number): void {
    const halfOpenAt = this.openedAt + this.config.resetTimeout;
    if (this.state === 'open' && now >= halfOpenAt) {
      this.transition('half-open', 'reset-timeout', halfOpenAt);
    }
  }

  retryAfter(now: number): number {
    this.settle(now);
    if (this.state !== 'open') return 0;
    return Math.max(0, Math.ceil(this.openedAt + this.config.resetTimeout - now));
  }

  admit(now: number): Admission {
    this.settle(now);
    if (this.state === 'open') return this.reject(now, this.retryAfter(now));
    let trial = false;
    if (this.state === 'half-open') {
      if (this.trials.length >= this.config.halfOpenMaxCalls) {
        const oldest = Math.min(...this.trials.map((t) => t.start));
        if (now - oldest < this.config.resetTimeout) return this.reject(now, 0);
        // every trial slot has been taken for a whole resetTimeout: the trials hung
        this.transition('open', 'half-open-failure', now);
        return this.reject(now, this.retryAfter(now));
      }
      trial = true;
    }
    const call: ModelCall = { id: this.nextId++, start: now, generation: this.generation, trial };
    if (trial) this.trials.push(call);
    return { admitted: true, call };
  }

  complete(call: ModelCall, outcome: Outcome, message: string, now: number): void {
    this.settle(now);
    const current = call.generation === this.generation;
    if (outcome === 'cancelled') {
      // not an outcome of the resource: only the trial slot is given back
      if (current && call.trial) this.endTrial(call);
      return;
    }
    const failed = outcome === 'failure' || (outcome === 'ignored' && !this.config.ignoreErrors);
    const slow = now - call.start >= this.config.slowCallDuration;
    if (slow) this.slowCalls++;
    if (failed) {
      this.failedCalls++;
      this.lastError = { name: outcome === 'ignored' ? IGNORABLE : 'Error', message };
    } else {
      this.successfulCalls++;
    }
    if (!current) return; // admitted in an earlier state: counted, but moves nothing
    this.outcomes.push({ at: now, failed, slow });
    if (call.trial) {
      this.endTrial(call);
      if (failed) {
        this.failureCount++;
        this.transition('open', 'half-open-failure', now);
      } else if (++this.successCount >= this.config.successThreshold) {
        this.transition('closed', 'half-open-success', now);
      }
      return;
    }
    if (failed) this.failureCount++;
    else this.failureCount = 0;
    if (this.rateMode) this.checkRates(now);
    else if (this.failureCount >= this.config.failureThreshold) {
      this.transition('open', 'failure-threshold', now);
    }
  }

  manualOpen(now: number): void {
    this.settle(now);
    if (this.state === 'open') {
      this.openedAt = now; // the open period starts again, without an event
      return;
    }
    this.transition('open', 'manual', now);
  }

  manualClose(now: number): void {
    this.settle(now);
    if (this.state === 'closed') {
      this.failureCount = 0;
      this.successCount = 0;
      this.outcomes = [];
      return;
    }
    this.transition('closed', 'manual', now);
  }

  stats(now: number) {
    this.settle(now);
    const window = this.window(now);
    const calls = window.length;
    const failures = window.filter((o) => o.failed).length;
    const slow = window.filter((o) => o.slow).length;
    return {
      state: this.state,
      failureCount: this.failureCount,
      successCount: this.successCount,
      totalCalls: this.successfulCalls + this.failedCalls + this.rejectedCalls,
      successfulCalls: this.successfulCalls,
      failedCalls: this.failedCalls,
      rejectedCalls: this.rejectedCalls,
      slowCalls: this.slowCalls,
      failureRate: calls === 0 ? 0 : (100 * failures) / calls,
      slowCallRate: calls === 0 ? 0 : (100 * slow) / calls,
      stateChangedAt: this.stateChangedAt,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private checkRates(now: number): void {
    const window = this.window(now);
    const calls = window.length;
    if (calls < this.config.minimumCalls) return;
    const failures = window.filter((o) => o.failed).length;
    const slow = window.filter((o) => o.slow).length;
    const { failureRateThreshold: failureLimit, slowCallRateThreshold: slowLimit } = this.config;
    // rate >= threshold, compared exactly (rate = count / calls * 100)
    if (failureLimit !== undefined && failures * 100 >= failureLimit * calls) {
      this.transition('open', 'failure-rate', now);
    } else if (slowLimit !== undefined && slow * 100 >= slowLimit * calls) {
      this.transition('open', 'slow-call-rate', now);
    }
  }

  private endTrial(call: ModelCall): void {
    this.trials = this.trials.filter((t) => t !== call);
  }

  private reject(now: number, retryAfter: number): Admission {
    this.rejectedCalls++;
    this.events.push({ type: 'call-rejected', state: this.state, retryAfter, at: now });
    return { admitted: false, retryAfter, state: this.state };
  }

  private transition(to: CircuitState, reason: string, at: number): void {
    const from = this.state;
    this.state = to;
    this.generation++;
    this.stateChangedAt = at;
    this.trials = [];
    this.successCount = 0;
    if (to === 'open') {
      this.openedAt = at;
    } else {
      this.failureCount = 0;
      if (to === 'closed') this.outcomes = [];
    }
    this.events.push({ type: 'state-change', from, to, reason, at });
  }
}

// ---------------------------------------------------------------------------------------------
// The system under test, and the commands
// ---------------------------------------------------------------------------------------------

interface HeldCall {
  work: Deferred<string>;
  result: Promise<{ value?: string; error?: unknown }>;
}

interface Real {
  policy: CircuitBreakerPolicy;
  clock: FakeClock;
  events: ResilienceEvent[];
  held: HeldCall[];
  config: Config;
}

type Command = fc.AsyncCommand<BreakerModel, Real>;

let messageCount = 0;

function errorFor(outcome: Outcome, message: string): Error {
  if (outcome === 'cancelled') return new CallAbortedError('caller');
  const error = new Error(message);
  if (outcome === 'ignored') error.name = IGNORABLE;
  return error;
}

const captured = (promise: Promise<string>): Promise<{ value?: string; error?: unknown }> =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/**
 * Starts a call whose work stays pending until it is released; checks admission on both sides.
 * Returns the held call, or undefined when both sides rejected it (the rejection is checked).
 */
async function startHeld(m: BreakerModel, r: Real): Promise<HeldCall | undefined> {
  const admission = m.admit(r.clock.now());
  let invoked = false;
  const work = deferred<string>();
  const result = captured(
    r.policy.execute(() => {
      invoked = true;
      return work.promise;
    }),
  );
  expect(invoked).toBe(admission.admitted);
  if (!admission.admitted) {
    await expectRejected(result, admission.retryAfter);
    return undefined;
  }
  const held = { work, result };
  m.held.push(admission.call);
  r.held.push(held);
  return held;
}

async function expectRejected(
  result: Promise<{ value?: string; error?: unknown }>,
  retryAfter: number,
) {
  const { error } = await result;
  expect(error).toBeInstanceOf(CircuitOpenError);
  expect((error as CircuitOpenError).retryAfter).toBe(retryAfter);
}

/** Settles the held call at `index` with `outcome` on both sides. */
async function release(m: BreakerModel, r: Real, index: number, outcome: Outcome) {
  const call = m.held.splice(index, 1)[0];
  const held = r.held.splice(index, 1)[0];
  const message = `failure #${++messageCount}`;
  if (outcome === 'success') held.work.resolve('done');
  else held.work.reject(errorFor(outcome, message));
  const settled = await held.result;
  m.complete(call, outcome, message, r.clock.now());
  if (outcome === 'success') expect(settled.value).toBe('done');
  else expect(settled.error).toBeInstanceOf(Error);
}

/** One call that settles at once (the work's promise is already settled). */
class CallCommand implements Command {
  constructor(readonly outcome: Outcome) {}
  check = () => true;
  async run(m: BreakerModel, r: Real) {
    const now = r.clock.now();
    const admission = m.admit(now);
    const message = `failure #${++messageCount}`;
    let invoked = false;
    const result = await captured(
      r.policy.execute(async () => {
        invoked = true;
        if (this.outcome === 'success') return 'ok';
        throw errorFor(this.outcome, message);
      }),
    );
    expect(invoked).toBe(admission.admitted);
    if (admission.admitted) {
      m.complete(admission.call, this.outcome, message, r.clock.now());
      if (this.outcome === 'success') expect(result.value).toBe('ok');
      else expect((result.error as Error).message).toBe(errorFor(this.outcome, message).message);
    } else {
      await expectRejected(Promise.resolve(result), admission.retryAfter);
    }
    verify(m, r);
  }
  toString = () => `call(${this.outcome})`;
}

/** Starts a call that stays in flight until a `release` command settles it. */
class HoldCommand implements Command {
  check = () => true;
  async run(m: BreakerModel, r: Real) {
    await startHeld(m, r);
    verify(m, r);
  }
  toString = () => 'hold()';
}

class ReleaseCommand implements Command {
  constructor(
    readonly index: number,
    readonly outcome: Outcome,
  ) {}
  check = (m: Readonly<BreakerModel>) => m.held.length > 0;
  async run(m: BreakerModel, r: Real) {
    await release(m, r, this.index % m.held.length, this.outcome);
    verify(m, r);
  }
  toString = () => `release(#${this.index}, ${this.outcome})`;
}

/** A call that runs for slowCallDuration + extra ms (the clock moves on meanwhile). */
class SlowCallCommand implements Command {
  constructor(
    readonly outcome: 'success' | 'failure',
    readonly extra: number,
  ) {}
  check = () => true;
  async run(m: BreakerModel, r: Real) {
    const held = await startHeld(m, r);
    const ms = r.config.slowCallDuration + this.extra;
    await r.clock.advance(ms);
    m.settle(r.clock.now());
    if (held) await release(m, r, m.held.length - 1, this.outcome);
    verify(m, r);
  }
  toString = () => `slowCall(${this.outcome}, slowCallDuration + ${this.extra}ms)`;
}

/** Moves the clock on: by a share of resetTimeout, of the time window, or a few ms. */
class AdvanceCommand implements Command {
  constructor(
    readonly scale: 'reset' | 'window' | 'tiny',
    readonly fraction: number,
  ) {}
  check = () => true;
  ms(config: Config): number {
    if (this.scale === 'tiny') return Math.max(1, Math.round(this.fraction * 10));
    const base =
      this.scale === 'window' && config.slidingWindow.type === 'time'
        ? config.slidingWindow.size
        : config.resetTimeout;
    return Math.max(1, Math.round(this.fraction * base));
  }
  async run(m: BreakerModel, r: Real) {
    await r.clock.advance(this.ms(r.config));
    m.settle(r.clock.now());
    verify(m, r);
  }
  toString = () => `advance(${this.scale} x ${this.fraction})`;
}

class OpenCommand implements Command {
  check = () => true;
  async run(m: BreakerModel, r: Real) {
    m.manualOpen(r.clock.now());
    r.policy.open();
    verify(m, r);
  }
  toString = () => 'open()';
}

class CloseCommand implements Command {
  check = () => true;
  async run(m: BreakerModel, r: Real) {
    m.manualClose(r.clock.now());
    r.policy.close();
    verify(m, r);
  }
  toString = () => 'close()';
}

/** The real breaker agrees with the model on everything observable. */
function verify(m: BreakerModel, r: Real): void {
  const now = r.clock.now();
  // read the state first: reading it may emit the half-open transition
  expect(r.policy.state).toBe((m.settle(now), m.state));
  expect(r.policy.retryAfter).toBe(m.retryAfter(now));
  const { lastError, ...stats } = r.policy.stats();
  const { lastError: expectedLastError, ...expected } = m.stats(now);
  expect({ ...stats, failureRate: 0, slowCallRate: 0 }).toEqual({
    ...expected,
    failureRate: 0,
    slowCallRate: 0,
  });
  expect(stats.failureRate).toBeCloseTo(expected.failureRate, 9);
  expect(stats.slowCallRate).toBeCloseTo(expected.slowCallRate, 9);
  expect(lastError).toEqual(expectedLastError);
  const seen = r.events.map(({ name: _name, ...rest }) => rest);
  expect(seen).toEqual(m.events);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const outcomeArb = fc.constantFrom<Outcome>('success', 'failure', 'ignored', 'cancelled');

const commandsArb = fc.commands(
  [
    fc
      .constantFrom<Outcome>('success', 'success', 'failure', 'failure', 'ignored', 'cancelled')
      .map((o) => new CallCommand(o)),
    fc.constant(new HoldCommand()),
    fc.constant(new HoldCommand()),
    fc.tuple(fc.nat(7), outcomeArb).map(([i, o]) => new ReleaseCommand(i, o)),
    fc
      .tuple(fc.constantFrom<'success' | 'failure'>('success', 'failure'), fc.nat(50))
      .map(([o, extra]) => new SlowCallCommand(o, extra)),
    fc
      .tuple(
        fc.constantFrom<'reset' | 'window' | 'tiny'>('reset', 'window', 'tiny'),
        fc.integer({ min: 0, max: 125 }).map((percent) => percent / 100),
      )
      .map(([scale, f]) => new AdvanceCommand(scale, f)),
    fc.constant(new OpenCommand()),
    fc.constant(new CloseCommand()),
  ],
  { maxCommands: 60, size: 'max' },
);

// round values make a rate land exactly on its threshold often
const thresholdArb = fc.oneof(
  fc.constantFrom(20, 25, 50, 75, 100),
  fc.integer({ min: 1, max: 100 }),
  fc.constantFrom(12.5, 33.5, 62.5, 99.5),
);

const configArb: fc.Arbitrary<Config> = fc
  .record({
    mode: fc.constantFrom('consecutive', 'failure-rate', 'slow-rate', 'both-rates'),
    failureThreshold: fc.integer({ min: 1, max: 4 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    resetTimeout: fc.integer({ min: 1, max: 5_000 }),
    halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
    failureRate: thresholdArb,
    slowRate: thresholdArb,
    slowCallDuration: fc.integer({ min: 1, max: 3_000 }),
    minimumCalls: fc.integer({ min: 1, max: 6 }),
    windowType: fc.constantFrom<'count' | 'time'>('count', 'time'),
    countSize: fc.integer({ min: 0, max: 6 }),
    timeSize: fc.integer({ min: 10, max: 8_000 }),
    ignoreErrors: fc.boolean(),
  })
  .map((c) => {
    const config: Config = {
      failureThreshold: c.failureThreshold,
      successThreshold: c.successThreshold,
      resetTimeout: c.resetTimeout,
      halfOpenMaxCalls: c.halfOpenMaxCalls,
      slowCallDuration: c.slowCallDuration,
      minimumCalls: c.minimumCalls,
      slidingWindow:
        c.windowType === 'count'
          ? { type: 'count', size: c.minimumCalls + c.countSize }
          : { type: 'time', size: c.timeSize },
      ignoreErrors: c.ignoreErrors,
    };
    if (c.mode === 'failure-rate' || c.mode === 'both-rates') {
      config.failureRateThreshold = c.failureRate;
    }
    if (c.mode === 'slow-rate' || c.mode === 'both-rates') {
      config.slowCallRateThreshold = c.slowRate;
    }
    return config;
  });

function optionsOf(config: Config): Partial<CircuitBreakerOptions> {
  const { ignoreErrors, slidingWindow, ...rest } = config;
  return {
    ...rest,
    slidingWindow: slidingWindow as SlidingWindowOptions,
    ...(ignoreErrors ? { isFailure: (e: unknown) => (e as Error).name !== IGNORABLE } : {}),
  };
}

describe('CircuitBreakerPolicy against a reference model (property)', () => {
  it(
    'agrees on state, stats, retryAfter and events after every command, in both modes',
    async () => {
      await assertProperty(
        fc.asyncProperty(configArb, commandsArb, async (config, commands) => {
          const clock = new FakeClock();
          const policy = new CircuitBreakerPolicy('model', optionsOf(config), {
            clock,
            scheduler: clock,
          });
          const events: ResilienceEvent[] = [];
          policy.onEvent((event) => events.push(event));
          const real: Real = { policy, clock, events, held: [], config };
          const model = new BreakerModel(config, 'model', clock.now());
          await fc.asyncModelRun(() => ({ model, real }), commands);

          // release whatever is still running, then nothing may be left behind
          while (model.held.length > 0) await release(model, real, 0, 'success');
          verify(model, real);
          policy.dispose();
          expect(clock.pendingTimers).toBe(0);
        }),
      );
    },
    PROPERTY_TIMEOUT,
  );
});
