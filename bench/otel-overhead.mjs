// The OpenTelemetry exporter's overhead on a decorated circuit breaker call, measured in
// paired rounds (each round times every case once, back to back), so that the ratios hold on
// a busy machine: the ratio reported is the median of the per-round ratios.
//
//   npm run build && node bench/otel-overhead.mjs
//   node bench/otel-overhead.mjs --dist /path/to/dist --rounds 21
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure } from 'mitata';
import { oursOpenTelemetry } from './subjects.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    dist: { type: 'string', default: join(root, 'dist') },
    rounds: { type: 'string', default: '15' },
  },
});
const require = createRequire(import.meta.url);
const ft = require(resolve(flags.dist, 'index.js'));

const subject = await oursOpenTelemetry(ft, flags.dist);
await subject.check();
const cases = Object.entries(subject.fns);
for (const [, fn] of cases) for (let i = 0; i < 5_000; i++) await fn();

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const options = {
  min_cpu_time: 50e6,
  batch_samples: 1024,
  batch_threshold: Infinity,
  min_samples: 8,
  now: () => performance.now() * 1e6,
};
const ns = Object.fromEntries(cases.map(([name]) => [name, []]));
for (let round = 0; round < Number(flags.rounds); round++) {
  for (const [name, fn] of cases) ns[name].push((await measure(fn, options)).p50);
}
await subject.close();

const base = ns.breaker;
console.log('| case | median ns/op | median of per-round ratios to `breaker` |');
console.log('|---|---|---|');
for (const [name, values] of Object.entries(ns)) {
  const ratio = median(values.map((v, i) => v / base[i]));
  console.log(`| ${name} | ${median(values).toFixed(0)} | ${ratio.toFixed(3)}× |`);
}
