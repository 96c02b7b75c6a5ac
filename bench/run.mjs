// Benchmark of the package against cockatiel and opossum, in one process.
//
//   npm run bench                      build, then the full run (a few minutes)
//   node --expose-gc bench/run.mjs --quick          every scenario briefly (CI smoke run)
//   node --expose-gc bench/run.mjs --json out.json  also write the figures as JSON
//   node --expose-gc bench/run.mjs --dist DIR       time another build of the package
//
// Times are wall-clock: run it on a quiet machine (the load average is printed at the start
// and at the end). The median of many batches per round, and the median of the rounds,
// keep the occasional preemption out of the figures.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure } from 'mitata';
import { memoryPhase, sustainedPhase } from './phases.mjs';
import { buildRows, evaluateTargets, printOpenTelemetry, printTables } from './report.mjs';
import {
  cockatielFor,
  noop,
  opossumFor,
  oursNest,
  oursOpenTelemetry,
  oursPure,
  workloads,
} from './subjects.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    dist: { type: 'string', default: join(root, 'dist') },
    rounds: { type: 'string' },
  },
});

if (typeof globalThis.gc !== 'function') {
  console.error('bench: run node with --expose-gc (npm run bench does).');
  process.exit(1);
}

const quick = flags.quick;
const settings = quick
  ? {
      rounds: 1,
      minCpuNs: 15e6,
      batch: 512,
      heapCalls: 1e5,
      keys: 1e4,
      breakers: 1e3,
      sustainedMs: 2_000,
    }
  : {
      rounds: 5,
      minCpuNs: 300e6,
      batch: 4096,
      heapCalls: 1e6,
      keys: 1e5,
      breakers: 1e4,
      sustainedMs: 10_000,
    };
if (flags.rounds) settings.rounds = Number(flags.rounds);

/** Wall-clock nanoseconds. */
const clock = () => performance.now() * 1e6;

const require = createRequire(import.meta.url);
const ft = require(resolve(flags.dist, 'index.js'));

const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
};
console.log(
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory}, Node ${machine.node}, ${machine.platform}`,
);
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(
  `Mode: ${quick ? 'quick' : 'full'}, ${settings.rounds} round(s), wall-clock time; load average at start ${load()}\n`,
);
const started = Date.now();

// ---- subjects ---------------------------------------------------------------------------
const throwing = async () => {
  throw new Error('plain failure');
};
const nest = await oursNest(ft);
const subjects = {}; // subjects[workload][impl] = { fns, check, close }
for (const [tag, work] of Object.entries(workloads)) {
  subjects[tag] = {
    plain: {
      fns: {
        plain: () => work(),
        throw: () => throwing().then(undefined, noop),
      },
    },
    pure: oursPure(ft, work, tag),
    nest: nest.perWorkload[tag],
    cockatiel: cockatielFor(work),
    opossum: opossumFor(work),
  };
}
// the OpenTelemetry exporter's overhead on a decorated breaker call (noop workload only)
subjects.noop.otel = await oursOpenTelemetry(ft, flags.dist);
for (const byImpl of Object.values(subjects)) {
  for (const subject of Object.values(byImpl)) await subject.check?.();
}
// Warm every case up before timing. This also runs a @Timeout method, whose currentSignal()
// support (AsyncLocalStorage) turns on Node's promise hooks for the whole process: every
// figure, peers included, is then taken in the same state, as in an application that uses
// @Timeout.
for (const byImpl of Object.values(subjects)) {
  for (const subject of Object.values(byImpl)) {
    for (const fn of Object.values(subject.fns)) for (let i = 0; i < 2_000; i++) await fn();
  }
}

// ---- timing -----------------------------------------------------------------------------
const cases = [];
for (const [workload, byImpl] of Object.entries(subjects)) {
  for (const [impl, subject] of Object.entries(byImpl)) {
    for (const [scenario, fn] of Object.entries(subject.fns)) {
      cases.push({ workload, impl, scenario, fn, rounds: [] });
    }
  }
}
const options = {
  min_cpu_time: settings.minCpuNs,
  batch_samples: settings.batch,
  batch_threshold: Infinity, // always time batches: one clock read per batch, not per call
  min_samples: quick ? 4 : 12,
  now: clock,
};
for (let round = 0; round < settings.rounds; round++) {
  // rounds go through every case in turn, so slow drift of the machine spreads evenly
  for (const c of cases) {
    const stats = await measure(c.fn, { ...options });
    c.rounds.push(stats.p50);
  }
  process.stdout.write(`round ${round + 1}/${settings.rounds} done (${elapsed()})\n`);
}
const timings = {};
for (const c of cases) {
  const ns = median(c.rounds);
  ((timings[c.workload] ??= {})[c.impl] ??= {})[c.scenario] = {
    ns,
    opsPerSec: 1e9 / ns,
    rounds: c.rounds,
  };
}

// ---- memory and sustained load ----------------------------------------------------------
const memory = await memoryPhase(ft, nest, settings);
const sustained = await sustainedPhase(nest.perWorkload.noop.stack, settings.sustainedMs, clock);

for (const byImpl of Object.values(subjects)) {
  for (const subject of Object.values(byImpl)) await subject.close?.();
}
await nest.close();

// ---- report -----------------------------------------------------------------------------
const rows = buildRows(timings);
const targets = evaluateTargets(timings, memory, sustained, settings);
printTables(rows, targets, memory, sustained, settings);
printOpenTelemetry(timings);
console.log(`\nTotal time: ${elapsed()}; load average at the end ${load()}`);

if (flags.json) {
  const report = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine,
    settings,
    timings,
    rows,
    memory,
    sustained,
    targets,
  };
  writeFileSync(flags.json, JSON.stringify(report, null, 2) + '\n');
  console.log(`JSON written to ${flags.json}`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function elapsed() {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}
