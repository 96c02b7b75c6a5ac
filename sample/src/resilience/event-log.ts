import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { ResilienceEvent, ResilienceRegistry } from '../../../lib';

/** A resilience event as JSON: errors are reduced to their name and message. */
export type LoggedEvent = Omit<ResilienceEvent, 'error'> & {
  error?: { name: string; message: string };
};

/** Events kept; older ones are dropped. */
const CAPACITY = 200;

/**
 * Keeps the last events of `registry.events$` (state changes, retries, timeouts,
 * rejections, fallbacks) for `GET /resilience/events`. In production you would send
 * them to your logs or metrics instead.
 */
@Injectable()
export class EventLog implements OnModuleInit, OnModuleDestroy {
  private readonly events: LoggedEvent[] = [];
  private subscription?: Subscription;

  constructor(private readonly registry: ResilienceRegistry) {}

  onModuleInit(): void {
    this.subscription = this.registry.events$.subscribe((event) => {
      this.events.push(toJson(event));
      if (this.events.length > CAPACITY) this.events.shift();
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  /** The last `limit` events, oldest first. */
  recent(limit = 50): LoggedEvent[] {
    return this.events.slice(-Math.max(0, Math.min(limit, CAPACITY)));
  }
}

function toJson(event: ResilienceEvent): LoggedEvent {
  if (!('error' in event)) return event;
  const { error, ...rest } = event;
  const { name, message } =
    error instanceof Error ? error : { name: 'Error', message: String(error) };
  return { ...rest, error: { name, message } } as LoggedEvent;
}
