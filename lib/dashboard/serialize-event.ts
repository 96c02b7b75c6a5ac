import type { ResilienceEvent } from '../common/events';
import { toJsonSafe } from '../dead-letter/json-safe';
import type { DashboardError, DashboardEvent } from './dashboard-message.interface';

/** Longest error message sent to the page; longer ones are cut. */
const MAX_MESSAGE_LENGTH = 1_000;

/**
 * Turns an event into plain JSON for the stream: `error` fields become `{ name, message }`,
 * a dead letter keeps its id, policy, target, attempts, time and error but not its
 * arguments (which may hold customer data), anything else is made JSON-safe.
 * @internal
 */
export function serializeEvent(event: ResilienceEvent, seq: number): DashboardEvent {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (key === 'error') out.error = serializeError(value);
    else if (key === 'letter') out.letter = summarizeLetter(value);
    else out[key] = toJsonSafe(value);
  }
  out.seq = seq;
  return out as DashboardEvent;
}

/** `{ name, message }` of anything thrown. */
export function serializeError(error: unknown): DashboardError {
  try {
    if (typeof error === 'object' && error !== null) {
      const { name, message } = error as { name?: unknown; message?: unknown };
      return {
        name: typeof name === 'string' && name ? name : (error.constructor?.name ?? 'Error'),
        message: cut(typeof message === 'string' ? message : safeString(error)),
      };
    }
    return { name: typeof error, message: cut(safeString(error)) };
  } catch (reason) {
    return { name: 'Unreadable', message: cut(safeString(reason)) };
  }
}

function summarizeLetter(letter: unknown): unknown {
  if (typeof letter !== 'object' || letter === null) return toJsonSafe(letter);
  const { id, policy, target, attempts, failedAt, error } = letter as Record<string, unknown>;
  return toJsonSafe({ id, policy, target, attempts, failedAt, error: serializeError(error) });
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

const cut = (text: string): string =>
  text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}…` : text;
