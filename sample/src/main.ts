import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { AppModule } from './app.module';
import { DEFAULT_CONFIG, loadConfig } from './config';

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  const app = await NestFactory.create(AppModule.forRoot(config));
  // on SIGTERM / SIGINT: stop taking calls, let in-flight ones finish, close the gateway
  app.enableShutdownHooks();
  await app.listen(config.port);

  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://localhost:${port}`;
  const json = `-H 'content-type: application/json'`;
  new Logger('Sample').log(
    [
      `Payments sample listening on ${url}`,
      'Try:',
      `  curl -X POST ${url}/payments ${json} -d '{"customerId":"c1","amount":1250,"currency":"EUR"}'`,
      `  curl ${url}/payments/<id>/status`,
      `  curl ${url}/payments/<id>/history`,
      `  curl ${url}/rates/EUR`,
      `  curl -X PUT ${url}/downstream ${json} -d '{"failureRate":1}'   # break the gateway`,
      `  curl -X PUT ${url}/downstream ${json} -d '{"failureRate":0,"latencyMs":1500}'   # slow it down`,
      `  curl ${url}/resilience/stats`,
      `  curl ${url}/metrics   # Prometheus`,
      `  curl ${url}/resilience/events?limit=20`,
      `  curl -X POST ${url}/resilience/breakers/payments-gateway/open`,
      `  curl -X POST ${url}/resilience/breakers/payments-gateway/close`,
    ].join('\n'),
  );
  // the default token is printed so a local run works at once; a real one never is
  const token =
    config.dashboardToken === DEFAULT_CONFIG.dashboardToken
      ? config.dashboardToken
      : '$DASHBOARD_TOKEN';
  new Logger('Sample').log(`Live dashboard: ${url}/resilience/dashboard?token=${token}`);
  if (config.dashboardToken === DEFAULT_CONFIG.dashboardToken) {
    new Logger('Sample').warn(
      `DASHBOARD_TOKEN is not set: the dashboard uses the default token '${token}'. Set your own outside local development.`,
    );
  }
}

bootstrap().catch((error: unknown) => {
  new Logger('Sample').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
