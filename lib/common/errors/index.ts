export * from './resilience.error';
export * from './circuit-open.error';
export * from './timeout.error';
export * from './bulkhead-rejected.error';
export * from './rate-limited.error';
export * from './resilience-config.error';
export * from './call-aborted.error';
