// Closes `npm test` with one line counting every test of every suite that ran:
// the Jest unit/integration and e2e runs and the packed-package apps.
// `--reset` clears the results of an earlier run before the suites start.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';

const dir = new URL('../.tmp/test-results/', import.meta.url);
if (process.argv.includes('--reset')) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  process.exit(0);
}
let passed = 0;
let failed = 0;
for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
  const result = JSON.parse(await readFile(new URL(file, dir), 'utf8'));
  passed += result.numPassedTests;
  failed += result.numFailedTests;
  const suite = file.replace(/\.json$/, '');
  console.log(
    `${suite.padEnd(8)} ${result.numPassedTests} passed, ${result.numFailedTests} failed`,
  );
}
console.log(`total: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
