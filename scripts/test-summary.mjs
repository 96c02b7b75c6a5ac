// Closes `npm test` with one line counting every test of every suite that ran:
// the Jest unit/integration and e2e runs and the packed-package apps.
import { readdir, readFile } from 'node:fs/promises';

const dir = new URL('../.tmp/test-results/', import.meta.url);
let passed = 0;
let failed = 0;
for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
  const result = JSON.parse(await readFile(new URL(file, dir), 'utf8'));
  passed += result.numPassedTests;
  failed += result.numFailedTests;
  console.log(`${file.replace(/\.json$/, '').padEnd(8)} ${result.numPassedTests} passed, ${result.numFailedTests} failed`);
}
console.log(`total: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
