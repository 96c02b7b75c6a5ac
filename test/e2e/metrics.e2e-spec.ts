import { Injectable, type INestApplication } from '@nestjs/common';
import { type OpenMetricsContentType, Registry, register as globalRegistry } from 'prom-client';
import request from 'supertest';
import { CircuitBreaker, ResilienceModule, type ResilienceStats } from '../../lib';
import { ResiliencePrometheusModule } from '../../lib/prometheus';
import { AppModule } from '../../sample/src/app.module';
import { DEFAULT_CONFIG } from '../../sample/src/config';
import { parseMetrics, samplesOf, valueOf } from '../fixtures/prometheus-text';
import { ADAPTERS, useApps } from './utils/bootstrap';

const GATEWAY = 'payments-gateway';
const charge = { customerId: 'c1', amount: 1250, currency: 'EUR' };

@Injectable()
class Pinger {
  @CircuitBreaker('ping')
  async ping(): Promise<string> {
    return 'pong';
  }
}

/** A content type as its parts, in any order (Express reorders the parameters). */
const mediaType = (value: string | undefined) =>
  (value ?? '')
    .split(';')
    .map((part) => part.trim())
    .sort();

describe.each(ADAPTERS)('GET /metrics (%s)', (adapter) => {
  const apps = useApps();

  it("serves the sample's resilience and process metrics, matching /resilience/stats", async () => {
    const app: INestApplication = await apps.start(
      adapter,
      AppModule.forRoot({ ...DEFAULT_CONFIG, failureRate: 0, latencyMs: 0 }),
    );
    const http = () => request(app.getHttpServer());

    await http().post('/payments').send(charge).expect(201);
    await http().put('/downstream').send({ failureRate: 1 }).expect(200);
    await http().post('/payments').send(charge).expect(502); // three failed attempts open it
    await http().post('/payments').send(charge).expect(503); // rejected

    const response = await http().get('/metrics').expect(200);
    expect(mediaType(response.headers['content-type'])).toEqual(
      mediaType(globalRegistry.contentType),
    );
    const m = parseMetrics(response.text);
    const stats: ResilienceStats = (await http().get('/resilience/stats').expect(200)).body;
    const breaker = stats.circuitBreakers[GATEWAY];
    expect(breaker).toMatchObject({ state: 'open', failedCalls: 3, rejectedCalls: 1 });

    expect(valueOf(m, 'circuit_breaker_state', { name: GATEWAY })).toBe(1);
    const calls = (result: string) =>
      valueOf(m, 'circuit_breaker_calls_total', { name: GATEWAY, result });
    expect(calls('success')).toBe(breaker.successfulCalls);
    expect(calls('failure')).toBe(3);
    expect(calls('rejected')).toBe(1);
    expect(
      valueOf(m, 'circuit_breaker_state_transitions_total', {
        name: GATEWAY,
        from: 'closed',
        to: 'open',
      }),
    ).toBe(1);
    const observed = samplesOf(m, 'circuit_breaker_call_duration_seconds_count', { name: GATEWAY });
    expect(observed.reduce((sum, s) => sum + s.value, 0)).toBe(
      breaker.successfulCalls + breaker.failedCalls,
    );
    expect(
      valueOf(m, 'retry_calls_total', {
        name: 'PaymentsClient.charge',
        result: 'failed_with_retry',
      }),
    ).toBe(1);
    // the failed charge and the rejected one: every letter of the sample is the gateway's
    expect(stats.deadLetters.published).toBe(2);
    expect(valueOf(m, 'dead_letters_total', { name: GATEWAY })).toBe(2);
    expect(valueOf(m, 'dead_letters_published_total')).toBe(2);
    for (const name of Object.keys(stats.bulkheads)) {
      expect(valueOf(m, 'bulkhead_active', { name })).toBe(0);
      expect(valueOf(m, 'bulkhead_rejected_total', { name })).toBe(stats.bulkheads[name].rejected);
    }
    for (const name of Object.keys(stats.timeouts)) {
      expect(valueOf(m, 'timeout_total', { name })).toBe(stats.timeouts[name].timeouts);
    }
    // the gateway's SLO (3 calls: fewer than its minimumCalls, so no verdict yet)
    expect(stats.slo[GATEWAY]).toMatchObject({ calls: 3, failures: 2, violated: false });
    expect(valueOf(m, 'slo_target_ratio', { name: GATEWAY })).toBe(0.95);
    expect(valueOf(m, 'slo_success_ratio', { name: GATEWAY })).toBe(stats.slo[GATEWAY].successRate);
    expect(valueOf(m, 'slo_error_budget_remaining_ratio', { name: GATEWAY })).toBe(0);
    expect(valueOf(m, 'slo_violated', { name: GATEWAY })).toBe(0);
    expect(valueOf(m, 'slo_violations_total', { name: GATEWAY })).toBe(0);
    // prom-client's default process metrics, registered once per process
    expect(samplesOf(m, 'process_cpu_user_seconds_total')).toHaveLength(1);

    await apps.close(app);
    expect(globalRegistry.getSingleMetric('circuit_breaker_state')).toBeUndefined();
  });

  it('serves its own registry at a custom path with that registry content type', async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const app = await apps.start(adapter, {
      module: class MetricsApp {},
      imports: [
        ResilienceModule.forRoot(),
        ResiliencePrometheusModule.forRoot({
          registry,
          labels: { service: 'ping' },
          controller: { path: 'internal/prometheus' },
        }),
      ],
      providers: [Pinger],
    });
    await app.get(Pinger).ping();

    const response = await request(app.getHttpServer()).get('/internal/prometheus').expect(200);
    expect(mediaType(response.headers['content-type'])).toEqual(
      mediaType(Registry.OPENMETRICS_CONTENT_TYPE),
    );
    expect(response.text.endsWith('# EOF\n')).toBe(true);
    expect(response.text).toContain(
      'circuit_breaker_calls_total{service="ping",name="ping",result="success"} 1',
    );
    await request(app.getHttpServer()).get('/metrics').expect(404);
    expect(globalRegistry.getSingleMetric('circuit_breaker_state')).toBeUndefined();
  });
});
