import Redis, { RedisOptions } from 'ioredis';

/**
 * The client a Redis-backed class sends its commands with: the caller's own `client` (which
 * the class never closes), or one it creates from `connection` with its `settings()` and
 * closes itself (`owned`).
 * @internal
 */
export function redisClientFor(
  client: Redis | undefined,
  connection: string | RedisOptions,
  settings: () => RedisOptions,
): { client: Redis; owned: boolean } {
  if (client) return { client, owned: false };
  const own =
    typeof connection === 'string'
      ? new Redis(connection, settings())
      : new Redis({ ...connection, ...settings() });
  return { client: own, owned: true };
}

/**
 * ioredis settings for connections that never keep a command waiting: connect on first use,
 * no offline queue, no retry of a failed command, every command bounded by `commandTimeout`,
 * and reconnection in the background (at most every second) after an outage.
 * @internal
 */
export function failFastSettings(commandTimeout: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: Math.max(1_000, commandTimeout),
    // how long disconnect() keeps a half-closed socket (and a timer) around
    disconnectTimeout: commandTimeout,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 1_000),
  };
}
