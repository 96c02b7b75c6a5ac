/** Messages of the health indicator. @internal */
export const TERMINUS_MISSING =
  'ResilienceHealthIndicator.isHealthy() needs @nestjs/terminus (^11 or ^12), which is not ' +
  'installed: run `npm install @nestjs/terminus`. Without it, ' +
  'ResilienceHealthIndicator.report() gives the same view as plain JSON.';
export const TERMINUS_UNREADABLE = (reason: string) =>
  `ResilienceHealthIndicator could not read the version of @nestjs/terminus: ${reason}`;
export const UNKNOWN_HEALTH_TARGET = (
  kind: 'circuit breaker' | 'bulkhead',
  name: string,
  known: readonly string[],
) =>
  `ResilienceHealthIndicator: no ${kind} named "${name}" in this application. ` +
  (known.length > 0 ? `Known: ${known.join(', ')}.` : `This application has no ${kind}s.`);
export const BAD_HEALTH_LIST = (option: string, value: unknown) =>
  `ResilienceHealthIndicator: "${option}" must be an array of names; got ${
    typeof value === 'string' ? `"${value}"` : typeof value
  }.`;
export const BAD_HEALTH_KEY = (value: unknown) =>
  `ResilienceHealthIndicator: the health key must be a non-empty string; got ${
    typeof value === 'string' ? '""' : typeof value
  }.`;
