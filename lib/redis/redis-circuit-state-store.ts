import { createHash, randomUUID } from 'node:crypto';
import Redis, { RedisOptions } from 'ioredis';
import type { CircuitSnapshot, TrialOutcome } from '../circuit-breaker/circuit-breaker.policy';
import { isRateMode } from '../circuit-breaker/circuit-breaker.options';
import { checks, invalid, MAX_TIMER_DELAY } from '../common/validate';
import type {
  CircuitLink,
  CircuitStateStore,
  CircuitStateStoreContext,
  SharedCircuit,
  SharedCircuitCounters,
  SharedCircuitState,
} from '../state-store/circuit-state-store.interface';
import { ACQUIRE, RELEASE, REPORT, SET_STATE } from './redis-circuit-state.scripts';
import { failFastSettings, redisClientFor } from './redis-client';

/** Options of `RedisCircuitStateStore`. Every duration is in milliseconds. @publicApi */
export interface RedisCircuitStateStoreOptions {
  /**
   * An ioredis client to send commands with. The store never closes it (it belongs to the
   * caller); it opens one extra connection of its own (`client.duplicate()`) for pub/sub and
   * closes that one at shutdown. Give it `enableOfflineQueue: false`, or commands sent while
   * Redis is away wait in its queue (the store still gives up on them after
   * `commandTimeout`).
   */
  client?: Redis;
  /**
   * Where to connect when no `client` is given: a `redis://` URL or ioredis options. The store
   * creates two connections (commands, pub/sub) and closes both at shutdown.
   * @default 'redis://127.0.0.1:6379'
   */
  connection?: string | RedisOptions;
  /**
   * Prefix of every key and of the pub/sub channel. Instances share breakers when they use the
   * same Redis, the same prefix and the same breaker name.
   * @default 'resilience:circuit:'
   */
  prefix?: string;
  /**
   * Time to live of the keys, refreshed on every write (at least twice the breaker's
   * `resetTimeout`). A breaker nobody uses for this long starts closed again.
   * @default 86400000 (one day)
   */
  ttl?: number;
  /**
   * How often each instance sends its batch of call counters (closed breakers only). Counters
   * of the other instances are at most this old, plus one round trip, when a breaker decides.
   * @default 100
   */
  syncInterval?: number;
  /**
   * How long any Redis command may take before the store gives up on it, reports Redis as
   * unavailable and lets the breakers decide locally.
   * @default 250
   */
  commandTimeout?: number;
}

interface Tracked {
  circuit: SharedCircuit;
  keys: { state: string; window: string; trials: string };
  /** Counters already sent (or dropped during an outage). */
  sent: SharedCircuitCounters;
  /** The breaker changed state while Redis was unavailable: push it on resync. */
  dirty: boolean;
  /** The highest state version adopted, so an older reply never undoes a newer state. */
  version: number;
  /** When the adopted state changed: tells a key created anew from a late reply. */
  changedAt: number;
  /**
   * Counts the breaker's own state changes. A reply to a command sent before the latest one
   * tells a state older than that change (the change's own write, sent later on the same
   * connection, answers with the newer one), so it is not adopted.
   */
  changes: number;
}

type Reply = [string, string, string, string] | null;

const DEFAULTS = {
  connection: 'redis://127.0.0.1:6379',
  prefix: 'resilience:circuit:',
  ttl: 86_400_000,
  syncInterval: 100,
  commandTimeout: 250,
};
/** While unavailable but connected (slow replies), try to resynchronise this often. */
const PROBE_INTERVAL_MS = 1_000;

/**
 * Shares circuit breaker state between every instance that uses the same Redis and prefix
 * (API §8). Breakers decide each call locally; through Redis they share:
 * - state changes: written atomically and pushed to the other instances over pub/sub (they
 *   adopt it within one pub/sub delivery, a few ms on a LAN);
 * - half-open trials: at most `halfOpenMaxCalls` across all instances (a Lua script takes
 *   and frees the slots), and `successThreshold` successes counted across instances;
 * - call counters of closed breakers, sent in batches every `syncInterval` ms and aggregated
 *   in Redis (consecutive failures and the sliding window), so failures spread over several
 *   instances open the breaker for all of them.
 *
 * When Redis is unreachable or slow, no call fails or waits for it: every command gives up
 * after `commandTimeout`, breakers run on local state, and the module logs one warning and
 * emits `'store-unavailable'`. When Redis answers again, each breaker is resynchronised (the
 * most recent change wins; a breaker that did not change meanwhile adopts the stored state)
 * and `'store-available'` is emitted.
 * @publicApi
 */
export class RedisCircuitStateStore implements CircuitStateStore {
  readonly name = 'redis';
  /** Identifies this instance's own messages on the channel. */
  readonly instanceId = randomUUID();
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly syncInterval: number;
  private readonly commandTimeout: number;
  private readonly ownsClient: boolean;
  private readonly client: Redis;
  private subscriber?: Redis;
  private readonly channel: string;
  private readonly tracked = new Map<string, Tracked>();
  private context?: CircuitStateStoreContext;
  private connected: Promise<void> = Promise.resolve();
  private available = true;
  private closed = false;
  private timer: unknown;
  private flushing = false;
  private resyncing?: Promise<void>;
  private lastProbe = 0;
  private trialSeq = 0;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ioredis event listeners
  private readonly listeners: Array<[Redis, string, (...args: any[]) => void]> = [];

  constructor(options: RedisCircuitStateStoreOptions = {}) {
    const o = checkOptions(options);
    this.prefix = o.prefix ?? DEFAULTS.prefix;
    this.ttl = o.ttl ?? DEFAULTS.ttl;
    this.syncInterval = o.syncInterval ?? DEFAULTS.syncInterval;
    this.commandTimeout = o.commandTimeout ?? DEFAULTS.commandTimeout;
    this.channel = `${this.prefix}changes`;
    const { client, owned } = redisClientFor(o.client, o.connection ?? DEFAULTS.connection, () =>
      this.clientSettings(),
    );
    this.client = client;
    this.ownsClient = owned;
  }

  connect(context: CircuitStateStoreContext): Promise<void> {
    this.context = context;
    const client = this.client;
    this.on(client, 'error', () => undefined); // reported through 'close' and failed commands
    this.on(client, 'close', () =>
      this.markUnavailable(new Error('the connection to Redis closed')),
    );
    this.on(client, 'ready', () => this.onReady());
    const subscriber = client.duplicate(this.clientSettings());
    this.subscriber = subscriber;
    this.on(subscriber, 'error', () => undefined);
    const subscribe = () => this.timed(subscriber.subscribe(this.channel));
    let connections = 0;
    this.on(subscriber, 'ready', () => {
      // after a reconnection, the changes published meanwhile were missed: read them
      const reconnected = ++connections > 1;
      subscribe()
        .then(() => reconnected && this.catchUp())
        .catch(() => undefined);
    });
    this.on(subscriber, 'message', (channel: string, message: string) =>
      this.onMessage(channel, message),
    );
    // ready once commands can run and this instance hears the others' changes
    const listening = subscriber.connect().then(subscribe);
    const commands = client.status === 'wait' ? client.connect() : Promise.resolve();
    this.connected = Promise.all([commands, listening]).then(
      () => undefined,
      (error: unknown) => this.markUnavailable(error),
    );
    this.arm();
    return this.connected;
  }

  attach(circuit: SharedCircuit): CircuitLink {
    const base = `${this.prefix}{${circuit.name}}`;
    const t: Tracked = {
      circuit,
      keys: { state: base, window: `${base}:window`, trials: `${base}:trials` },
      sent: circuit.counters(),
      dirty: false,
      version: 0,
      changedAt: 0,
      changes: 0,
    };
    this.tracked.set(circuit.name, t);
    const ready = this.connected.then(async () => {
      if (this.available) await this.load(t);
    });
    return {
      ready,
      changed: (snapshot, reason) => {
        if (reason === 'reset-timeout') return; // every instance derives it from openedAt
        this.changed(t, snapshot, reason);
      },
      trialGate: { acquire: () => this.acquire(t) },
      detach: () => {
        this.tracked.delete(circuit.name);
      },
    };
  }

  /** Stops the batch timer, then closes the connections the store created. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.context?.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    for (const [emitter, event, listener] of this.listeners) emitter.off(event, listener);
    this.listeners.length = 0;
    const owned = [this.subscriber, this.ownsClient ? this.client : undefined];
    await Promise.all(
      owned.map(async (connection) => {
        if (!connection) return;
        connection.on('error', () => undefined); // late socket errors while closing
        try {
          await this.timed(connection.quit());
        } catch {
          // not connected or too slow: drop the socket
        }
        if (connection.status !== 'end') connection.disconnect();
      }),
    );
  }

  // ---- state -----------------------------------------------------------------------

  private changed(t: Tracked, snapshot: CircuitSnapshot, reason: string): void {
    const changes = ++t.changes;
    if (!this.available) {
      t.dirty = true;
      return;
    }
    const { state, openedAt, changedAt } = stored(snapshot);
    void this.script<Reply>(
      SET_STATE,
      [t.keys.state, t.keys.window, t.keys.trials],
      ['change', state, openedAt, changedAt, ...this.common(t), reason],
    ).then((reply) => {
      if (reply === undefined) t.dirty = true;
      else if (t.changes === changes) this.adopt(t, reply);
    });
  }

  /** Reads (or, after an outage, reconciles) one breaker's stored state. */
  private async load(t: Tracked, force = false): Promise<boolean> {
    const { state, openedAt, changedAt } = stored(t.circuit.snapshot());
    const mode = t.dirty ? 'newer' : 'load';
    const changes = t.changes;
    const reply = await this.script<Reply>(
      SET_STATE,
      [t.keys.state, t.keys.window, t.keys.trials],
      [mode, state, openedAt, changedAt, ...this.common(t), 'shared-state'],
      force,
    );
    if (reply === undefined) return false;
    // the breaker changed meanwhile: its own write (or, during an outage, a new load) decides
    if (t.changes !== changes) return force ? this.load(t, force) : true;
    t.dirty = false;
    this.adopt(t, reply);
    return true;
  }

  private adopt(t: Tracked, reply: Reply, version = reply ? Number(reply[3]) : 0): void {
    if (!reply || this.closed) return;
    const changedAt = Number(reply[2]);
    // A lower version is a reply or message sent before the state adopted, except for a key
    // created anew (expired, or emptied): it starts again at version 1, with a later change.
    // A late reply telling the key's first state (version 1 too) changed earlier: ignored.
    if (version < t.version && !(version === 1 && changedAt > t.changedAt)) return;
    t.version = version;
    t.changedAt = changedAt;
    t.circuit.adopt({
      state: reply[0] as SharedCircuitState['state'],
      openedAt: Number(reply[1]),
      stateChangedAt: Number(reply[2]),
    });
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.channel || this.closed) return;
    let m: { n?: unknown; s?: unknown; o?: unknown; c?: unknown; v?: unknown; i?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (m.i === this.instanceId || typeof m.n !== 'string') return;
    const t = this.tracked.get(m.n);
    if (!t) return;
    this.adopt(t, [String(m.s), String(m.o), String(m.c), String(m.v)], Number(m.v));
  }

  // ---- half-open trials --------------------------------------------------------------

  private async acquire(t: Tracked): Promise<((outcome: TrialOutcome) => void) | false> {
    const local = () => undefined; // Redis unavailable: the local limit applies
    if (!this.available || this.closed) return local;
    const member = `${this.instanceId}:${++this.trialSeq}`;
    const { halfOpenMaxCalls, resetTimeout } = t.circuit.options;
    const changes = t.changes;
    const reply = await this.script<[number, Reply | string]>(
      ACQUIRE,
      [t.keys.state, t.keys.trials],
      [this.now(), halfOpenMaxCalls, resetTimeout, this.ttlFor(t), member],
    );
    if (reply === undefined) return local;
    const [code, detail] = reply;
    if (code === 1) {
      const version = String(detail);
      return (outcome) => this.release(t, member, outcome, version);
    }
    if (Array.isArray(detail) && t.changes === changes) this.adopt(t, detail);
    return code === 2 ? local : false;
  }

  private release(t: Tracked, member: string, outcome: TrialOutcome, version: string): void {
    if (this.closed) return;
    const { successThreshold, resetTimeout } = t.circuit.options;
    const changes = t.changes;
    void this.script<Reply>(
      RELEASE,
      [t.keys.state, t.keys.trials, t.keys.window],
      [
        this.now(),
        member,
        outcome,
        version,
        successThreshold,
        resetTimeout,
        this.ttlFor(t),
        this.channel,
        t.circuit.name,
        this.instanceId,
      ],
    ).then((reply) => {
      if (reply !== undefined && t.changes === changes) this.adopt(t, reply);
    });
  }

  // ---- batched counters ----------------------------------------------------------------

  private arm(): void {
    if (this.closed || !this.context) return;
    const handle = this.context.scheduler.setTimeout(() => this.tick(), this.syncInterval);
    (handle as { unref?: () => void } | null)?.unref?.();
    this.timer = handle;
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    if (!this.flushing) {
      this.flushing = true;
      void this.flush().finally(() => (this.flushing = false));
    }
    this.arm();
  }

  private async flush(): Promise<void> {
    if (!this.available) {
      for (const t of this.tracked.values()) t.sent = t.circuit.counters(); // decided locally
      const now = Date.now();
      if (this.client.status === 'ready' && now - this.lastProbe >= PROBE_INTERVAL_MS) {
        this.lastProbe = now;
        await this.resync();
      }
      return;
    }
    await Promise.all([...this.tracked.values()].map((t) => this.report(t)));
  }

  private async report(t: Tracked): Promise<void> {
    const counters = t.circuit.counters();
    const successes = counters.successfulCalls - t.sent.successfulCalls;
    const failures = counters.failedCalls - t.sent.failedCalls;
    const slow = counters.slowCalls - t.sent.slowCalls;
    t.sent = counters;
    if (successes === 0 && failures === 0) return;
    if (t.circuit.snapshot().state !== 'closed') return; // outcomes of earlier states
    const o = t.circuit.options;
    const changes = t.changes;
    const reply = await this.script<Reply>(
      REPORT,
      [t.keys.state, t.keys.window],
      [
        this.now(),
        successes,
        failures,
        slow,
        counters.failureCount,
        o.failureThreshold,
        isRateMode(o) ? 1 : 0,
        o.failureRateThreshold ?? -1,
        o.slowCallRateThreshold ?? -1,
        o.minimumCalls,
        o.slidingWindow.type,
        o.slidingWindow.size,
        this.ttlFor(t),
        this.channel,
        t.circuit.name,
        this.instanceId,
      ],
    );
    if (reply !== undefined && t.changes === changes) this.adopt(t, reply);
  }

  // ---- availability ----------------------------------------------------------------------

  private onReady(): void {
    if (!this.available) void this.resync();
  }

  /** Reconciles every breaker with Redis; success makes the store available again. */
  private resync(): Promise<void> {
    this.resyncing ??= (async () => {
      try {
        const loads = await Promise.all(
          [...this.tracked.values()].map((t) => {
            t.version = 0;
            return this.load(t, true);
          }),
        );
        if (this.tracked.size === 0) {
          await this.timed(this.client.ping());
        } else if (loads.includes(false)) {
          return;
        }
        if (!this.available && !this.closed) {
          this.available = true;
          this.context?.reportAvailable();
        }
      } catch {
        // still unavailable: the next 'ready' or probe tries again
      } finally {
        this.resyncing = undefined;
      }
    })();
    return this.resyncing;
  }

  /** Reads every breaker's stored state again (pub/sub was down while commands were not). */
  private catchUp(): void {
    if (this.closed || !this.available) return; // an outage ends with a resync anyway
    for (const t of this.tracked.values()) void this.load(t);
  }

  private markUnavailable(error: unknown): void {
    if (this.closed || !this.available) return;
    this.available = false;
    this.context?.reportUnavailable(error);
  }

  // ---- commands ---------------------------------------------------------------------

  /**
   * Runs a Lua script (by its SHA, loading it on first use); undefined when Redis did not
   * answer in time. `force` also runs it while the store is marked unavailable (resync).
   */
  private async script<T>(
    lua: string,
    keys: string[],
    args: Array<string | number>,
    force = false,
  ): Promise<T | undefined> {
    if (this.closed || (!this.available && !force)) return undefined;
    try {
      const sha = sha1(lua);
      const call = this.client
        .evalsha(sha, keys.length, ...keys, ...args)
        .catch((error: unknown) => {
          if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
            return this.client.eval(lua, keys.length, ...keys, ...args);
          }
          throw error;
        });
      return (await this.timed(call)) as T;
    } catch (error) {
      this.markUnavailable(error);
      return undefined;
    }
  }

  private timed<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${this.commandTimeout}ms`)),
        this.commandTimeout,
      );
      timer.unref();
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private common(t: Tracked): Array<string | number> {
    return [
      this.now(),
      t.circuit.options.resetTimeout,
      this.ttlFor(t),
      this.channel,
      t.circuit.name,
      this.instanceId,
    ];
  }

  private ttlFor(t: Tracked): number {
    return Math.min(Math.max(this.ttl, t.circuit.options.resetTimeout * 2), MAX_TTL_MS);
  }

  private now(): number {
    return Math.floor(this.context?.clock.now() ?? Date.now());
  }

  private clientSettings(): RedisOptions {
    return failFastSettings(this.commandTimeout);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ioredis event listeners
  private on(emitter: Redis, event: string, listener: (...args: any[]) => void): void {
    emitter.on(event, listener);
    this.listeners.push([emitter, event, listener]);
  }
}

/** Keys never live longer than this (about 24.8 days, the longest timer delay). */
const MAX_TTL_MS = MAX_TIMER_DELAY;

/** How a snapshot is stored: half-open is stored as the opening it came from. */
function stored(s: CircuitSnapshot): { state: string; openedAt: number; changedAt: number } {
  if (s.state === 'closed') {
    return {
      state: 'closed',
      openedAt: Math.floor(s.openedAt),
      changedAt: Math.floor(s.stateChangedAt),
    };
  }
  return { state: 'open', openedAt: Math.floor(s.openedAt), changedAt: Math.floor(s.openedAt) };
}

const shas = new Map<string, string>();
function sha1(lua: string): string {
  let sha = shas.get(lua);
  if (sha === undefined) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(lua, sha);
  }
  return sha;
}

const OPTION_KEYS = ['client', 'connection', 'prefix', 'ttl', 'syncInterval', 'commandTimeout'];
const OWNER = 'RedisCircuitStateStore';

function checkOptions(options: RedisCircuitStateStoreOptions): RedisCircuitStateStoreOptions {
  if (typeof options !== 'object' || options === null) {
    invalid(OWNER, 'options', options, 'an options object');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      invalid(
        OWNER,
        key,
        (options as Record<string, unknown>)[key],
        `no value: the known keys are ${OPTION_KEYS.join(', ')}`,
      );
    }
  }
  const { client, connection, prefix, ttl, syncInterval, commandTimeout } = options;
  if (
    client !== undefined &&
    (typeof client !== 'object' || typeof client.evalsha !== 'function')
  ) {
    invalid(OWNER, 'client', client, 'an ioredis client');
  }
  if (client !== undefined && connection !== undefined) {
    invalid(OWNER, 'connection', connection, 'no value when a client is given');
  }
  if (
    connection !== undefined &&
    typeof connection !== 'string' &&
    typeof connection !== 'object'
  ) {
    invalid(OWNER, 'connection', connection, 'a redis:// URL or ioredis options');
  }
  if (prefix !== undefined) {
    const problem = checks.string(prefix);
    if (problem) invalid(OWNER, 'prefix', prefix, problem);
  }
  for (const [key, value] of [
    ['ttl', ttl],
    ['syncInterval', syncInterval],
    ['commandTimeout', commandTimeout],
  ] as const) {
    if (value === undefined) continue;
    const problem = checks.positiveDuration(value);
    if (problem) invalid(OWNER, key, value, problem);
  }
  return options;
}
