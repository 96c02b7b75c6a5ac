#!/usr/bin/env node
// Load test of the sample app: builds it (transpile only), starts it in a child process
// and drives GET /payments/:id/history with autocannon through four phases of the
// downstream gateway (healthy, failing, slow, recovered), switched at run time with
// PUT /downstream. Prints one table row per phase; `--json FILE` also writes the figures.
//
//   npm run loadtest -- [--duration 5] [--connections 20] [--reset-timeout 1000] [--json FILE]
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.tmp', 'loadtest');
const BREAKER = 'payments-gateway';
/** The sample's per-attempt timeout of the gateway calls (`@Timeout(1_000)`). */
const SAMPLE_TIMEOUT_MS = 1_000;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: process.env.LOADTEST_DURATION ?? '5' },
    connections: { type: 'string', default: process.env.LOADTEST_CONNECTIONS ?? '20' },
    'reset-timeout': { type: 'string', default: '1000' },
    latency: { type: 'string', default: '5' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(
    'Usage: npm run loadtest -- [--duration s] [--connections n] [--reset-timeout ms] ' +
      '[--latency ms] [--json FILE]',
  );
  process.exit(0);
}
const duration = positive('duration', args.duration);
const connections = positive('connections', args.connections);
const resetTimeout = positive('reset-timeout', args['reset-timeout']);
const baseLatency = Number(args.latency);

const PHASES = [
  {
    name: 'healthy',
    downstream: { failureRate: 0, latencyMs: baseLatency },
    note: 'gateway answers every request',
  },
  {
    name: 'failing',
    downstream: { failureRate: 1, latencyMs: baseLatency },
    note: 'gateway answers 503 to every request',
  },
  {
    name: 'slow',
    downstream: { failureRate: 0, latencyMs: SAMPLE_TIMEOUT_MS + 500 },
    // start closed, so the phase shows the breaker opening on timeouts by itself
    closeBreaker: true,
    note: `gateway answers after ${SAMPLE_TIMEOUT_MS + 500}ms (timeout ${SAMPLE_TIMEOUT_MS}ms); breaker reset to closed first`,
  },
  {
    name: 'recovery',
    downstream: { failureRate: 0, latencyMs: baseLatency },
    note: 'gateway healthy again',
  },
];

function positive(name, raw) {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a number > 0; got '${raw}'.`);
    process.exit(2);
  }
  return value;
}

function build() {
  const out = join(work, 'build');
  rmSync(out, { recursive: true, force: true });
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(root, 'sample', 'tsconfig.json'),
      '--outDir',
      out,
      '--noCheck',
      '--sourceMap',
      'false',
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) throw new Error('Building the sample failed.');
  return { main: join(out, 'sample', 'src', 'main.js'), ms: Date.now() - started };
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

async function request(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json };
}

async function waitUntilUp(base, child) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`The sample exited with ${child.exitCode}.`);
    try {
      const { status } = await request(base, 'GET', '/downstream');
      if (status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('The sample did not start within 20s.');
}

/** GET /health/ready every 500ms while a phase runs: status code → count ('n/a' when absent). */
function sampleReadiness(base) {
  const counts = {};
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      let key;
      try {
        const { status } = await request(base, 'GET', '/health/ready');
        key = status === 404 ? 'n/a' : String(status);
      } catch {
        key = 'error';
      }
      counts[key] = (counts[key] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return counts;
  };
}

function runAutocannon(url) {
  return new Promise((resolveRun, reject) => {
    autocannon({ url, connections, duration, timeout: 10, pipelining: 1 }, (error, result) =>
      error ? reject(error) : resolveRun(result),
    );
  });
}

async function runPhase(base, path, phase) {
  await request(base, 'PUT', '/downstream', phase.downstream);
  if (phase.closeBreaker) await request(base, 'POST', `/resilience/breakers/${BREAKER}/close`);
  const before = (await request(base, 'GET', '/downstream')).json;
  const stopReadiness = sampleReadiness(base);
  const result = await runAutocannon(`${base}${path}`);
  const readiness = await stopReadiness();
  const after = (await request(base, 'GET', '/downstream')).json;
  const stats = (await request(base, 'GET', '/resilience/stats')).json;
  const probe = await request(base, 'GET', path);
  const statusCodes = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = count;
  }
  return {
    phase: phase.name,
    note: phase.note,
    downstream: phase.downstream,
    requests: result.requests.total,
    requestsPerSecond: round(result.requests.average),
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    downstreamRequestsPerSecond: round((after.requests - before.requests) / duration),
    breakerAtEnd: stats.circuitBreakers?.[BREAKER]?.state ?? 'n/a',
    probeAtEnd: {
      status: probe.status,
      retryAfter: probe.headers.get('retry-after') ?? undefined,
    },
    readiness,
  };
}

const round = (n) => Math.round(n * 10) / 10;

function printTable(rows) {
  const header = [
    'phase',
    'req/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'status codes',
    'downstream req/s',
    'breaker at end',
    '/health/ready',
  ];
  const lines = rows.map((r) => [
    r.phase,
    String(r.requestsPerSecond),
    String(r.latencyMs.p50),
    String(r.latencyMs.p99),
    String(r.latencyMs.max),
    Object.entries(r.statusCodes)
      .map(([code, count]) => `${code}×${count}`)
      .join(' ') + (r.errors ? ` err×${r.errors}` : ''),
    String(r.downstreamRequestsPerSecond),
    r.breakerAtEnd +
      (r.probeAtEnd.retryAfter ? ` (503, Retry-After ${r.probeAtEnd.retryAfter})` : ''),
    Object.entries(r.readiness)
      .map(([code, count]) => `${code}×${count}`)
      .join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(row(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const line of lines) console.log(row(line));
}

async function main() {
  mkdirSync(work, { recursive: true });
  const { main: entry, ms: buildMs } = build();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFile = join(work, 'sample.log');
  const log = createWriteStream(logFile);
  const started = Date.now();
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      DOWNSTREAM_PORT: '0',
      DOWNSTREAM_FAILURE_RATE: '0',
      DOWNSTREAM_LATENCY_MS: String(baseLatency),
      BREAKER_RESET_TIMEOUT_MS: String(resetTimeout),
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  try {
    await waitUntilUp(base, child);
    const startupMs = Date.now() - started;
    console.log(
      `Sample built in ${buildMs}ms, up in ${startupMs}ms on ${base}; ` +
        `${PHASES.length} phases of ${duration}s, ${connections} connections, ` +
        `breaker resetTimeout ${resetTimeout}ms, downstream latency ${baseLatency}ms.`,
    );
    const created = await request(base, 'POST', '/payments', {
      customerId: 'loadtest',
      amount: 1250,
      currency: 'EUR',
    });
    if (created.status !== 201) {
      throw new Error(
        `Creating a payment failed: ${created.status} ${JSON.stringify(created.json)}`,
      );
    }
    const path = `/payments/${created.json.id}/history`;
    console.log(`Target: GET ${path} (Retry + CircuitBreaker + Timeout, no fallback)\n`);
    const rows = [];
    for (const phase of PHASES) {
      process.stdout.write(`  ${phase.name}: ${phase.note} ...`);
      rows.push(await runPhase(base, path, phase));
      process.stdout.write(' done\n');
    }
    console.log('');
    printTable(rows);
    if (args.json) {
      const file = resolve(args.json);
      const report = {
        at: new Date().toISOString(),
        node: process.version,
        settings: { duration, connections, resetTimeout, baseLatency, target: path },
        buildMs,
        startupMs,
        phases: rows,
      };
      writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`\nWrote ${file}`);
    }
  } finally {
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    log.end();
    if (code !== 0 && signal !== 'SIGTERM' && code !== null) {
      console.error(`The sample exited with ${code}; see ${logFile}`);
      process.exitCode = 1;
    }
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  console.error(`Sample log: ${join(work, 'sample.log')}`);
  process.exitCode = 1;
});
