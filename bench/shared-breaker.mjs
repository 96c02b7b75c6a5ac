// The cost of sharing a circuit breaker through Redis, on the success path of a closed
// breaker (which never waits for Redis), next to a local breaker; and the propagation
// delay: one instance opens the breaker, how long until the other rejects.
//
//   npm run build && node bench/shared-breaker.mjs              (needs Redis, REDIS_URL)
//   node bench/shared-breaker.mjs --dist /path/to/dist --rounds 3
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure } from 'mitata';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    dist: { type: 'string', default: join(root, 'dist') },
    rounds: { type: 'string', default: '3' },
    samples: { type: 'string', default: '50' },
  },
});
const require = createRequire(import.meta.url);
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const ft = require(resolve(flags.dist, 'index.js'));
const { RedisCircuitStateStore } = require(resolve(flags.dist, 'redis', 'index.js'));
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `bench:${process.pid}:`;

/** One application with breaker 'local' (shared: false) and 'shared' through the store. */
async function app() {
  const store = new RedisCircuitStateStore({ connection: url, prefix });
  class BenchModule {}
  Module({
    imports: [
      ft.ResilienceModule.forRoot({
        stateStore: store,
        policies: {
          local: { circuitBreaker: { failureThreshold: 5, shared: false } },
          shared: { circuitBreaker: { failureThreshold: 5 } },
        },
      }),
    ],
  })(BenchModule);
  const ctx = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  return { ctx, registry: ctx.get(ft.ResilienceRegistry) };
}

const work = async () => 42;
const a = await app();
const b = await app();
const local = a.registry.policy('local');
const shared = a.registry.policy('shared');

const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
const rows = { local: [], shared: [] };
for (let round = 0; round < Number(flags.rounds); round++) {
  for (const [name, policy] of [
    ['local', local],
    ['shared', shared],
  ]) {
    const stats = await measure(() => policy.execute(work), {
      min_cpu_time: 300e6,
      batch_samples: 4096,
    });
    rows[name].push(stats.avg);
  }
}
const ns = { local: median(rows.local), shared: median(rows.shared) };
console.log('success path of a closed breaker (registry.policy(name).execute, async work)');
console.log(`  local breaker             ${ns.local.toFixed(0)} ns/call`);
console.log(`  shared breaker (Redis)    ${ns.shared.toFixed(0)} ns/call`);
console.log(`  ratio shared / local      ${(ns.shared / ns.local).toFixed(2)}`);

// propagation: A opens, B rejects
const delays = [];
const ba = a.registry.circuitBreaker('shared');
const bb = b.registry.circuitBreaker('shared');
b.registry.policy('shared');
for (let i = 0; i < Number(flags.samples); i++) {
  ba.close();
  while (bb.state !== 'closed') await new Promise(setImmediate);
  const t0 = performance.now();
  ba.open();
  for (;;) {
    const rejected = await b.registry
      .policy('shared')
      .execute(work)
      .then(
        () => false,
        (e) => e instanceof ft.CircuitOpenError,
      );
    if (rejected) break;
    await new Promise(setImmediate);
  }
  delays.push(performance.now() - t0);
}
delays.sort((x, y) => x - y);
const pct = (p) => delays[Math.min(delays.length - 1, Math.floor((delays.length * p) / 100))];
console.log(
  `propagation (open on A -> rejection on B), ${delays.length} samples: ` +
    `median ${pct(50).toFixed(2)} ms, p95 ${pct(95).toFixed(2)} ms, max ${delays.at(-1).toFixed(2)} ms`,
);

ba.close();
await a.ctx.close();
await b.ctx.close();
const Redis = require('ioredis');
const admin = new Redis(url);
const keys = await admin.keys(`${prefix}*`);
if (keys.length > 0) await admin.del(...keys);
admin.disconnect();
