import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import {
  CircuitBreaker,
  CircuitOpenError,
  PolicyConfig,
  ResilienceEvent,
  ResilienceModule,
  ResilienceRegistry,
} from '../../../lib';
import { RedisCircuitStateStore } from '../../../lib/redis';
import { RELEASE, REPORT } from '../../../lib/redis/redis-circuit-state.scripts';
import {
  deferred,
  rejectionOf,
  settle,
  sleep,
  useTestApps,
  waitFor,
  type Deferred,
  type Outcome,
} from '../../fixtures/testing-app';
import { FakeClock } from '../../utils/fake-clock';
import { describeWithService, REDIS, REDIS_URL } from '../../utils/services';

/** A provider whose one breaker ('gateway') is shared through the store. */
@Injectable()
class GatewayClient {
  fail = false;

  @CircuitBreaker('gateway', { failureThreshold: 3, resetTimeout: 60_000 })
  async call(): Promise<string> {
    if (this.fail) throw new Error('gateway down');
    return 'ok';
  }
}

const fails = () => Promise.reject(new Error('upstream down'));
const succeeds = () => Promise.resolve('ok');

describeWithService(REDIS, 'RedisCircuitStateStore (real Redis)', () => {
  const apps = useTestApps();
  let admin: Redis;
  let prefix: string;
  let run = 0;

  beforeAll(() => {
    admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    return admin.connect();
  });
  afterAll(() => admin.quit());

  beforeEach(() => {
    prefix = `test:circuit:${process.pid}:${Date.now()}:${++run}:`;
  });
  afterEach(async () => {
    await apps.closeAll();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  });

  /** An application sharing circuit state through Redis under this test's prefix. */
  async function instance(
    options: {
      policies?: Record<string, PolicyConfig>;
      clock?: FakeClock;
      store?: RedisCircuitStateStore;
    } = {},
  ) {
    const store =
      options.store ??
      new RedisCircuitStateStore({ connection: REDIS_URL, prefix, syncInterval: 20 });
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({
          stateStore: store,
          policies: options.policies,
          clock: options.clock,
        }),
      ],
      providers: [GatewayClient],
    });
    return { app, store, registry: app.get(ResilienceRegistry), client: app.get(GatewayClient) };
  }

  /** Waits (2 s at most: a loaded host is slow) until Redis holds that state of the breaker. */
  async function stored(name: string, state: string): Promise<void> {
    const end = Date.now() + 2_000;
    while ((await admin.hget(`${prefix}{${name}}`, 'state')) !== state) {
      if (Date.now() > end) throw new Error(`"${name}" never stored as ${state}`);
      await sleep(5);
    }
  }

  function eventsOf(app: TestingModule): ResilienceEvent[] {
    const events: ResilienceEvent[] = [];
    app.get(ResilienceRegistry).events$.subscribe((event) => events.push(event));
    return events;
  }

  it('a breaker that opens on one instance rejects calls on the other within 100 ms', async () => {
    const a = await instance();
    const b = await instance();
    const events = eventsOf(b.app);
    a.client.fail = true;
    for (let i = 0; i < 3; i++) await expect(a.client.call()).rejects.toThrow('gateway down');
    const opened = performance.now();
    expect(a.registry.circuitBreaker('gateway')!.state).toBe('open');

    await waitFor(() => b.registry.circuitBreaker('gateway')!.state === 'open', 100);
    const error = await rejectionOf(b.client.call());
    const delay = performance.now() - opened;
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error.retryAfter).toBeGreaterThan(59_000);
    expect(delay).toBeLessThan(100);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'state-change',
        name: 'gateway',
        to: 'open',
        reason: 'shared-state',
      }),
    );
  });

  it('an instance started after the breaker opened starts open, with the same opening time', async () => {
    const a = await instance();
    a.registry.circuitBreaker('gateway')!.open();
    const openedAt = a.registry.circuitBreaker('gateway')!.snapshot().openedAt;
    await stored('gateway', 'open'); // a late instance reads it at bootstrap

    const b = await instance();
    const breaker = b.registry.circuitBreaker('gateway')!;
    expect(breaker.state).toBe('open');
    expect(breaker.snapshot().openedAt).toBe(openedAt);
    await expect(b.client.call()).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('closing the breaker on one instance closes it on the other', async () => {
    const a = await instance();
    const b = await instance();
    a.registry.circuitBreaker('gateway')!.open();
    await waitFor(() => b.registry.circuitBreaker('gateway')!.state === 'open', 500);
    b.registry.circuitBreaker('gateway')!.close();
    await waitFor(() => a.registry.circuitBreaker('gateway')!.state === 'closed', 500);
    await expect(a.client.call()).resolves.toBe('ok');
  });

  it('consecutive failures spread over two instances open the breaker for both', async () => {
    const policies = { spread: { circuitBreaker: { failureThreshold: 4, resetTimeout: 60_000 } } };
    const a = await instance({ policies });
    const b = await instance({ policies });
    const pa = a.registry.policy('spread')!;
    const pb = b.registry.policy('spread')!;
    for (let i = 0; i < 2; i++) {
      await expect(pa.execute(fails)).rejects.toThrow('upstream down');
      await expect(pb.execute(fails)).rejects.toThrow('upstream down');
    }
    // each instance saw 2 of the 4 failures: neither opens on its own counts
    expect(a.registry.circuitBreaker('spread')!.stats().failureCount).toBe(2);

    await waitFor(
      () =>
        a.registry.circuitBreaker('spread')!.state === 'open' &&
        b.registry.circuitBreaker('spread')!.state === 'open',
      1_000,
    );
    await expect(pa.execute(succeeds)).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(pb.execute(succeeds)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('a success on one instance resets the aggregated consecutive failures', async () => {
    const policies = { reset: { circuitBreaker: { failureThreshold: 5, resetTimeout: 60_000 } } };
    const a = await instance({ policies });
    const b = await instance({ policies });
    const pa = a.registry.policy('reset')!;
    const pb = b.registry.policy('reset')!;
    const failures = async (expected: string) => {
      const end = Date.now() + 2_000; // batches are due every 20 ms; a loaded host is slower
      while ((await admin.hget(`${prefix}{reset}`, 'failures')) !== expected) {
        if (Date.now() > end) throw new Error(`aggregated failures never reached ${expected}`);
        await sleep(5);
      }
    };
    for (let i = 0; i < 3; i++) await expect(pa.execute(fails)).rejects.toThrow();
    await failures('3'); // A's batch is in
    await expect(pb.execute(succeeds)).resolves.toBe('ok');
    await failures('0'); // B's batch: a success, no failure after it
    await expect(pa.execute(fails)).rejects.toThrow();
    await failures('1');
    // A alone has seen 4 consecutive failures; across both instances only 1 follows a success
    expect(a.registry.circuitBreaker('reset')!.stats().failureCount).toBe(4);
    expect(await admin.hget(`${prefix}{reset}`, 'failures')).toBe('1');
    expect(a.registry.circuitBreaker('reset')!.state).toBe('closed');
  });

  it('failure rates are computed over the calls of every instance', async () => {
    const policies = {
      rates: {
        circuitBreaker: {
          failureRateThreshold: 50,
          minimumCalls: 6,
          slidingWindow: { type: 'count' as const, size: 10 },
        },
      },
    };
    const a = await instance({ policies });
    const b = await instance({ policies });
    for (let i = 0; i < 3; i++) {
      await expect(a.registry.policy('rates')!.execute(fails)).rejects.toThrow();
      await expect(b.registry.policy('rates')!.execute(succeeds)).resolves.toBe('ok');
    }
    // locally each instance has 3 calls, under minimumCalls; together 6 calls at 50 %
    await waitFor(() => b.registry.circuitBreaker('rates')!.state === 'open', 1_000);
    expect(a.registry.circuitBreaker('rates')!.state).toBe('open');
  });

  it('across instances at most halfOpenMaxCalls trials run, and successes count across instances', async () => {
    const clock = new FakeClock(Date.now());
    const policies = {
      trials: {
        circuitBreaker: { resetTimeout: 10_000, halfOpenMaxCalls: 2, successThreshold: 2 },
      },
    };
    // a generous command timeout: a trial-slot request that times out on a loaded host
    // falls back to the local limit, which this test is not about
    const patient = () =>
      new RedisCircuitStateStore({
        connection: REDIS_URL,
        prefix,
        syncInterval: 20,
        commandTimeout: 2_000,
      });
    const a = await instance({ policies, clock, store: patient() });
    const b = await instance({ policies, clock, store: patient() });
    const ba = a.registry.circuitBreaker('trials')!;
    const bb = b.registry.circuitBreaker('trials')!;
    ba.open();
    await waitFor(() => bb.state === 'open', 500);
    await clock.advance(10_000);
    expect([ba.state, bb.state]).toEqual(['half-open', 'half-open']);

    let running = 0;
    let peak = 0;
    const gates: Deferred<string>[] = [];
    const trial = () => {
      running++;
      peak = Math.max(peak, running);
      const gate = deferred<string>();
      gates.push(gate);
      return gate.promise.finally(() => running--);
    };
    const calls: Outcome<string>[] = [];
    for (let i = 0; i < 6; i++) {
      calls.push(settle(a.registry.policy('trials')!.execute(trial)));
      calls.push(settle(b.registry.policy('trials')!.execute(trial)));
    }
    await waitFor(() => calls.filter((c) => c.settled).length === 10, 1_000);
    expect(peak).toBe(2);
    expect(running).toBe(2);
    const rejected = calls.filter((c) => c.status === 'rejected');
    expect(rejected).toHaveLength(10);
    for (const r of rejected) expect(r.error).toBeInstanceOf(CircuitOpenError);

    for (const gate of gates) gate.resolve('ok');
    // the instance whose release closes the breaker learns it from the reply, the other one
    // over pub/sub (the batch timer, and its probe, run on the FakeClock: they do not help)
    await waitFor(() => ba.state === 'closed' && bb.state === 'closed', 3_000);
  });

  it('a late reply to an earlier batch does not undo a local opening', async () => {
    const own = new Redis(REDIS_URL);
    const report = createHash('sha1').update(REPORT).digest('hex');
    const held: Array<() => void> = [];
    let hold = false;
    const evalsha = own.evalsha.bind(own) as (...args: unknown[]) => Promise<unknown>;
    // keep the reply of a batch back while the breaker opens locally
    (own as unknown as { evalsha: unknown }).evalsha = (...args: unknown[]) => {
      const reply = evalsha(...args);
      if (!hold || args[0] !== report) return reply;
      return reply.then((value) => new Promise((resolve) => held.push(() => resolve(value))));
    };
    const store = new RedisCircuitStateStore({ client: own, prefix, syncInterval: 20 });
    const a = await instance({ store });
    const events = eventsOf(a.app);
    a.client.fail = true;
    hold = true;
    for (let i = 0; i < 2; i++) await expect(a.client.call()).rejects.toThrow('gateway down');
    await waitFor(() => held.length === 1, 500); // the batch with 2 failures is in Redis
    await expect(a.client.call()).rejects.toThrow('gateway down');
    expect(a.registry.circuitBreaker('gateway')!.state).toBe('open');
    hold = false;
    held.forEach((resolve) => resolve());
    await sleep(50);

    expect(a.registry.circuitBreaker('gateway')!.state).toBe('open');
    expect(events.filter((e) => e.type === 'state-change').map((e) => e.to)).toEqual(['open']);
    expect(await admin.hget(`${prefix}{gateway}`, 'state')).toBe('open');
    await apps.close(a.app);
    await own.quit();
  });

  it('a late reply to a trial release does not undo the closing another instance published', async () => {
    await admin.script('LOAD', RELEASE); // so the release goes out as EVALSHA
    const own = new Redis(REDIS_URL);
    const release = createHash('sha1').update(RELEASE).digest('hex');
    const held: Array<() => void> = [];
    const evalsha = own.evalsha.bind(own) as (...args: unknown[]) => Promise<unknown>;
    // keep back the reply to A's trial release: it tells the state before the closing
    (own as unknown as { evalsha: unknown }).evalsha = (...args: unknown[]) => {
      const reply = evalsha(...args);
      if (args[0] !== release) return reply;
      return reply.then((value) => new Promise((resolve) => held.push(() => resolve(value))));
    };
    const clock = new FakeClock(Date.now());
    const policies = {
      trials: {
        circuitBreaker: { resetTimeout: 10_000, halfOpenMaxCalls: 2, successThreshold: 2 },
      },
    };
    // the client belongs to the test: close it even when an expectation fails
    try {
      const a = await instance({
        policies,
        clock,
        store: new RedisCircuitStateStore({ client: own, prefix, syncInterval: 20 }),
      });
      const b = await instance({ policies, clock });
      const ba = a.registry.circuitBreaker('trials')!;
      const bb = b.registry.circuitBreaker('trials')!;
      ba.open(); // the first state of the key: version 1
      await waitFor(() => bb.state === 'open', 500);
      await clock.advance(10_000);
      expect([ba.state, bb.state]).toEqual(['half-open', 'half-open']);

      // one trial on each instance
      const gates: Deferred<string>[] = [];
      const trial = () => {
        const gate = deferred<string>();
        gates.push(gate);
        return gate.promise;
      };
      const first = a.registry.policy('trials')!.execute(trial);
      await waitFor(() => gates.length === 1, 500);
      const second = b.registry.policy('trials')!.execute(trial);
      await waitFor(() => gates.length === 2, 500);
      gates[0].resolve('ok');
      await expect(first).resolves.toBe('ok');
      await waitFor(() => held.length === 1, 500); // A's success is counted in Redis
      gates[1].resolve('ok');
      await expect(second).resolves.toBe('ok');
      // B's success reaches successThreshold: B closes, A learns it over pub/sub
      await waitFor(() => ba.state === 'closed' && bb.state === 'closed', 1_000);

      const events = eventsOf(a.app);
      held.forEach((resolve) => resolve());
      await sleep(50);
      expect(ba.state).toBe('closed');
      expect(events.filter((e) => e.type === 'state-change')).toEqual([]);
    } finally {
      await apps.closeAll();
      await own.quit();
    }
  });

  it('a key created anew (expired or deleted) is adopted although its version starts again at 1', async () => {
    const a = await instance();
    const b = await instance();
    const ba = a.registry.circuitBreaker('gateway')!;
    const bb = b.registry.circuitBreaker('gateway')!;
    ba.open(); // version 1
    await waitFor(() => bb.state === 'open', 500);
    ba.close(); // version 2
    await waitFor(() => bb.state === 'closed', 500);
    await stored('gateway', 'closed');

    await admin.del(`${prefix}{gateway}`);
    await sleep(5); // the new opening changes the state later than the closing did
    ba.open(); // writes the key anew: version 1
    await waitFor(() => bb.state === 'open', 500);
    expect(await admin.hget(`${prefix}{gateway}`, 'version')).toBe('1');
  });

  it('keys carry the prefix and a TTL', async () => {
    const store = new RedisCircuitStateStore({ connection: REDIS_URL, prefix, ttl: 120_000 });
    const a = await instance({ store });
    a.registry.circuitBreaker('gateway')!.open();
    await stored('gateway', 'open');
    const keys = await admin.keys(`${prefix}*`);
    expect(keys).toEqual([`${prefix}{gateway}`]);
    const ttl = await admin.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(110_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('a breaker with shared: false stays local', async () => {
    const policies = { own: { circuitBreaker: { shared: false, failureThreshold: 1 } } };
    const a = await instance({ policies });
    const b = await instance({ policies });
    await expect(a.registry.policy('own')!.execute(fails)).rejects.toThrow();
    expect(a.registry.circuitBreaker('own')!.state).toBe('open');
    await sleep(60);
    expect(b.registry.circuitBreaker('own')!.state).toBe('closed');
    expect(await admin.keys(`${prefix}{own}*`)).toEqual([]);
  });

  it('closes the connections it created, and leaves a client it was given open', async () => {
    const name = `${prefix.replace(/:/g, '-')}conn`;
    const created = new RedisCircuitStateStore({
      connection: { host: REDIS.host, port: REDIS.port, connectionName: name },
      prefix,
    });
    const own = new Redis(REDIS_URL, { connectionName: `${name}-user` });
    const given = new RedisCircuitStateStore({ client: own, prefix });
    const a = await instance({ store: created });
    const b = await instance({ store: given });
    const names = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${name}`)).length;
    expect(await names()).toBe(4); // commands + pub/sub of each store

    await apps.close(a.app);
    await apps.close(b.app);
    await sleep(30);
    expect(await names()).toBe(1); // only the client the test owns
    expect(own.status).toBe('ready');
    await own.quit();
  });
});
