/** Injection token of the resolved dashboard options. @internal */
export const DASHBOARD_OPTIONS = Symbol.for('nestjs-fault-tolerance:dashboard-options');

/** Milliseconds a browser waits before reconnecting a dropped stream (sent as `retry:`). */
export const RECONNECT_DELAY = 2_000;
