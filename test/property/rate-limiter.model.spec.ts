import fc from 'fast-check';
import { CallContext } from '../../lib/common/call-context';
import { CallAbortedError, RateLimitedError } from '../../lib/common/errors';
import { RateLimiterPolicy } from '../../lib/rate-limit/rate-limiter.policy';
import { FakeClock, flush } from '../utils/fake-clock';
import { Outcome, settle } from '../utils/promises';
import { assertProperty, PROPERTY_TIMEOUT } from './property-runs';

/*
 * Random calls, cancellations and clock advances against the real RateLimiterPolicy and a
 * reference model of the contract (API.md §2 `@RateLimit`, rate-limiter.options.ts): at most
 * `limit` calls start within any `interval` ms; a call over the limit waits for the next free
 * permit when that is at most `maxWait` ms away, else fails with `RateLimitedError` whose
 * `retryAfter` is the exact wait. After every command the two agree on who started when, on
 * every rejection and on the counters, and no `interval` window ever holds more than `limit`
 * starts.
 */

interface Config {
  limit: number;
  interval: number;
  maxWait: number;
}

interface ModelCall {
  id: number;
  /** When the work starts (now, or the time of its reserved permit); undefined if it never will. */
  startAt?: number;
  state: 'waiting' | 'started' | 'rejected' | 'aborted';
  retryAfter?: number;
}

/** What the contract says a sliding-log rate limiter does. */
class RateLimiterModel {
  /** Times of every permit handed out (future ones are reservations), in order. */
  readonly permits: number[] = [];
  readonly calls: ModelCall[] = [];
  permitted = 0;
  rejected = 0;

  constructor(readonly config: Config) {}

  call(now: number, cancelled: boolean): ModelCall {
    const call: ModelCall = { id: this.calls.length, state: 'aborted' };
    this.calls.push(call);
    if (cancelled) return call;
    const { limit, interval, maxWait } = this.config;
    // the permit `limit` places back must be at least `interval` old
    const oldest =
      this.permits.length < limit ? -Infinity : this.permits[this.permits.length - limit];
    const at = Math.max(now, oldest + interval);
    if (at - now > maxWait) {
      this.rejected++;
      call.state = 'rejected';
      call.retryAfter = at - now;
      return call;
    }
    this.permits.push(at);
    call.startAt = at;
    call.state = 'waiting';
    if (at === now) this.begin(call);
    return call;
  }

  /** Time moved to `now`: reserved permits that are due start their calls. */
  advance(now: number): void {
    for (const call of this.calls) {
      if (call.state === 'waiting' && call.startAt! <= now) this.begin(call);
    }
  }

  /** A waiting call is cancelled: it fails, and its reserved permit stays used. */
  cancel(call: ModelCall): void {
    call.state = 'aborted';
    call.startAt = undefined;
  }

  get waiting(): number {
    return this.calls.filter((c) => c.state === 'waiting').length;
  }

  private begin(call: ModelCall): void {
    call.state = 'started';
    this.permitted++;
  }
}

interface RealCall {
  context: CallContext;
  startedAt: number[];
  outcome: Outcome<string>;
  reason?: Error;
}

interface Real {
  policy: RateLimiterPolicy;
  clock: FakeClock;
  calls: RealCall[];
  /** Start times of every work, in order. */
  starts: number[];
}

type Command = fc.AsyncCommand<RateLimiterModel, Real>;

class CallCommand implements Command {
  constructor(readonly cancelled: boolean) {}
  check = () => true;
  async run(m: RateLimiterModel, r: Real) {
    const context = new CallContext();
    const call: RealCall = {
      context,
      startedAt: [],
      outcome: { status: 'pending', settled: false },
    };
    if (this.cancelled) {
      call.reason = new Error('cancelled before the call');
      context.abort(call.reason);
    }
    r.calls.push(call);
    const expected = m.call(r.clock.now(), this.cancelled);
    call.outcome = settle(
      r.policy.execute(() => {
        const now = r.clock.now();
        call.startedAt.push(now);
        r.starts.push(now);
        return 'ran';
      }, context),
    );
    // a permitted call starts synchronously
    expect(call.startedAt.length).toBe(expected.state === 'started' ? 1 : 0);
    await verify(m, r);
  }
  toString = () => (this.cancelled ? 'call(cancelled)' : 'call()');
}

class CancelCommand implements Command {
  constructor(readonly index: number) {}
  check = (m: Readonly<RateLimiterModel>) => m.waiting > 0;
  async run(m: RateLimiterModel, r: Real) {
    const waiting = m.calls.filter((c) => c.state === 'waiting');
    const target = waiting[this.index % waiting.length];
    m.cancel(target);
    const call = r.calls[target.id];
    call.reason = new Error(`cancelled #${target.id}`);
    call.context.abort(call.reason);
    await verify(m, r);
  }
  toString = () => `cancel(#${this.index})`;
}

class AdvanceCommand implements Command {
  constructor(readonly fraction: number) {}
  check = () => true;
  async run(m: RateLimiterModel, r: Real) {
    await r.clock.advance(Math.max(1, Math.round(m.config.interval * this.fraction)));
    m.advance(r.clock.now());
    await verify(m, r);
  }
  toString = () => `advance(interval x ${this.fraction})`;
}

async function verify(m: RateLimiterModel, r: Real): Promise<void> {
  await flush();
  expect(r.policy.stats()).toEqual({ permitted: m.permitted, rejected: m.rejected });
  expect(r.policy.waiting).toBe(m.waiting);
  m.calls.forEach((expected, id) => {
    const call = r.calls[id];
    const started = expected.state === 'started' ? [expected.startAt] : [];
    expect({ id, startedAt: call.startedAt }).toEqual({ id, startedAt: started });
    if (expected.state === 'started') expect(call.outcome.value).toBe('ran');
    if (expected.state === 'waiting') expect(call.outcome.settled).toBe(false);
    if (expected.state === 'rejected') {
      expect(call.outcome.error).toBeInstanceOf(RateLimitedError);
      expect((call.outcome.error as RateLimitedError).retryAfter).toBe(expected.retryAfter);
    }
    if (expected.state === 'aborted') {
      const error = call.outcome.error;
      expect(error === call.reason || error instanceof CallAbortedError).toBe(true);
    }
  });
  // never more than `limit` starts within any `interval` ms
  const { limit, interval } = m.config;
  const starts = r.starts;
  for (let i = 0; i + limit < starts.length; i++) {
    expect(starts[i + limit] - starts[i]).toBeGreaterThanOrEqual(interval);
  }
}

const configArb: fc.Arbitrary<Config> = fc.record({
  limit: fc.integer({ min: 1, max: 5 }),
  interval: fc.integer({ min: 1, max: 1_000 }),
  maxWait: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_500 })),
});

const commandsArb = fc.commands(
  [
    fc.constant(new CallCommand(false)),
    fc.constant(new CallCommand(false)),
    fc.constant(new CallCommand(true)),
    fc.nat(7).map((i) => new CancelCommand(i)),
    fc.integer({ min: 0, max: 125 }).map((p) => new AdvanceCommand(p / 100)),
  ],
  { maxCommands: 60, size: 'max' },
);

describe('RateLimiterPolicy against a reference model (property)', () => {
  it(
    'agrees on every start, rejection and counter, and never exceeds the limit',
    async () => {
      await assertProperty(
        fc.asyncProperty(configArb, commandsArb, async (config, commands) => {
          const clock = new FakeClock();
          const policy = new RateLimiterPolicy('model', config, { clock, scheduler: clock });
          const real: Real = { policy, clock, calls: [], starts: [] };
          const model = new RateLimiterModel(config);
          await fc.asyncModelRun(() => ({ model, real }), commands);

          // every reservation comes due within maxWait; then nothing is left waiting
          await clock.advance(config.maxWait + 1);
          model.advance(clock.now());
          await verify(model, real);
          expect(policy.waiting).toBe(0);
          expect(real.calls.every((c) => c.outcome.settled)).toBe(true);
          expect(clock.pendingTimers).toBe(0);
        }),
      );
    },
    PROPERTY_TIMEOUT,
  );
});
