// nestjs-fault-tolerance/redis: needs the optional peer dependency ioredis.
export { RedisCircuitStateStore } from './redis-circuit-state-store';
export type { RedisCircuitStateStoreOptions } from './redis-circuit-state-store';
