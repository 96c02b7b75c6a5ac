import { Controller, Get, Inject, Res, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ResolvedPrometheusOptions } from './resilience-prometheus.options';
import { RESOLVED_PROMETHEUS_OPTIONS } from './resilience-prometheus.constants';

/**
 * A controller serving `GET /<path>`: the text of the prom-client registry the resilience
 * metrics are in (every metric of that registry, not only these), with the registry's
 * content type. Works on the Express and Fastify adapters.
 * @internal
 */
export function createMetricsController(path: string): Type {
  @Controller(path)
  class ResilienceMetricsController {
    constructor(
      @Inject(RESOLVED_PROMETHEUS_OPTIONS) private readonly options: ResolvedPrometheusOptions,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    @Get()
    async scrape(@Res({ passthrough: true }) response: unknown): Promise<string> {
      const { registry } = this.options;
      const text = await registry.metrics();
      this.adapterHost.httpAdapter.setHeader(response, 'Content-Type', registry.contentType);
      return text;
    }
  }
  return ResilienceMetricsController;
}
