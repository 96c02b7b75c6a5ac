/** Every message of the OpenTelemetry exporter, in one place. @internal */
export const OTEL_INVALID_OPTION = (key: string, value: unknown, expected: string) =>
  `Invalid option for ResilienceOpenTelemetry: "${key}" is ${describe(value)}; expected ${expected}.`;

export const OTEL_RESERVED_ATTRIBUTE = (key: string, reserved: readonly string[]) =>
  `Invalid option for ResilienceOpenTelemetry: "attributes" may not set "${key}"; the exporter ` +
  `sets ${reserved.map((k) => `"${k}"`).join(', ')} itself on every measurement.`;

export const OTEL_DUPLICATE_METER = (meterName: string, attributes: string) =>
  `ResilienceOpenTelemetry: another ResilienceRegistry already reports to the meter ` +
  `"${meterName}" with the attributes ${attributes}, so both would write the same series. ` +
  `Give each application distinct "attributes" (for example { app: 'billing' }), its own ` +
  `"meterName" or its own "meterProvider"; or dispose the first instrumentation.`;

export const OTEL_NO_REGISTRY =
  'ResilienceOpenTelemetryModule found no ResilienceRegistry in this application: import ' +
  'ResilienceModule.forRoot() (or forRootAsync()) in the same application.';

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `a function`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object of the wrong shape';
  return String(value);
}
