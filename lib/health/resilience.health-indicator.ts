import { Injectable } from '@nestjs/common';
import { KeyedBulkheadPolicy } from '../bulkhead/keyed-bulkhead.policy';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { BAD_HEALTH_KEY, BAD_HEALTH_LIST, UNKNOWN_HEALTH_TARGET } from './health.messages';
import type {
  BulkheadHealth,
  CircuitBreakerHealth,
  ResilienceHealthIndicatorResult,
  ResilienceHealthLevel,
  ResilienceHealthOptions,
  ResilienceHealthReport,
} from './resilience-health.interface';
import { terminusSupport } from './terminus-support';

/**
 * A Terminus health indicator for the application's circuit breakers and bulkheads
 * (API §5). `ResilienceModule` provides and exports it, so it can be injected wherever the
 * registry can; it touches `@nestjs/terminus` only when `isHealthy()` runs.
 *
 * ```ts
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([() => this.resilience.isHealthy()]);
 * }
 * ```
 * @publicApi
 */
@Injectable()
export class ResilienceHealthIndicator {
  constructor(private readonly registry: ResilienceRegistry) {}

  /**
   * A Terminus `HealthIndicatorResult` under `key`: status `'down'` (HTTP 503 from
   * `HealthCheckService.check()`) when a watched breaker is open; `'degraded'` on
   * Terminus 12+ (200, overall status `'degraded'`), `'up'` on Terminus 11, when one is
   * half-open or a watched bulkhead is under pressure; `'up'` otherwise. The details
   * list every watched breaker and bulkhead, the names in each condition and the
   * version-independent verdict `health`.
   *
   * Without options every breaker and bulkhead of the application is watched; with
   * options, exactly the ones listed (`{ circuitBreakers: ['payments'] }` watches one
   * breaker and no bulkhead).
   *
   * Never throws for an unhealthy state (Terminus 12 turns thrown errors into 500s, not
   * 503s). Throws `ResilienceConfigError` for an unknown name or when `@nestjs/terminus`
   * is not installed.
   */
  isHealthy<const K extends string = 'resilience'>(
    key: K = 'resilience' as K,
    options?: ResilienceHealthOptions,
  ): ResilienceHealthIndicatorResult<K> {
    if (typeof key !== 'string' || key === '') {
      throw new ResilienceConfigError(BAD_HEALTH_KEY(key), 'ResilienceHealthIndicator', 'key', key);
    }
    const { degraded } = terminusSupport();
    const report = this.report(options);
    const status =
      report.health === 'down'
        ? 'down'
        : report.health === 'degraded' && degraded
          ? 'degraded'
          : 'up';
    // 'degraded' only reaches a Terminus that accepts it (see ResilienceHealthDetails)
    const details = { status: status as 'up' | 'down', ...report };
    return { [key]: details } as ResilienceHealthIndicatorResult<K>;
  }

  /**
   * The same view as `isHealthy()`, as plain JSON and without Terminus: for custom
   * endpoints, logs or apps that do not use Terminus.
   */
  report(options?: ResilienceHealthOptions): ResilienceHealthReport {
    const everything = options?.circuitBreakers === undefined && options?.bulkheads === undefined;
    const stats = everything ? this.registry.stats() : undefined;
    const breakerNames = everything
      ? Object.keys(stats!.circuitBreakers)
      : this.names('circuitBreakers', options?.circuitBreakers);
    const bulkheadNames = everything
      ? Object.keys(stats!.bulkheads)
      : this.names('bulkheads', options?.bulkheads);

    const report: ResilienceHealthReport = {
      health: 'up',
      open: [],
      halfOpen: [],
      underPressure: [],
      circuitBreakers: {},
      bulkheads: {},
    };
    for (const name of breakerNames) {
      const breaker = this.breakerHealth(name);
      report.circuitBreakers[name] = breaker;
      if (breaker.state === 'open') report.open.push(name);
      else if (breaker.state === 'half-open') report.halfOpen.push(name);
    }
    for (const name of bulkheadNames) {
      const bulkhead = this.bulkheadHealth(name);
      report.bulkheads[name] = bulkhead;
      if (bulkhead.underPressure) report.underPressure.push(name);
    }
    report.health = verdict(report);
    return report;
  }

  private names(option: keyof ResilienceHealthOptions, list: unknown): string[] {
    if (list === undefined) return [];
    if (!Array.isArray(list)) {
      throw new ResilienceConfigError(
        BAD_HEALTH_LIST(option, list),
        'ResilienceHealthIndicator',
        option,
        list,
      );
    }
    return [...new Set(list as string[])];
  }

  private breakerHealth(name: string): CircuitBreakerHealth {
    const breaker = this.registry.circuitBreaker(name);
    if (!breaker) {
      const known = Object.keys(this.registry.stats().circuitBreakers);
      throw new ResilienceConfigError(
        UNKNOWN_HEALTH_TARGET('circuit breaker', name, known),
        name,
        'circuitBreakers',
        name,
      );
    }
    const { state, failureRate } = breaker.stats();
    return { state, failureRate, retryAfter: state === 'open' ? breaker.retryAfter : null };
  }

  private bulkheadHealth(name: string): BulkheadHealth {
    const bulkhead = this.registry.bulkhead(name);
    if (!bulkhead) {
      const known = Object.keys(this.registry.stats().bulkheads);
      throw new ResilienceConfigError(
        UNKNOWN_HEALTH_TARGET('bulkhead', name, known),
        name,
        'bulkheads',
        name,
      );
    }
    const { maxConcurrent, maxQueue, warningThreshold } = bulkhead.options;
    const stats = bulkhead.stats();
    const keyed = bulkhead instanceof KeyedBulkheadPolicy;
    const longest = keyed ? bulkhead.longestQueue() : undefined;
    const queued = keyed ? (longest?.queued ?? 0) : stats.queued;
    const queueFill = maxQueue === 0 ? 0 : queued / maxQueue;
    const health: BulkheadHealth = {
      active: stats.active,
      maxConcurrent,
      queued,
      maxQueue,
      queueFill,
      warningThreshold,
      underPressure: maxQueue > 0 && queueFill >= warningThreshold,
    };
    if (keyed) {
      if (longest) health.key = longest.key;
      health.keys = bulkhead.keys;
    }
    return health;
  }
}

function verdict(report: ResilienceHealthReport): ResilienceHealthLevel {
  if (report.open.length > 0) return 'down';
  if (report.halfOpen.length > 0 || report.underPressure.length > 0) return 'degraded';
  return 'up';
}
