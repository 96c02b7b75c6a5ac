import {
  Inject,
  Injectable,
  Logger,
  MessageEvent,
  OnModuleDestroy,
  OnModuleInit,
  Optional,
  ServiceUnavailableException,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  concat,
  defer,
  from,
  map,
  merge,
  Observable,
  of,
  share,
  Subject,
  Subscription,
  takeUntil,
} from 'rxjs';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { ResilienceEvent } from '../common/events';
import { ResilienceRegistry } from '../registry/resilience.registry';
import type { ResolvedDashboardOptions } from './dashboard-options.interface';
import { DASHBOARD_OPTIONS, RECONNECT_DELAY } from './dashboard.constants';
import type { DashboardEvent, DashboardSnapshot } from './dashboard-message.interface';
import type { Clock } from '../common/clock';
import { DASHBOARD, DASHBOARD_NO_REGISTRY, DASHBOARD_SHUTTING_DOWN } from './dashboard.messages';
import { Ring } from './event-ring';
import { LatencySummary, LatencyWindow } from './latency-window';
import { RecordedEvent } from './recorded-event';

/**
 * What the dashboard shows: snapshots of `registry.stats()` with per-breaker latency, and
 * the registry's events, kept (the last `maxEvents`) and streamed to every open page.
 * Events are kept as they come and turned into JSON when a page (or `recentEvents()`) first
 * reads them, so that a storm of events costs little while no page is open.
 *
 * One timer and one call observer serve all open streams, and exist only while at least
 * one stream is open. Streams end when their client leaves and when the application shuts
 * down, so `app.close()` never waits on an open page.
 * @publicApi
 */
@Injectable()
export class ResilienceDashboardFeed implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ResilienceDashboard');
  /** Changes on every start, so that a page can tell a restarted app from a reconnection. */
  readonly instance = randomUUID();
  private readonly registry: ResilienceRegistry;
  private readonly clock: Clock;
  private readonly recent: Ring<RecordedEvent>;
  private readonly live = new Subject<RecordedEvent>();
  private readonly closing = new Subject<void>();
  private readonly window = new LatencyWindow();
  private readonly ticks: Observable<DashboardSnapshot>;
  private lastLatency: Record<string, LatencySummary> = {};
  private eventsSubscription?: Subscription;
  private seq = 0;
  private streams = 0;
  private closed = false;
  /** Per open stream: closes its connection once the stream has ended, at shutdown. */
  private readonly hangUps = new Set<() => void>();

  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    @Optional() @Inject(ResilienceRegistry) registry?: ResilienceRegistry,
  ) {
    if (!registry) throw new ResilienceConfigError(DASHBOARD_NO_REGISTRY, DASHBOARD);
    this.registry = registry;
    this.clock = registry.options.clock;
    this.recent = new Ring(options.maxEvents);
    this.ticks = new Observable<DashboardSnapshot>((subscriber) => {
      const observation = registry.observeCalls((name, duration, outcome) =>
        this.window.record(name, duration, outcome === 'failure'),
      );
      const timer = setInterval(() => {
        this.lastLatency = this.window.flush();
        const snapshot = this.trySnapshot();
        if (snapshot) subscriber.next(snapshot);
      }, options.statsInterval);
      return () => {
        clearInterval(timer);
        observation.dispose();
        this.window.clear();
        this.lastLatency = {};
      };
    }).pipe(share());
  }

  /** Keeps the registry's events from startup, so that a page opened later sees them. */
  onModuleInit(): void {
    this.eventsSubscription = this.registry.events$.subscribe((event) => this.record(event));
  }

  /** Ends every open stream; streams asked for from now on are refused with a 503. */
  onModuleDestroy(): void {
    if (this.closed) return;
    this.closed = true;
    // hang-ups first: they must listen for the responses' end before the streams end them
    for (const hangUp of this.hangUps) hangUp();
    this.hangUps.clear();
    this.closing.next();
    this.closing.complete();
    this.live.complete();
    this.eventsSubscription?.unsubscribe();
    this.eventsSubscription = undefined;
  }

  /** Streams open right now. */
  get openStreams(): number {
    return this.streams;
  }

  /**
   * The current snapshot (latency of the last full interval while a stream is open), taken
   * at the module clock's time, as the times in `stats` and in events are.
   */
  snapshot(): DashboardSnapshot {
    return {
      at: this.clock.now(),
      instance: this.instance,
      interval: this.options.statsInterval,
      maxEvents: this.options.maxEvents,
      lastEventSeq: this.seq,
      stats: this.registry.stats(),
      latency: this.lastLatency,
    };
  }

  /** The recent events, oldest first. */
  recentEvents(): DashboardEvent[] {
    return this.recent.toArray().map(this.toJson);
  }

  /**
   * The messages of one page's stream: a `stats` snapshot, the recent events (oldest
   * first), then a `stats` message every `statsInterval` and each new event as it happens.
   * Unsubscribing (the client left) releases everything the stream holds.
   *
   * With `connection` (the raw response), the connection is closed too once the stream has
   * ended at shutdown: a browser keeps an idle connection open, which would hold
   * `app.close()` until the server's keep-alive timeout.
   */
  stream(connection?: StreamConnection): Observable<MessageEvent> {
    if (this.closed) throw new ServiceUnavailableException(DASHBOARD_SHUTTING_DOWN);
    const messages = defer(() =>
      concat(
        of<MessageEvent>({ type: 'stats', data: this.snapshot(), retry: RECONNECT_DELAY }),
        from(this.recent.toArray().map(this.toEventMessage)),
        merge(this.ticks.pipe(map(toStatsMessage)), this.live.pipe(map(this.toEventMessage))),
      ),
    ).pipe(takeUntil(this.closing));
    return new Observable<MessageEvent>((subscriber) => {
      this.streams++;
      const hangUp = connection && (() => hangUpAfterEnd(connection));
      if (hangUp) this.hangUps.add(hangUp);
      const subscription = messages.subscribe(subscriber);
      return () => {
        this.streams--;
        if (hangUp) this.hangUps.delete(hangUp);
        subscription.unsubscribe();
      };
    });
  }

  /**
   * Runs on the path of the call that emitted the event: it keeps the event as it is (most
   * events hold numbers and strings only) and must never throw there.
   */
  private record(event: ResilienceEvent): void {
    try {
      const recorded = new RecordedEvent(event, ++this.seq);
      this.recent.push(recorded);
      this.live.next(recorded);
    } catch (error) {
      this.logger.warn(`Could not record a '${event.type}' event: ${String(error)}`);
    }
  }

  /** The event as the page gets it (JSON made once, on the first read). */
  private readonly toJson = (recorded: RecordedEvent): DashboardEvent =>
    recorded.toJson((error) =>
      this.logger.warn(`Could not serialise a '${recorded.type}' event: ${String(error)}`),
    );

  private readonly toEventMessage = (recorded: RecordedEvent): MessageEvent => ({
    type: 'event',
    data: this.toJson(recorded),
  });

  private trySnapshot(): DashboardSnapshot | undefined {
    try {
      return this.snapshot();
    } catch (error) {
      this.logger.warn(`Could not read the resilience stats: ${String(error)}`);
      return undefined;
    }
  }
}

/** The raw response of a stream (`ServerResponse`), as far as shutdown needs it. @internal */
export interface StreamConnection {
  readonly writableFinished?: boolean;
  once(event: 'finish' | 'close', listener: () => void): unknown;
  readonly socket?: { end(): unknown; destroy(): unknown } | null;
}

/** How long a response may take to end at shutdown before its socket is destroyed, ms. */
const HANG_UP_GRACE = 1_000;

/** Closes the connection of `response` once it has ended (or after a short grace). */
function hangUpAfterEnd(response: StreamConnection): void {
  const socket = response.socket;
  if (!socket) return;
  if (response.writableFinished) {
    socket.end();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), HANG_UP_GRACE);
  timer.unref();
  const done = (ended: boolean) => {
    clearTimeout(timer);
    if (ended) socket.end();
  };
  response.once('finish', () => done(true));
  response.once('close', () => done(false));
}

const toStatsMessage = (snapshot: DashboardSnapshot): MessageEvent => ({
  type: 'stats',
  data: snapshot,
});
