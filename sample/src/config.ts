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
  /**
   * Token of the live dashboard at `/resilience/dashboard?token=…` (`DASHBOARD_TOKEN`,
   * default 'change-me', fine on a laptop only: set your own anywhere else).
   */
  dashboardToken: string;
  /**
   * Where dead letters go (`DEAD_LETTER_QUEUE`): `memory` (default, no server needed),
   * `redis`, `rabbitmq` or `nats`, on the broker's local default address unless
   * `DEAD_LETTER_URL` gives another.
   */
  deadLetterQueue: DeadLetterBackend;
  /** Broker address for `deadLetterQueue` (`DEAD_LETTER_URL`; default: the broker's local one). */
  deadLetterUrl?: string;
}

export const DEFAULT_CONFIG: SampleConfig = {
  port: 3000,
  downstreamPort: 0,
  failureRate: 0.1,
  latencyMs: 50,
  breakerResetTimeout: 10_000,
  chaos: false,
  dashboardToken: 'change-me',
  deadLetterQueue: 'memory',
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
    dashboardToken: env.DASHBOARD_TOKEN || DEFAULT_CONFIG.dashboardToken,
    deadLetterQueue: readBackend(env.DEAD_LETTER_QUEUE),
    deadLetterUrl: env.DEAD_LETTER_URL || undefined,
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

/** The dead-letter queues the sample can use. */
export const DEAD_LETTER_BACKENDS = ['memory', 'redis', 'rabbitmq', 'nats'] as const;
export type DeadLetterBackend = (typeof DEAD_LETTER_BACKENDS)[number];

function readBackend(raw: string | undefined): DeadLetterBackend {
  const value = (raw ?? '').trim() || 'memory';
  if (!(DEAD_LETTER_BACKENDS as readonly string[]).includes(value)) {
    throw new Error(
      `DEAD_LETTER_QUEUE must be one of ${DEAD_LETTER_BACKENDS.join(', ')}; got '${value}'.`,
    );
  }
  return value as DeadLetterBackend;
}
