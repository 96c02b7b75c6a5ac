export { ResilienceDashboardModule } from './resilience-dashboard.module';
export { ResilienceDashboardFeed } from './dashboard.feed';
export type {
  ResilienceDashboardAsyncOptions,
  ResilienceDashboardFactoryOptions,
  ResilienceDashboardOptions,
} from './dashboard-options.interface';
export type {
  DashboardError,
  DashboardEvent,
  DashboardMessageType,
  DashboardSnapshot,
} from './dashboard-message.interface';
export type { LatencySummary } from './latency-window';
