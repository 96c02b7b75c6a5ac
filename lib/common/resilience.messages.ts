/** Every message the package produces, in one place. @internal */
export const CIRCUIT_OPEN = (policy: string, retryAfter: number) =>
  `Circuit "${policy}" is open; calls are rejected for another ${retryAfter}ms.`;
export const CIRCUIT_HALF_OPEN_FULL = (policy: string, max: number) =>
  `Circuit "${policy}" is half-open and already running its ${max} trial call(s); this call was rejected.`;
export const TIMED_OUT = (policy: string, timeout: number) =>
  `Call through "${policy}" timed out after ${timeout}ms.`;
export const BULKHEAD_REJECTED = (policy: string, reason: string) => {
  switch (reason) {
    case 'full':
      return `Bulkhead "${policy}" is full (every slot and queue place is taken); the call was rejected.`;
    case 'queue-timeout':
      return `Bulkhead "${policy}": the call waited in the queue for too long and was rejected.`;
    case 'evicted':
      return `Bulkhead "${policy}": the call was evicted from the full queue by a newer call (overflow 'drop-oldest').`;
    case 'shutdown':
      return `"${policy}" is shutting down; new calls are rejected.`;
    default:
      return `Bulkhead "${policy}" rejected the call (${reason}).`;
  }
};
export const RATE_LIMITED = (policy: string, retryAfter: number) =>
  `Rate limit "${policy}" reached; the next call is permitted in ${retryAfter}ms.`;
export const CALL_ABORTED = (policy: string) => `Call through "${policy}" was cancelled.`;

export const INVALID_OPTION = (policy: string, key: string, value: unknown, expected: string) =>
  `Invalid resilience option for policy "${policy}": "${key}" is ${describe(value)}; expected ${expected}.`;
export const UNKNOWN_OPTION = (
  policy: string,
  key: string,
  known: readonly string[],
  value?: unknown,
) =>
  `Invalid resilience option for policy "${policy}": unknown key "${key}"` +
  (value === undefined ? '' : ` (value ${describe(value)})`) +
  `. Known keys: ${known.join(', ')}.`;
export const REGISTRATION_OPTION = (key: string) =>
  `Invalid resilience option for policy "ResilienceModule": "${key}" is read when the module is ` +
  `registered, so an options factory cannot set it. Pass it next to useFactory: ` +
  `ResilienceModule.forRootAsync({ ${key}: …, useFactory }).`;
export const UNKNOWN_POLICY = (policy: string, target: string, known: readonly string[]) =>
  `Unknown resilience policy "${policy}" used by ${target} (@UsePolicy). ` +
  (known.length
    ? `Configured policies: ${known.join(', ')}.`
    : 'No policies are configured: add it to ResilienceModule.forRoot({ policies: { … } }).');
export const UNKNOWN_FALLBACK = (target: string, method: string) =>
  `@Fallback on ${target} names the method "${method}", which the class does not have.`;
export const NOT_A_METHOD = (kind: string, target: string) =>
  `@${kind} can only decorate methods; ${target} is not a method.`;
export const STATIC_METHOD = (kind: string, target: string) =>
  `@${kind} on ${target}: static methods cannot be protected (the policies live on the ` +
  'instances Nest creates). Move the method to an instance method of a provider.';
export const SHARED_INSTANCE = (target: string) =>
  `${target}: the same object is provided to two Nest applications, which must not share ` +
  'policies. Provide it with useClass or useFactory so that each application gets its own.';
export const SHARED_NAME_CONFLICT = (kind: string, name: string, first: string, second: string) =>
  `Two ${kind} policies named "${name}" have different options (${first} and ${second}). ` +
  'Give them different names, or declare the options once (functions compare by identity, ' +
  'so share one function) and use the bare name elsewhere.';
export const UNKNOWN_SLO = (name: string, known: readonly string[]) =>
  `Invalid resilience option "slo.${name}": no decorated method and no policy set is named ` +
  `"${name}". A method is measured under its circuit breaker's name, else its @UsePolicy set's ` +
  'name, else ClassName.methodName' +
  (known.length
    ? `; the names here are: ${known.slice(0, 30).join(', ')}.`
    : '; no method has a policy.');
export const SLO_WITHOUT_BREAKER = (name: string) =>
  `Invalid resilience option "slo.${name}.openCircuitBreaker": true needs a circuit breaker named ` +
  `"${name}", and there is none. Give the method @CircuitBreaker('${name}') or the policy set a ` +
  'circuitBreaker, or leave openCircuitBreaker out.';
export const CALL_OBSERVER_NOT_A_FUNCTION = (value: unknown) =>
  `ResilienceRegistry.observeCalls() needs a function (name, durationMs, outcome) => void; ` +
  `got ${describe(value)}.`;

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export const BULKHEAD_KEY_THREW = (policy: string, error: unknown) =>
  `Keyed bulkhead "${policy}": the key function threw ` +
  `(${error instanceof Error ? `${error.name}: ${error.message}` : describe(error)}); ` +
  'the call was rejected.';
export const BULKHEAD_KEY_NOT_STRING = (policy: string, value: unknown) =>
  `Keyed bulkhead "${policy}": the key must be a string, got ${describe(value)}; the call was rejected.`;
