export * from './resilience-health.interface';
export * from './resilience.health-indicator';
