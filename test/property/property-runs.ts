import fc from 'fast-check';

/**
 * How many random command sequences each property runs: `FC_NUM_RUNS` (the nightly script
 * sets 10000), else a small default that keeps `npm test` fast.
 */
export const NUM_RUNS = readRuns(process.env.FC_NUM_RUNS, 120);

/** A Jest timeout that grows with the number of runs (about 40 ms per sequence, 60 s at least). */
export const PROPERTY_TIMEOUT = Math.max(60_000, NUM_RUNS * 40);

/**
 * Runs `property` `NUM_RUNS` times. On failure fast-check throws with the seed, the replay path
 * and the shrunk counterexample (the configuration and each command, printed by `toString`).
 * `FC_SEED` replays one seed.
 */
export async function assertProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncPropertyWithHooks<Ts>,
): Promise<void> {
  const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
  await fc.assert(property, {
    numRuns: NUM_RUNS,
    ...(seed === undefined || Number.isNaN(seed) ? {} : { seed }),
  });
}

function readRuns(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const runs = Number(value);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`FC_NUM_RUNS must be a whole number >= 1, got "${value}"`);
  }
  return runs;
}
