/**
 * Settings of the sample app. Every value can be set through an environment variable;
 * tests pass their own values to `AppModule.forRoot(config)` instead.
 */
export interface SampleConfig {
  /** Port of the sample app (`PORT`, default 3000). */
  port: number;
  /** Port of the flaky downstream gateway (`DOWNSTREAM_PORT`, default 0: any free port). */
  downstreamPort: number;
  /** Share of downstream requests that fail with a 503, 0..1 (`DOWNSTREAM_FAILURE_RATE`, default 0.1). */
  failureRate: number;
  /** Delay the downstream adds to every answer, ms (`DOWNSTREAM_LATENCY_MS`, default 50). */
  latencyMs: number;
  /** How long the gateway's circuit breaker stays open, ms (`BREAKER_RESET_TIMEOUT_MS`, default 10000). */
  breakerResetTimeout: number;
  /** Turns on fault injection (`@Chaos`, see chaos/) when `CHAOS=1` (default off). */
  chaos: boolean;
}

export const DEFAULT_CONFIG: SampleConfig = {
  port: 3000,
  downstreamPort: 0,
  failureRate: 0.1,
  latencyMs: 50,
  breakerResetTimeout: 10_000,
  chaos: false,
};

/** Reads the configuration from environment variables, falling back to the defaults. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SampleConfig {
  return {
    port: readNumber(env, 'PORT', DEFAULT_CONFIG.port),
    downstreamPort: readNumber(env, 'DOWNSTREAM_PORT', DEFAULT_CONFIG.downstreamPort),
    failureRate: readNumber(env, 'DOWNSTREAM_FAILURE_RATE', DEFAULT_CONFIG.failureRate),
    latencyMs: readNumber(env, 'DOWNSTREAM_LATENCY_MS', DEFAULT_CONFIG.latencyMs),
    breakerResetTimeout: readNumber(
      env,
      'BREAKER_RESET_TIMEOUT_MS',
      DEFAULT_CONFIG.breakerResetTimeout,
    ),
    chaos: env.CHAOS === '1' || env.CHAOS === 'true',
  };
}

function readNumber(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${key} must be a number >= 0; got '${raw}'.`);
  }
  return value;
}
