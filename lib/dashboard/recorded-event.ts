import type { ResilienceEvent } from '../common/events';
import type { DashboardEvent } from './dashboard-message.interface';
import { serializeEvent } from './serialize-event';

/**
 * One event of the feed, numbered, turned into JSON on its first read rather than when it
 * happens: while no page is open, most events (a rejected call, a state change) are never
 * read at all.
 *
 * An event that holds an object (a retry's or a fallback's error, a dead letter) is turned
 * into JSON at once instead: the object may change after the event (an error's message),
 * and holding it would keep alive all it refers to (a stack, a response, a letter's
 * arguments) for as long as the event stays in the ring. Those events come with a failed
 * call, never in a storm of rejections.
 * @internal
 */
export class RecordedEvent {
  /** The event as it came; dropped once serialised. */
  private event: ResilienceEvent | undefined;
  private json: DashboardEvent | undefined;

  constructor(
    event: ResilienceEvent,
    readonly seq: number,
  ) {
    if (holdsObject(event)) this.json = serializeEvent(event, seq);
    else this.event = event;
  }

  get type(): ResilienceEvent['type'] {
    return this.json?.type ?? (this.event as ResilienceEvent).type;
  }

  /**
   * The event as the stream carries it. Never throws: should the event not serialise, the
   * page gets its seq, type, name and time, and `onError` is told.
   */
  toJson(onError: (error: unknown) => void): DashboardEvent {
    if (this.json === undefined) {
      const event = this.event as ResilienceEvent;
      try {
        this.json = serializeEvent(event, this.seq);
      } catch (error) {
        onError(error);
        this.json = { seq: this.seq, type: event.type, name: event.name, at: event.at };
      }
      this.event = undefined;
    }
    return this.json;
  }
}

/** Whether any field of the event is an object (or a function). */
function holdsObject(event: ResilienceEvent): boolean {
  for (const key in event) {
    const value = (event as unknown as Record<string, unknown>)[key];
    if ((typeof value === 'object' && value !== null) || typeof value === 'function') return true;
  }
  return false;
}
