import { AsyncLocalStorage } from 'node:async_hooks';
import type { CallContext } from '../common/call-context';

/** Holds the context of the protected call running now. @internal */
export const callStorage = new AsyncLocalStorage<CallContext>();

const neverAborted = new AbortController().signal;

/**
 * The `AbortSignal` of the protected call that is running now: aborted when its
 * `@Timeout` fires, so the work can stop instead of running on.
 * Outside a protected call, or on a method without `@Timeout`, a signal that never
 * aborts. Pass it on: `fetch(url, { signal: currentSignal() })`.
 * @publicApi
 */
export function currentSignal(): AbortSignal {
  const context = callStorage.getStore();
  return context ? context.signal : neverAborted;
}
