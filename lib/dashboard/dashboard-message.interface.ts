import type { ResilienceEvent } from '../common/events';
import type { ResilienceStats } from '../registry/resilience-stats.interface';
import type { LatencySummary } from './latency-window';

/**
 * The `stats` message of the dashboard stream, and the body of `GET <path>/stats`.
 * @publicApi
 */
export interface DashboardSnapshot {
  /** Epoch ms (module clock, as `stats` and events) when the snapshot was taken. */
  at: number;
  /** Random id of this application instance's feed: it changes when the app restarts. */
  instance: string;
  /** The stats interval, ms. */
  interval: number;
  /** How many recent events the page lists. */
  maxEvents: number;
  /** `seq` of the newest event so far (0 before the first). */
  lastEventSeq: number;
  /** `registry.stats()`. */
  stats: ResilienceStats;
  /**
   * Per circuit breaker, the calls that ended during the last full interval (breakers
   * without calls are left out). Filled while at least one stream is open.
   */
  latency: Record<string, LatencySummary>;
}

/** An error as the stream carries it. @publicApi */
export interface DashboardError {
  name: string;
  message: string;
}

/**
 * A `ResilienceEvent` as the `event` message of the stream carries it: errors are reduced
 * to `{ name, message }`, and a dead letter to its identity, attempts and error (its
 * arguments stay on the server). `seq` numbers the events of one instance from 1.
 * @publicApi
 */
export interface DashboardEvent {
  /** Number of the event in this instance, from 1. */
  seq: number;
  type: ResilienceEvent['type'];
  /** Name of the policy that emitted the event. */
  name: string;
  /** Epoch ms (module clock). */
  at: number;
  error?: DashboardError;
  /** The other fields of the event (`from`, `to`, `attempt`, `delay`, `letter`, …). */
  [key: string]: unknown;
}

/** The type of each message on `GET <path>/stream`. @publicApi */
export type DashboardMessageType = 'stats' | 'event';
