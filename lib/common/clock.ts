/**
 * A source of time in epoch milliseconds. Pass one as the module option `clock`
 * (or to a policy's constructor) to drive time-based behaviour from tests.
 * @publicApi
 */
export interface Clock {
  now(): number;
}

/** The wall clock. @publicApi */
export const systemClock: Clock = { now: () => Date.now() };
