import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * Soak test: test/soak/soak-app.ts makes SOAK_CALLS calls (default 1e6) through
 * Fallback + Retry + CircuitBreaker + Timeout + Bulkhead in a child process started with
 * `--expose-gc`, then closes its application without calling `process.exit`. Set
 * SOAK_CALLS to run fewer (or more) calls.
 */
const CALLS = Number(process.env.SOAK_CALLS ?? 1_000_000);
/** How long the child may take to exit after `app.close()` returned. */
const EXIT_WITHIN_MS = 5_000;
/** Heap growth (after forced GC) tolerated between the warm-up and the end of the run. */
const MAX_HEAP_GROWTH = 3 * 1024 * 1024;

interface SoakResult {
  calls: number;
  elapsedMs: number;
  callsPerSecond: number;
  tally: Record<string, number>;
  baselineHeap: number;
  afterHeap: number;
  baselineResources: Record<string, number>;
  afterResources: Record<string, number>;
  closedResources: Record<string, number>;
  breaker: { rejectedCalls: number; state: string };
  retry: { successWithRetry: number; calls: number };
  timeout: { timeouts: number };
  bulkhead: { active: number; queued: number; accepted: number };
  fallback: { fallbacks: number };
}

interface ChildRun {
  result?: SoakResult;
  /** ms from the result line (printed after `app.close()`) to the exit of the process. */
  exitAfterMs?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runSoak(): Promise<ChildRun> {
  const root = join(__dirname, '..', '..');
  const child = spawn(
    process.execPath,
    ['--expose-gc', '-r', 'ts-node/register/transpile-only', 'test/soak/soak-app.ts'],
    {
      cwd: root,
      env: { ...process.env, SOAK_CALLS: String(CALLS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  let result: SoakResult | undefined;
  let resultAt = 0;
  let killer: NodeJS.Timeout | undefined;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const line = stdout.split('\n').find((l) => l.startsWith('SOAK_RESULT '));
    if (line && !result) {
      result = JSON.parse(line.slice('SOAK_RESULT '.length)) as SoakResult;
      resultAt = Date.now();
      // a stray timer or socket would keep the child alive: do not wait for ever
      killer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS * 2);
    }
  });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({
        result,
        exitAfterMs: result ? Date.now() - resultAt : undefined,
        code,
        signal,
        stderr,
      });
    });
  });
}

describe(`soak: ${CALLS} calls through the full decorated stack`, () => {
  let run: ChildRun;

  beforeAll(async () => {
    run = await runSoak();
  }, 120_000);

  it('completes every call with mixed outcomes', () => {
    expect(run.stderr).toBe('');
    const result = run.result!;
    expect(result).toBeDefined();
    const total = Object.values(result.tally).reduce((a, b) => a + b, 0);
    expect(total).toBe(CALLS);
    // every kind of outcome happened: successes, permanent failures, timeouts, open breaker
    expect(result.tally.ok).toBeGreaterThan(CALLS * 0.9);
    expect(result.tally.PermanentError).toBeGreaterThan(0);
    expect(result.tally.TimeoutError).toBeGreaterThan(0);
    expect(result.tally.CircuitOpenError).toBeGreaterThan(0);
    expect(result.breaker.rejectedCalls).toBe(result.tally.CircuitOpenError);
    expect(result.retry.successWithRetry).toBeGreaterThan(0);
    expect(result.timeout.timeouts).toBe(result.tally.TimeoutError);
    expect(result.fallback.fallbacks).toBe(CALLS - result.tally.ok);
    expect(result.bulkhead).toMatchObject({ active: 0, queued: 0 });
  });

  it('returns the heap and the active resources to their baseline', () => {
    const result = run.result!;
    expect(result.afterHeap - result.baselineHeap).toBeLessThan(MAX_HEAP_GROWTH);
    expect(result.afterResources).toEqual(result.baselineResources);
    expect(result.closedResources.Timeout ?? 0).toBe(0);
  });

  it('exits by itself soon after app.close()', () => {
    expect(run.signal).toBeNull();
    expect(run.code).toBe(0);
    expect(run.exitAfterMs).toBeLessThan(EXIT_WITHIN_MS);
  });
});
