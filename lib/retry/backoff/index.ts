export * from './backoff.interface';
export * from './backoff';
export * from './exponential.backoff';
export * from './fixed.backoff';
export * from './jitter';
export * from './linear.backoff';
