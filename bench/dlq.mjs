// Throughput of the broker dead-letter queues, each against its local broker: 5,000 letters
// published one after another (each resolved on the broker's confirmation), then 5,000 with 64
// in flight, then drain() of what was published (read, hand over, remove). Letters/s, best of
// the rounds. Each adapter uses a stream / queue of its own, deleted at the end.
//
//   npm run build && npm run bench:dlq                       (all three: needs the brokers)
//   node bench/dlq.mjs redis nats --letters 5000 --inflight 64 --rounds 3
//   DIST=/path/to/dist node bench/dlq.mjs                    (another build)
// Addresses: REDIS_URL, AMQP_URL, NATS_URL (defaults: the brokers' local ports).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    letters: { type: 'string', default: '5000' },
    inflight: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const dist = process.env.DIST ?? join(root, 'dist');
const require = createRequire(import.meta.url);
const count = Number(flags.letters);
const inflight = Number(flags.inflight);
const rounds = Number(flags.rounds);
const id = `${process.pid}${Date.now()}`;

/** Each adapter: how to build its queue, and how to delete what it created. */
const ADAPTERS = {
  redis: {
    label: 'RedisStreamsDeadLetterQueue (XADD; drain: XRANGE + XDEL)',
    create() {
      const { RedisStreamsDeadLetterQueue } = require(resolve(dist, 'redis', 'index.js'));
      const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
      const queue = new RedisStreamsDeadLetterQueue({
        connection: url,
        prefix: `bench:${id}`,
        maxLength: count * 4,
      });
      const cleanup = async () => {
        const { default: Redis } = await import('ioredis');
        const admin = new Redis(url);
        await admin.del(queue.key);
        await admin.quit();
      };
      return { queue, cleanup };
    },
  },
  rabbitmq: {
    label: 'RabbitMqDeadLetterQueue (confirm channel; drain: get + ack)',
    create() {
      const { RabbitMqDeadLetterQueue } = require(resolve(dist, 'rabbitmq', 'index.js'));
      const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
      const name = `bench.dlq.${id}`;
      const queue = new RabbitMqDeadLetterQueue({ url, exchange: `${name}.x`, queue: `${name}.q` });
      const cleanup = async () => {
        const admin = await require('amqplib').connect(url);
        const channel = await admin.createChannel();
        await channel.deleteQueue(`${name}.q`);
        await channel.deleteExchange(`${name}.x`);
        await admin.close();
      };
      return { queue, cleanup };
    },
  },
  nats: {
    label: 'NatsDeadLetterQueue (JetStream ack; drain: get + delete)',
    create() {
      const { NatsDeadLetterQueue } = require(resolve(dist, 'nats', 'index.js'));
      const servers = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
      const stream = `DLQ_BENCH_${id}`;
      // a publish waits for JetStream to write the letter: allow for a slow disk under load
      const queue = new NatsDeadLetterQueue({
        servers,
        stream,
        subjectPrefix: `bench${id}.dlq`,
        publishTimeout: 5_000,
      });
      const cleanup = async () => {
        const nc = await require('nats').connect({ servers });
        const jsm = await nc.jetstreamManager();
        await jsm.streams.delete(stream).catch(() => undefined);
        await nc.close();
      };
      return { queue, cleanup };
    },
  },
};

function makeLetter(n) {
  return {
    id: randomUUID(),
    policy: 'PaymentsClient.charge',
    target: 'PaymentsClient.charge',
    args: [{ customer: `c-${n}`, amount: n, currency: 'EUR' }],
    error: {
      name: 'UpstreamError',
      message: `gateway answered 503 (#${n})`,
      stack: 'x'.repeat(400),
    },
    attempts: 3,
    failedAt: new Date().toISOString(),
  };
}

async function oneByOne(queue, letters) {
  for (const letter of letters) await queue.publish(letter);
}

async function windowed(queue, letters, width) {
  let next = 0;
  const lane = async () => {
    while (next < letters.length) await queue.publish(letters[next++]);
  };
  await Promise.all(Array.from({ length: width }, lane));
}

async function elapsedMs(run) {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** Best letters/s of `rounds` rounds for one adapter. */
async function measure(adapter) {
  const { queue, cleanup } = adapter.create();
  const best = { sequential: 0, concurrent: 0, drain: 0 };
  const rate = (n, ms) => Math.round((n / ms) * 1000);
  try {
    await queue.publish(makeLetter(0)); // connect and declare outside the measure
    await queue.drain(() => undefined);
    for (let round = 0; round < rounds; round++) {
      const first = Array.from({ length: count }, (_, n) => makeLetter(n));
      const second = Array.from({ length: count }, (_, n) => makeLetter(n));
      best.sequential = Math.max(
        best.sequential,
        rate(count, await elapsedMs(() => oneByOne(queue, first))),
      );
      best.concurrent = Math.max(
        best.concurrent,
        rate(count, await elapsedMs(() => windowed(queue, second, inflight))),
      );
      let drained = 0;
      const ms = await elapsedMs(async () => {
        drained = await queue.drain(() => undefined);
      });
      if (drained !== 2 * count) throw new Error(`drained ${drained}, expected ${2 * count}`);
      best.drain = Math.max(best.drain, rate(drained, ms));
    }
  } finally {
    await queue.close();
    await cleanup();
  }
  return best;
}

const names = positionals.length > 0 ? positionals : Object.keys(ADAPTERS);
const unknown = names.filter((name) => !(name in ADAPTERS));
if (unknown.length > 0) {
  console.error(
    `unknown adapter(s): ${unknown.join(', ')}; known: ${Object.keys(ADAPTERS).join(', ')}`,
  );
  process.exit(2);
}
const n = (value) => value.toLocaleString('en-US');
console.log(`${n(count)} letters, best of ${rounds} rounds; letters/s\n`);
console.log(`| adapter | publish, one at a time | publish, ${inflight} in flight | drain |`);
console.log('|---|---|---|---|');
for (const name of names) {
  const best = await measure(ADAPTERS[name]);
  console.log(
    `| ${ADAPTERS[name].label} | ${n(best.sequential)} | ${n(best.concurrent)} | ${n(best.drain)} |`,
  );
}
