export * from './circuit-breaker.options';
export * from './circuit-breaker.policy';
export * from './windows';
