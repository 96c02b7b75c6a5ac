/**
 * The cancellation state of one call as it passes through the policies.
 *
 * The `AbortSignal` is created only when somebody reads `signal`, so calls whose work
 * never looks at cancellation pay for no `AbortController`. A policy that cancels
 * (timeout, shutdown) calls `abort(reason)`; policies that wait (bulkhead queue, retry
 * backoff) listen with `onAbort` to stop waiting at once.
 * @publicApi
 */
export class CallContext {
  private isAborted = false;
  private abortReason: unknown;
  private controller?: AbortController;
  private listeners?: Array<(reason: unknown) => void>;

  /** True once the call has been cancelled. */
  get aborted(): boolean {
    return this.isAborted;
  }

  /** Why the call was cancelled (a `TimeoutError`, for instance). */
  get reason(): unknown {
    return this.abortReason;
  }

  /** An `AbortSignal` for the work: pass it to `fetch`, database drivers, … */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Runs `listener` once when the call is cancelled; returns the function that unsubscribes. */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.isAborted) {
      listener(this.abortReason);
      return noop;
    }
    (this.listeners ??= []).push(listener);
    return () => {
      const list = this.listeners;
      if (!list) return;
      const index = list.indexOf(listener);
      if (index >= 0) list.splice(index, 1);
    };
  }

  /** Cancels the call; later calls are ignored. */
  abort(reason?: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    const list = this.listeners;
    this.listeners = undefined;
    if (list) for (const listener of list) listener(reason);
  }

  /** A context that is cancelled when `parent` is; `release()` it when the call ends. */
  static childOf(parent: CallContext | undefined): ChildContext {
    const child = new ChildContext();
    if (parent) child.link(parent);
    return child;
  }

  /** A context that follows an external `AbortSignal`; `release()` it when the call ends. */
  static fromSignal(signal: AbortSignal): ChildContext {
    const child = new ChildContext();
    if (signal.aborted) {
      child.abort(signal.reason);
      return child;
    }
    const onAbort = () => child.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    child.unlink = () => signal.removeEventListener('abort', onAbort);
    return child;
  }
}

/** A context tied to a parent; `release()` drops the link so nothing leaks. @internal */
export class ChildContext extends CallContext {
  unlink?: () => void;

  link(parent: CallContext): void {
    this.unlink = parent.onAbort((reason) => this.abort(reason));
  }

  release(): void {
    const unlink = this.unlink;
    this.unlink = undefined;
    unlink?.();
  }
}

/** Accepts either form a caller may hold and returns a context plus its release. @internal */
export function toContext(
  parent?: CallContext | AbortSignal,
): ChildContext | CallContext | undefined {
  if (parent === undefined || parent instanceof CallContext) return parent;
  return CallContext.fromSignal(parent);
}

const noop = () => undefined;
