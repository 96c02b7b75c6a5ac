// Rows, targets and the printed tables of the benchmark (Markdown, so that a run can be
// pasted into the README as it is).

/** Table rows: [label, our implementation, our scenario, cockatiel scenario, opossum scenario]. */
const LAYOUT = [
  ['plain call', 'plain', 'plain', null, null],
  ['plain call that throws a new Error', 'plain', 'throw', null, null],
  ['circuit breaker', 'pure', 'breaker', 'breaker', 'breaker'],
  ['circuit breaker (Nest decorator)', 'nest', 'breaker', 'breaker', 'breaker'],
  ['retry, no failures', 'pure', 'retry', 'retry', 'breaker'],
  ['retry, no failures (Nest decorator)', 'nest', 'retry', 'retry', 'breaker'],
  ['timeout, never fires', 'pure', 'timeout', 'timeout', 'breaker'],
  ['timeout, never fires (Nest decorator)', 'nest', 'timeout', 'timeout', 'breaker'],
  ['bulkhead', 'pure', 'bulkhead', 'bulkhead', 'breaker'],
  ['bulkhead (Nest decorator)', 'nest', 'bulkhead', 'bulkhead', 'breaker'],
  ['full stack (`wrap`)', 'pure', 'stack', 'stack', 'stack'],
  ['full stack (Nest decorators)', 'nest', 'stack', 'stack', 'stack'],
  ['open-breaker rejection', 'pure', 'rejection', 'rejection', 'rejection'],
  ['open-breaker rejection (Nest decorator)', 'nest', 'rejection', 'rejection', 'rejection'],
];

export function buildRows(timings) {
  const rows = [];
  for (const [workload, byImpl] of Object.entries(timings)) {
    const plain = byImpl.plain.plain.ns;
    for (const [label, impl, scenario, cockatiel, opossum] of LAYOUT) {
      const ours = byImpl[impl][scenario].ns;
      const c = cockatiel ? byImpl.cockatiel[cockatiel].ns : undefined;
      const o = opossum ? byImpl.opossum[opossum].ns : undefined;
      rows.push({
        workload,
        key: `${impl}.${scenario}`,
        label,
        oursNs: ours,
        opsPerSec: 1e9 / ours,
        ratioToPlain: ours / plain,
        cockatielNs: c,
        opossumNs: o,
        opossumScenario: opossum ?? undefined,
        oursPerCockatiel: c === undefined ? undefined : ours / c,
        oursPerOpossum: o === undefined ? undefined : ours / o,
      });
    }
  }
  return rows;
}

/** Every target, measured on the noop workload. */
export function evaluateTargets(timings, memory, sustained) {
  const t = timings.noop;
  const ns = (impl, scenario) => t[impl][scenario].ns;
  const targets = [];
  const add = (row, what, actual, limit, unit = '×') =>
    targets.push({ row, what, actual, limit, unit, pass: actual <= limit });
  for (const policy of ['breaker', 'retry', 'timeout', 'bulkhead']) {
    const ours = ns('pure', policy);
    add(`pure.${policy}`, 'cockatiel', ours / ns('cockatiel', policy), 0.7);
    add(`pure.${policy}`, 'opossum breaker', ours / ns('opossum', 'breaker'), 0.3);
  }
  add('pure.timeout', 'per call', ns('pure', 'timeout'), 1000, 'ns');
  add('pure.timeout', 'cockatiel', ns('pure', 'timeout') / ns('cockatiel', 'timeout'), 0.1);
  add('nest.stack', 'opossum full', ns('nest', 'stack') / ns('opossum', 'stack'), 0.6);
  add('nest.stack', 'cockatiel', ns('nest', 'stack') / ns('cockatiel', 'stack'), 0.05);
  add('pure.rejection', 'plain throw', ns('pure', 'rejection') / ns('plain', 'throw'), 0.5);
  add('nest.rejection', 'plain throw', ns('nest', 'rejection') / ns('plain', 'throw'), 0.5);
  add('memory', 'heap retained', memory.fullStack.retainedBytes, 1e6, 'bytes');
  add('sustained', 'mean / median', sustained.meanNs / ns('nest', 'stack'), 1.5);
  return targets;
}

const fmtNs = (v) =>
  v === undefined ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)} µs` : `${v.toFixed(0)} ns`;
const fmtRatio = (v) => (v === undefined ? '—' : v >= 10 ? `${v.toFixed(1)}×` : `${v.toFixed(2)}×`);
const fmtOps = (v) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(0)} k` : v.toFixed(0);
const fmtBytes = (v) =>
  Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(2)} MB` : `${(v / 1e3).toFixed(1)} kB`;

function describeTarget(target) {
  if (target.unit === 'ns') return `≤ ${target.limit} ns`;
  if (target.unit === 'bytes') return `≤ ${fmtBytes(target.limit)}`;
  return `≤ ${target.limit}× ${target.what}`;
}

function actualOf(target) {
  if (target.unit === 'ns') return fmtNs(target.actual);
  if (target.unit === 'bytes') return fmtBytes(target.actual);
  return fmtRatio(target.actual);
}

function resultOf(targets) {
  if (targets.length === 0) return '';
  const missed = targets.filter((t) => !t.pass);
  if (missed.length === 0) return 'pass';
  return `miss (${missed.map((t) => `${actualOf(t)} ${t.unit === '×' ? t.what : ''}`.trim()).join(', ')})`;
}

function table(header, lines) {
  const out = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const line of lines) out.push(`| ${line.join(' | ')} |`);
  return out.join('\n');
}

export function printTables(rows, targets, memory, sustained, settings) {
  for (const workload of [...new Set(rows.map((r) => r.workload))]) {
    const title =
      workload === 'noop'
        ? 'Workload `async () => 42`'
        : 'Workload `async () => { await new Promise(setImmediate); return 42 }`';
    console.log(`\n${title}\n`);
    const header = [
      'scenario',
      'ours ns/op',
      'ours ops/s',
      '× plain',
      'cockatiel',
      'opossum',
      'ours/cockatiel',
      'ours/opossum',
    ];
    if (workload === 'noop') header.push('target', 'result');
    const lines = rows
      .filter((r) => r.workload === workload)
      .map((r) => {
        const line = [
          r.label,
          fmtNs(r.oursNs),
          fmtOps(r.opsPerSec),
          fmtRatio(r.ratioToPlain),
          fmtNs(r.cockatielNs),
          r.opossumNs === undefined
            ? '—'
            : `${fmtNs(r.opossumNs)}${r.opossumScenario === 'breaker' && !r.key.endsWith('.breaker') ? '¹' : ''}`,
          fmtRatio(r.oursPerCockatiel),
          fmtRatio(r.oursPerOpossum),
        ];
        if (workload === 'noop') {
          const own = targets.filter((t) => t.row === r.key);
          line.push(own.map(describeTarget).join(', ') || '—', resultOf(own) || '—');
        }
        return line;
      });
    console.log(table(header, lines));
  }
  console.log(
    '\n¹ opossum has no separate retry, timeout or bulkhead: those rows compare with its breaker alone; its full stack is a breaker with `timeout` and `capacity`.',
  );

  const m = memory;
  const heapTarget = targets.find((t) => t.row === 'memory');
  const sustainedTarget = targets.find((t) => t.row === 'sustained');
  console.log(
    '\nMemory and sustained load (full stack through the Nest decorators, noop workload)\n',
  );
  console.log(
    table(
      ['measure', 'figure', 'target', 'result'],
      [
        [
          `heap retained after ${m.fullStack.calls.toLocaleString('en')} calls`,
          `${fmtBytes(m.fullStack.retainedBytes)} (calls took ${(m.fullStack.ms / 1000).toFixed(2)} s)`,
          describeTarget(heapTarget),
          resultOf([heapTarget]),
        ],
        [
          `keyed bulkhead, ${m.keyedBulkhead.keys.toLocaleString('en')} keys`,
          `${fmtBytes(m.keyedBulkhead.heapBytes)} (${m.keyedBulkhead.bytesPerKey.toFixed(0)} B/key), ${m.keyedBulkhead.ms.toFixed(0)} ms`,
          '—',
          '—',
        ],
        [
          `${m.namedBreakers.breakers.toLocaleString('en')} named circuit breakers`,
          `${fmtBytes(m.namedBreakers.heapBytes)} (${m.namedBreakers.bytesPerBreaker.toFixed(0)} B/breaker), ${m.namedBreakers.ms.toFixed(0)} ms`,
          '—',
          '—',
        ],
        [
          `sustained ${sustained.seconds} s (yielding every 1,000 calls)`,
          `mean ${fmtNs(sustained.meanNs)}, worst 1 s window ${fmtNs(sustained.worstWindowNs)}`,
          '≤ 1.5× the median',
          resultOf([sustainedTarget]) === 'pass'
            ? `pass (${fmtRatio(sustainedTarget.actual)})`
            : resultOf([sustainedTarget]),
        ],
      ],
    ),
  );
  const met = targets.filter((t) => t.pass).length;
  console.log(`\nTargets met: ${met} of ${targets.length}`);
  if (settings.rounds === 1) console.log('(quick run: figures are indicative only)');
}

/** The OpenTelemetry exporter's overhead on a decorated breaker call (noop workload). */
export function printOpenTelemetry(timings) {
  const otel = timings.noop?.otel;
  if (!otel) return;
  const base = otel.breaker.ns;
  console.log('\nOpenTelemetry exporter, circuit breaker (Nest decorator), `async () => 42`\n');
  console.log(
    table(
      ['application', 'ns/op', '× not instrumented'],
      [
        ['not instrumented', fmtNs(base), '1.00×'],
        [
          '`instrumentResilience()`, no SDK registered',
          fmtNs(otel.breakerNoSdk.ns),
          fmtRatio(otel.breakerNoSdk.ns / base),
        ],
        [
          '`instrumentResilience()`, SDK registered (metrics + tracing)',
          fmtNs(otel.breakerSdk.ns),
          fmtRatio(otel.breakerSdk.ns / base),
        ],
        [
          'the same with `callDuration: false` (no histogram)',
          fmtNs(otel.breakerSdkNoHistogram.ns),
          fmtRatio(otel.breakerSdkNoHistogram.ns / base),
        ],
      ],
    ),
  );
}
