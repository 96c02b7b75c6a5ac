/** Returned by every `on…` subscription; call `dispose()` to stop listening. @publicApi */
export interface Disposable {
  dispose(): void;
}

/**
 * A minimal synchronous event emitter: no Node `EventEmitter`, no rxjs, so pure
 * policies stay framework-free. A throwing listener never breaks a call.
 * @internal
 */
export class Emitter<T> {
  private listeners: Array<(event: T) => void> = [];

  get hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  readonly subscribe = (listener: (event: T) => void): Disposable => {
    this.listeners = [...this.listeners, listener];
    return {
      dispose: () => {
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  emit(event: T): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i](event);
      } catch {
        // a listener's failure must never change the outcome of a protected call
      }
    }
  }
}
