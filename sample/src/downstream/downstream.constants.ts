/** Injection token of the gateway's start-up settings. */
export const DOWNSTREAM_OPTIONS = Symbol('DOWNSTREAM_OPTIONS');
