import {
  CanActivate,
  ExecutionContext,
  Global,
  Injectable,
  INestApplication,
  Module,
  Type,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CircuitBreaker,
  CircuitBreakerPolicy,
  DashboardEvent,
  DashboardSnapshot,
  ResilienceConfigError,
  ResilienceDashboardFeed,
  ResilienceDashboardAsyncOptions,
  ResilienceDashboardModule,
  ResilienceDashboardOptions,
  ResilienceModule,
  ResilienceModuleOptions,
  ResilienceRegistry,
  Retry,
} from '../../lib';
import * as serializing from '../../lib/dashboard/serialize-event';
import { ADAPTERS, AdapterName, bootstrapTestingModule } from '../e2e/utils/bootstrap';
import { openSse, SseConnection } from '../fixtures/sse-client';
import { useTestApps } from '../fixtures/testing-app';
import { configErrorOf } from '../utils/config-error';
import { FakeClock } from '../utils/fake-clock';

const TOKEN = 'dashboard-test-token';
const BREAKER = 'dashboard-gateway';
const INTERVAL = 60;

@Injectable()
class Gateway {
  @CircuitBreaker(BREAKER, { failureThreshold: 2 })
  async call(fail = false, delayMs = 0): Promise<string> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (fail) throw new TypeError('gateway down');
    return 'ok';
  }
}

/** Lets a request in when it says `x-role: operator`; depends on a global provider. */
@Injectable()
class RoleSource {
  readonly allowed = 'operator';
}
@Global()
@Module({ providers: [RoleSource], exports: [RoleSource] })
class RoleModule {}

@Injectable()
class OperatorGuard implements CanActivate {
  constructor(private readonly roles: RoleSource) {}
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string> }>();
    return request.headers['x-role'] === this.roles.allowed;
  }
}

function appModule(options: ResilienceDashboardOptions, resilience: ResilienceModuleOptions = {}) {
  @Module({
    imports: [
      ResilienceModule.forRoot(resilience),
      RoleModule,
      ResilienceDashboardModule.forRoot({ statsInterval: INTERVAL, ...options }),
    ],
    providers: [Gateway],
  })
  class DashboardApp {}
  return DashboardApp;
}

describe('ResilienceDashboardModule options', () => {
  it('refuses to start without a token or a guard, saying why', () => {
    for (const options of [undefined, {}, { path: 'ops' }, { token: undefined }]) {
      const error = configErrorOf(() => ResilienceDashboardModule.forRoot(options));
      expect(error.message).toMatch(/needs "token" or "guard"/);
      expect(error.message).toMatch(/exposes the internals/);
    }
  });

  it('names the bad option and the expected value', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ token: TOKEN, path: 'a/:id' }, 'path', /no route parameters/],
      [{ token: TOKEN, path: '' }, 'path', /non-empty route/],
      [{ token: TOKEN, path: 'a//b' }, 'path', /single "\/"/],
      [{ token: TOKEN, path: 42 }, 'path', /a string/],
      [{ token: TOKEN, statsInterval: 10 }, 'statsInterval', /from 50 to/],
      [{ token: TOKEN, statsInterval: Number.NaN }, 'statsInterval', /duration in ms/],
      [{ token: TOKEN, statsInterval: '1000' }, 'statsInterval', /duration in ms/],
      [{ token: TOKEN, maxEvents: 0 }, 'maxEvents', /whole number from 1 to 10000/],
      [{ token: TOKEN, maxEvents: 2.5 }, 'maxEvents', /whole number/],
      [{ token: TOKEN, maxEvents: 20_000 }, 'maxEvents', /to 10000/],
      [{ guard: 42 }, 'guard', /guard class or an object with a canActivate/],
      [{ guard: {} }, 'guard', /canActivate/],
      [{ token: TOKEN, tokn: 'x' }, 'tokn', /unknown key "tokn".*Known keys: path, token/],
    ];
    for (const [options, key, expected] of cases) {
      const error = configErrorOf(() =>
        ResilienceDashboardModule.forRoot(options as ResilienceDashboardOptions),
      );
      expect({ key: error.key, message: error.message }).toEqual({
        key,
        message: expect.stringMatching(expected),
      });
      expect(error.message).toContain(`"${key}"`);
    }
  });

  it('rejects a weak token without printing it', () => {
    for (const token of ['short', 'has white space', 'naïve-token-value', 12345678]) {
      const error = configErrorOf(() =>
        ResilienceDashboardModule.forRoot({ token } as ResilienceDashboardOptions),
      );
      expect(error.key).toBe('token');
      expect(error.message).toMatch(/at least 8 characters/);
      expect(error.message).not.toContain(String(token));
    }
  });

  it('fails bootstrap with a clear error when ResilienceModule is missing', async () => {
    const builder = Test.createTestingModule({
      imports: [ResilienceDashboardModule.forRoot({ token: TOKEN })],
    });
    await expect(builder.compile()).rejects.toThrow(/found no ResilienceRegistry/);
  });
});

describe('ResilienceDashboardFeed', () => {
  const apps = useTestApps();
  const STORM = 'dashboard-storm';

  @Injectable()
  class Storm {
    fail = false;

    @CircuitBreaker(STORM, { failureThreshold: 1, resetTimeout: 60_000 })
    async call(): Promise<string> {
      if (this.fail) throw new TypeError('storm');
      return 'ok';
    }

    @Retry({ maxAttempts: 2, backoff: { type: 'fixed', initialDelay: 10, jitter: 'none' } })
    async flaky(error: Error): Promise<never> {
      throw error;
    }
  }

  async function start(clock: FakeClock, maxEvents = 100) {
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({ clock }),
        ResilienceDashboardModule.forRoot({ token: TOKEN, maxEvents }),
      ],
      providers: [Storm],
    });
    return {
      feed: app.get(ResilienceDashboardFeed),
      registry: app.get(ResilienceRegistry),
      storm: app.get(Storm),
    };
  }

  afterEach(() => jest.restoreAllMocks());

  it('takes snapshots at the module clock time, as stats and events are', async () => {
    const clock = new FakeClock(1_000_000); // far from the wall clock
    const { feed, registry, storm } = await start(clock);
    expect(feed.snapshot().at).toBe(1_000_000);

    await clock.advance(2_500);
    storm.fail = true;
    await expect(storm.call()).rejects.toThrow('storm'); // opens
    const snapshot = feed.snapshot();
    expect(snapshot.at).toBe(1_002_500);
    expect(snapshot.stats.circuitBreakers[STORM].stateChangedAt).toBe(snapshot.at);
    expect(feed.recentEvents()).toEqual([
      expect.objectContaining({ type: 'state-change', to: 'open', at: snapshot.at }),
    ]);
    expect(registry.stats().circuitBreakers[STORM].state).toBe('open');
  });

  it('turns events into JSON when they are read, not when they happen', async () => {
    const serialize = jest.spyOn(serializing, 'serializeEvent');
    const clock = new FakeClock();
    const { feed, storm } = await start(clock, 50);
    storm.fail = true;
    await expect(storm.call()).rejects.toThrow('storm'); // opens
    for (let i = 0; i < 1_000; i++) await expect(storm.call()).rejects.toThrow(/is open/);
    expect(serialize).not.toHaveBeenCalled();

    const events = feed.recentEvents();
    expect(events).toHaveLength(50);
    expect(events[49]).toMatchObject({ type: 'call-rejected', name: STORM, seq: 1_001 });
    expect(serialize).toHaveBeenCalledTimes(50); // the kept ones only
    expect(feed.recentEvents()).toEqual(events);
    expect(serialize).toHaveBeenCalledTimes(50); // once each
  });

  it('copies an error when its event happens: a later change does not show', async () => {
    const clock = new FakeClock();
    const { feed, storm } = await start(clock);
    const error = new RangeError('first words');
    const call = storm.flaky(error).catch((e: unknown) => e);
    await clock.advance(0); // the first attempt failed: a retry event, waiting 10 ms
    error.message = 'changed afterwards';
    await clock.advance(10);
    expect(await call).toBe(error);
    const [retry] = feed.recentEvents();
    expect(retry).toMatchObject({
      type: 'retry',
      attempt: 1,
      error: { name: 'RangeError', message: 'first words' },
    });
  });
});

describe.each(ADAPTERS)('ResilienceDashboardModule over HTTP (%s)', (adapter: AdapterName) => {
  let app: INestApplication | undefined;
  let base: string;
  const agents: Agent[] = [];
  const streams: SseConnection[] = [];

  async function start(
    options: ResilienceDashboardOptions = { token: TOKEN },
    resilience: ResilienceModuleOptions = {},
  ) {
    app = await bootstrapTestingModule(adapter, appModule(options, resilience));
    const { port } = app.getHttpServer().address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
    return app;
  }

  async function stream(path: string, headers: Record<string, string> = {}, agent?: Agent) {
    const connection = await openSse(`${base}/${path}`, headers, agent ?? false);
    streams.push(connection);
    return connection;
  }

  const parse = <T>(message: { data: string }): T => JSON.parse(message.data) as T;
  const feed = () => app!.get(ResilienceDashboardFeed);
  const breaker = () =>
    app!.get(ResilienceRegistry).circuitBreaker(BREAKER) as CircuitBreakerPolicy;
  const waitUntil = async (probe: () => boolean, what: string, timeout = 2_000) => {
    const deadline = Date.now() + timeout;
    while (!probe()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  afterEach(async () => {
    streams.splice(0).forEach((s) => s.close());
    await app?.close();
    app = undefined;
    agents.splice(0).forEach((a) => a.destroy());
  });

  it('answers 401 without the right token, on every route', async () => {
    await start();
    for (const path of ['resilience/dashboard', 'resilience/dashboard/stats']) {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong-token-value' },
      ];
      for (const headers of attempts) {
        const response = await fetch(`${base}/${path}`, { headers });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(await response.text()).not.toContain('<html');
      }
      expect((await fetch(`${base}/${path}?token=wrong-token-value`)).status).toBe(401);
      expect((await fetch(`${base}/${path}?token=${TOKEN}x`)).status).toBe(401);
      expect((await fetch(`${base}/${path}`, { headers: { authorization: TOKEN } })).status).toBe(
        401,
      );
    }
    const refused = await stream('resilience/dashboard/stream');
    expect(refused.status).toBe(401);
    expect(refused.headers['content-type']).not.toMatch(/event-stream/);
    expect(feed().openStreams).toBe(0);
  });

  it('accepts the token as a Bearer header or as ?token=', async () => {
    await start();
    const viaHeader = await fetch(`${base}/resilience/dashboard/stats`, {
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(viaHeader.status).toBe(200);
    const viaQuery = await fetch(`${base}/resilience/dashboard/stats?token=${TOKEN}`);
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.headers.get('cache-control')).toBe('no-store');
    const snapshot = (await viaQuery.json()) as DashboardSnapshot;
    expect(snapshot).toMatchObject({
      instance: feed().instance,
      interval: INTERVAL,
      maxEvents: 100,
      stats: { circuitBreakers: { [BREAKER]: { state: 'closed', totalCalls: 0 } } },
    });
  });

  it('serves one self-contained page as text/html', async () => {
    await start({ token: TOKEN, path: '/ops/resilience/' });
    expect((await fetch(`${base}/resilience/dashboard?token=${TOKEN}`)).status).toBe(404);
    const response = await fetch(`${base}/ops/resilience?token=${TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<title>Resilience dashboard</title>');
    // nothing is loaded from elsewhere: src/href only as data: URLs, no CSS url(), no @import
    const references = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]*)/gi)].map(
      (match) => match[1],
    );
    expect(references).toEqual(['data:,']); // the empty favicon, so no request goes out for one
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).not.toMatch(/url\(|@import/);
    // the inline script and style are the ones the CSP allows
    const { createHash } = await import('node:crypto');
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
    const sha = (text: string) => createHash('sha256').update(text).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${sha(script)}'`);
    expect(csp).toContain(`style-src 'sha256-${sha(style)}'`);
    // the stream is found next to the page, with the token passed on
    expect(script).toContain("base + '/stream' + query");
  });

  it('streams a snapshot, periodic stats with latency, and events', async () => {
    await start();
    const gateway = app!.get(Gateway);
    await gateway.call(true).catch(() => undefined); // one event-free failure before connecting

    const sse = await stream(`resilience/dashboard/stream?token=${TOKEN}`);
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    const first = await sse.next();
    expect(first.type).toBe('stats');
    expect(first.retry).toBe(2_000);
    const initial = parse<DashboardSnapshot>(first);
    expect(initial.stats.circuitBreakers[BREAKER]).toMatchObject({ failedCalls: 1 });
    expect(feed().openStreams).toBe(1);

    // calls while the stream is open show up in the next interval's latency figures
    await Promise.all([gateway.call(false, 20), gateway.call(false, 20), gateway.call()]);
    let latency: DashboardSnapshot['latency'][string] | undefined;
    for (let i = 0; i < 10 && !latency; i++) {
      latency = parse<DashboardSnapshot>(await sse.next('stats')).latency[BREAKER];
    }
    expect(latency).toMatchObject({ calls: 3, failures: 0 });
    expect(latency!.max).toBeGreaterThanOrEqual(15);
    expect(latency!.p99).toBe(latency!.max);
    expect(latency!.mean).toBeGreaterThan(0);

    // two failures in a row open the breaker: the state change arrives as an event at once
    await gateway.call(true).catch(() => undefined);
    await gateway.call(true).catch(() => undefined);
    const event = parse<DashboardEvent>(await sse.next('event'));
    expect(event).toMatchObject({
      type: 'state-change',
      name: BREAKER,
      from: 'closed',
      to: 'open',
      reason: 'failure-threshold',
      seq: 1,
    });
    await expect(gateway.call()).rejects.toThrow(/is open/);
    const rejected = parse<DashboardEvent>(await sse.next('event'));
    expect(rejected).toMatchObject({ type: 'call-rejected', name: BREAKER, seq: 2 });

    const later = parse<DashboardSnapshot>(await sse.next('stats'));
    expect(later.stats.circuitBreakers[BREAKER]).toMatchObject({
      state: 'open',
      rejectedCalls: 1,
      lastError: { name: 'TypeError', message: 'gateway down' },
    });
    expect(later.lastEventSeq).toBe(2);
  });

  it('carries the SLOs in every snapshot and streams their violations and recoveries', async () => {
    await start(
      { token: TOKEN },
      { slo: { [BREAKER]: { target: 0.5, window: 60_000, minimumCalls: 2 } } },
    );
    const gateway = app!.get(Gateway);
    const viaGet = await fetch(`${base}/resilience/dashboard/stats?token=${TOKEN}`);
    expect(((await viaGet.json()) as DashboardSnapshot).stats.slo).toEqual({
      [BREAKER]: {
        target: 0.5,
        window: 60_000,
        calls: 0,
        failures: 0,
        successRate: 1,
        errorBudget: 0,
        errorBudgetRemaining: 1,
        violated: false,
      },
    });

    const sse = await stream(`resilience/dashboard/stream?token=${TOKEN}`);
    expect(parse<DashboardSnapshot>(await sse.next()).stats.slo[BREAKER].violated).toBe(false);
    const nextEvent = async (type: string): Promise<DashboardEvent> => {
      for (;;) {
        const event = parse<DashboardEvent>(await sse.next('event'));
        if (event.type === type) return event;
      }
    };

    // two failures: below 50 % with the two calls the SLO needs (and the breaker opens)
    await gateway.call(true).catch(() => undefined);
    await gateway.call(true).catch(() => undefined);
    const violation = await nextEvent('slo-violation');
    expect(violation).toEqual({
      seq: expect.any(Number),
      type: 'slo-violation',
      name: BREAKER,
      at: expect.any(Number),
      target: 0.5,
      successRate: 0,
      calls: 2,
      failures: 2,
      window: 60_000,
    });
    expect(JSON.stringify(feed().recentEvents())).toContain('"type":"slo-violation"');
    let slo: DashboardSnapshot['stats']['slo'][string] | undefined;
    for (let i = 0; i < 10 && !slo?.violated; i++) {
      slo = parse<DashboardSnapshot>(await sse.next('stats')).stats.slo[BREAKER];
    }
    expect(slo).toMatchObject({ calls: 2, failures: 2, errorBudgetRemaining: 0, violated: true });

    breaker().close();
    for (let i = 0; i < 3; i++) await gateway.call();
    const recovered = await nextEvent('slo-recovered');
    // met again with the second success: 2 of 4 is not below 50 %
    expect(recovered).toMatchObject({ name: BREAKER, calls: 4, failures: 2, successRate: 0.5 });
    expect(recovered.seq).toBeGreaterThan(violation.seq);
    for (let i = 0; i < 10 && slo?.violated; i++) {
      slo = parse<DashboardSnapshot>(await sse.next('stats')).stats.slo[BREAKER];
    }
    expect(slo).toMatchObject({ calls: 5, failures: 2, violated: false });
  });

  it('replays the recent events (capped at maxEvents) to a page that connects later', async () => {
    await start({ token: TOKEN, maxEvents: 2 });
    breaker().open();
    breaker().close();
    breaker().open();
    const sse = await stream(`resilience/dashboard/stream?token=${TOKEN}`);
    expect(parse<DashboardSnapshot>(await sse.next()).lastEventSeq).toBe(3);
    const replayed = [await sse.next(), await sse.next()].map((m) => parse<DashboardEvent>(m));
    expect(replayed.map((e) => [e.seq, e.to])).toEqual([
      [2, 'closed'],
      [3, 'open'],
    ]);
    expect(feed().recentEvents()).toHaveLength(2);
  });

  it('releases the stream, the timer and the call observer when the client leaves', async () => {
    await start();
    expect(breaker().callObserver).toBeUndefined();
    const one = await stream(`resilience/dashboard/stream?token=${TOKEN}`);
    const two = await stream(`resilience/dashboard/stream?token=${TOKEN}`);
    await one.next('stats');
    await two.next('stats');
    expect(feed().openStreams).toBe(2);
    expect(breaker().callObserver).toEqual(expect.any(Function));

    one.close();
    await waitUntil(() => feed().openStreams === 1, 'the first stream to be released');
    expect(breaker().callObserver).toEqual(expect.any(Function)); // still one page open
    await two.next('stats'); // the other page keeps getting its stats

    two.close();
    await waitUntil(() => feed().openStreams === 0, 'the second stream to be released');
    expect(breaker().callObserver).toBeUndefined();
  });

  it('ends open streams at app.close() without waiting for the clients', async () => {
    await start();
    const keepAlive = new Agent({ keepAlive: true });
    agents.push(keepAlive);
    const sse = await stream(`resilience/dashboard/stream?token=${TOKEN}`, {}, keepAlive);
    await sse.next('stats');
    expect(feed().openStreams).toBe(1);
    const dashboardFeed = feed();
    const registry = app!.get(ResilienceRegistry);

    const started = Date.now();
    await app!.close();
    app = undefined;
    const took = Date.now() - started;
    expect(took).toBeLessThan(2_000);
    await sse.ended;
    expect(dashboardFeed.openStreams).toBe(0);
    expect((registry.circuitBreaker(BREAKER) as CircuitBreakerPolicy).callObserver).toBeUndefined();
    expect(() => dashboardFeed.stream()).toThrow(/shutting down/);
  });

  it('protects the routes with a guard class resolved by Nest', async () => {
    await start({ guard: OperatorGuard });
    expect((await fetch(`${base}/resilience/dashboard`)).status).toBe(403);
    expect((await fetch(`${base}/resilience/dashboard?token=${TOKEN}`)).status).toBe(403);
    const page = await fetch(`${base}/resilience/dashboard`, { headers: { 'x-role': 'operator' } });
    expect(page.status).toBe(200);
    const sse = await stream('resilience/dashboard/stream', { 'x-role': 'operator' });
    expect(sse.status).toBe(200);
    expect((await sse.next()).type).toBe('stats');
  });

  it('needs both the token and the guard when both are configured', async () => {
    const checked: string[] = [];
    const guard: CanActivate = {
      canActivate: (context) => {
        const request = context.switchToHttp().getRequest<{ headers: Record<string, string> }>();
        checked.push(request.headers['x-role'] ?? 'none');
        return request.headers['x-role'] === 'operator';
      },
    };
    await start({ token: TOKEN, guard });
    const url = `${base}/resilience/dashboard/stats`;
    expect((await fetch(url, { headers: { 'x-role': 'operator' } })).status).toBe(401);
    expect((await fetch(`${url}?token=${TOKEN}`)).status).toBe(403);
    expect(
      (await fetch(`${url}?token=${TOKEN}`, { headers: { 'x-role': 'operator' } })).status,
    ).toBe(200);
    // the token is checked first: the guard never saw the request without it
    expect(checked).toEqual(['none', 'operator']);
  });
});

/** Stands for a configuration service (such as @nestjs/config's), in a module of its own. */
class Settings {
  constructor(private readonly values: Record<string, unknown>) {}
  get<T>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }
}

function settingsModule(values: Record<string, unknown>) {
  @Module({
    providers: [{ provide: Settings, useValue: new Settings(values) }],
    exports: [Settings],
  })
  class SettingsModule {}
  return SettingsModule;
}

/** An app whose dashboard reads its options from `Settings` through forRootAsync(). */
function asyncAppModule(
  values: Record<string, unknown>,
  extra: Omit<ResilienceDashboardAsyncOptions, 'useFactory'> & {
    useFactory?: ResilienceDashboardAsyncOptions['useFactory'];
  } = {},
) {
  @Module({
    imports: [
      ResilienceModule.forRoot(),
      RoleModule,
      ResilienceDashboardModule.forRootAsync({
        imports: [settingsModule(values)],
        inject: [Settings],
        useFactory: async (settings: Settings) => {
          await new Promise((resolve) => setImmediate(resolve)); // resolved later, as config is
          return {
            token: settings.get<string>('DASHBOARD_TOKEN'),
            statsInterval: settings.get<number>('DASHBOARD_INTERVAL'),
            maxEvents: settings.get<number>('DASHBOARD_MAX_EVENTS'),
          };
        },
        ...extra,
      }),
    ],
    providers: [Gateway],
  })
  class AsyncDashboardApp {}
  return AsyncDashboardApp;
}

describe('ResilienceDashboardModule.forRootAsync() options', () => {
  const apps = useTestApps();
  const useFactory = () => ({ token: TOKEN });

  /** Bootstrap fails: the error it fails with. */
  const bootstrapError = async (module: Type): Promise<unknown> => {
    const error: unknown = await apps.start({ imports: [module] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error === undefined) throw new Error('expected the bootstrap to fail');
    return error;
  };

  it('checks its own options when the module is declared, naming the bad one', () => {
    const cases: [unknown, string, RegExp][] = [
      [undefined, 'options', /an object/],
      [{}, 'useFactory', /a function returning the options/],
      [{ useFactory: { token: TOKEN } }, 'useFactory', /a function/],
      [{ useFactory, path: 'a/:id' }, 'path', /no route parameters/],
      [{ useFactory, guard: 42 }, 'guard', /guard class or an object with a canActivate/],
      [{ useFactory, inject: Settings }, 'inject', /an array of providers/],
      [{ useFactory, imports: 'SettingsModule' }, 'imports', /an array of modules/],
      [{ useFactory, token: TOKEN }, 'token', /unknown key "token".*imports, inject, useFactory/],
      [{ useClass: Settings }, 'useClass', /unknown key "useClass"/],
    ];
    for (const [options, key, expected] of cases) {
      const error = configErrorOf(() =>
        ResilienceDashboardModule.forRootAsync(options as ResilienceDashboardAsyncOptions),
      );
      expect({ key: error.key, message: error.message }).toEqual({
        key,
        message: expect.stringMatching(expected),
      });
    }
  });

  it('fails bootstrap when the factory returns a bad value, naming the key', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ DASHBOARD_TOKEN: TOKEN, DASHBOARD_INTERVAL: 10 }, 'statsInterval', /from 50 to/],
      [{ DASHBOARD_TOKEN: TOKEN, DASHBOARD_MAX_EVENTS: 0 }, 'maxEvents', /whole number/],
      [{ DASHBOARD_TOKEN: 12345678 }, 'token', /at least 8 characters/],
    ];
    for (const [values, key, expected] of cases) {
      const error = await bootstrapError(asyncAppModule(values));
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect((error as ResilienceConfigError).key).toBe(key);
      expect((error as ResilienceConfigError).message).toMatch(expected);
      expect((error as ResilienceConfigError).message).toContain(`"${key}"`);
    }
    // a weak token is refused without being printed
    const weak = await bootstrapError(asyncAppModule({ DASHBOARD_TOKEN: 'short-1' }));
    expect(weak).toMatchObject({ key: 'token', message: expect.not.stringContaining('short-1') });
  });

  it('fails bootstrap when the factory gives no token and no guard is configured', async () => {
    const error = await bootstrapError(asyncAppModule({})); // DASHBOARD_TOKEN is not set
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect((error as Error).message).toMatch(/forRootAsync\(\) needs "token" or "guard"/);
    expect((error as Error).message).toMatch(/exposes the internals/);
  });

  it('fails bootstrap when the factory returns something that is not options', async () => {
    const cases: [ResilienceDashboardAsyncOptions['useFactory'], string, RegExp][] = [
      [() => undefined as never, 'useFactory', /got undefined; expected useFactory to return/],
      [async () => [TOKEN] as never, 'useFactory', /to return an object/],
      [() => ({ token: TOKEN, path: 'ops' }) as never, 'path', /next to useFactory/],
      [() => ({ token: TOKEN, guard: OperatorGuard }) as never, 'guard', /next to useFactory/],
      [() => ({ token: TOKEN, tokn: 'x' }) as never, 'tokn', /Known keys: token, statsInterval/],
    ];
    for (const [factory, key, expected] of cases) {
      const error = await bootstrapError(asyncAppModule({}, { useFactory: factory, inject: [] }));
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect({
        key: (error as ResilienceConfigError).key,
        message: (error as Error).message,
      }).toEqual({ key, message: expect.stringMatching(expected) });
    }
  });

  it('fails bootstrap with the error of a factory that throws or rejects', async () => {
    const failure = new Error('configuration unavailable');
    const thrown = await bootstrapError(
      asyncAppModule(
        {},
        {
          useFactory: () => {
            throw failure;
          },
        },
      ),
    );
    expect(thrown).toBe(failure);
    const rejected = await bootstrapError(
      asyncAppModule({}, { useFactory: () => Promise.reject(failure) }),
    );
    expect(rejected).toBe(failure);
  });

  it('takes statsInterval and maxEvents from the factory', async () => {
    const app = await apps.start({
      imports: [
        asyncAppModule({
          DASHBOARD_TOKEN: TOKEN,
          DASHBOARD_INTERVAL: 250,
          DASHBOARD_MAX_EVENTS: 7,
        }),
      ],
    });
    expect(app.get(ResilienceDashboardFeed).snapshot()).toMatchObject({
      interval: 250,
      maxEvents: 7,
    });
  });
});

describe.each(ADAPTERS)('ResilienceDashboardModule.forRootAsync() over HTTP (%s)', (adapter) => {
  let app: INestApplication | undefined;
  let base: string;

  async function start(module: Type) {
    app = await bootstrapTestingModule(adapter, module);
    const { port } = app.getHttpServer().address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
  }

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('checks the token the factory returned; 401 without it', async () => {
    await start(asyncAppModule({ DASHBOARD_TOKEN: TOKEN, DASHBOARD_INTERVAL: 300 }));
    for (const path of ['resilience/dashboard', 'resilience/dashboard/stats']) {
      const missing = await fetch(`${base}/${path}`);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const wrong = await fetch(`${base}/${path}`, {
        headers: { authorization: 'Bearer wrong-token-value' },
      });
      expect(wrong.status).toBe(401);
    }
    const viaHeader = await fetch(`${base}/resilience/dashboard/stats`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(viaHeader.status).toBe(200);
    expect(await viaHeader.json()).toMatchObject({ interval: 300, maxEvents: 100 });
    expect((await fetch(`${base}/resilience/dashboard?token=${TOKEN}`)).status).toBe(200);

    const sse = await openSse(`${base}/resilience/dashboard/stream?token=${TOKEN}`, {}, false);
    try {
      expect(sse.status).toBe(200);
      expect((await sse.next()).type).toBe('stats');
    } finally {
      sse.close();
    }
  });

  it('serves at the static path, with a static guard and the token, needing both', async () => {
    await start(
      asyncAppModule({ DASHBOARD_TOKEN: TOKEN }, { path: 'ops/resilience', guard: OperatorGuard }),
    );
    const url = `${base}/ops/resilience/stats`;
    expect((await fetch(`${base}/resilience/dashboard/stats?token=${TOKEN}`)).status).toBe(404);
    expect((await fetch(url, { headers: { 'x-role': 'operator' } })).status).toBe(401);
    expect((await fetch(`${url}?token=${TOKEN}`)).status).toBe(403);
    const both = await fetch(`${url}?token=${TOKEN}`, { headers: { 'x-role': 'operator' } });
    expect(both.status).toBe(200);
  });

  it('is protected by the static guard alone when the factory returns no token', async () => {
    await start(asyncAppModule({ DASHBOARD_MAX_EVENTS: 5 }, { guard: OperatorGuard }));
    const url = `${base}/resilience/dashboard/stats`;
    expect((await fetch(url)).status).toBe(403);
    const allowed = await fetch(url, { headers: { 'x-role': 'operator' } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toMatchObject({ maxEvents: 5 });
  });
});
