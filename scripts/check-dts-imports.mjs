// Fails when the type declarations of a public entry point import a package outside
// that entry's allow-list. A consumer's TypeScript reads every .d.ts reachable from the
// entry it imports; a stray `import ... from 'ioredis'` there breaks type-checking for
// everyone who did not install that optional peer.
//
// Walks the .d.ts graph from each entry (relative imports, `import('...')` types,
// `export ... from`, triple-slash references) and checks every bare specifier.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/** Entry declarations and the packages their type graph may import. */
const ENTRIES = [
  { entry: 'index.d.ts', allow: ['@nestjs/common', '@nestjs/core', 'rxjs'] },
  { entry: 'index.d.mts', allow: ['@nestjs/common', '@nestjs/core', 'rxjs'] },
  // Sub-path entries get their own lists: each may add its optional peer.
  ...subpath('redis', 'ioredis'),
  ...subpath('rabbitmq', 'amqplib'),
  ...subpath('nats', 'nats'),
  ...subpath('prometheus', 'prom-client'),
  ...subpath('opentelemetry', '@opentelemetry/api'),
];

/** The .d.ts and .d.mts entries of one sub-path, allowed its own optional peer. */
function subpath(name, peer) {
  const allow = ['@nestjs/common', '@nestjs/core', 'rxjs', peer];
  return [
    { entry: `${name}/index.d.ts`, allow },
    { entry: `${name}/index.d.mts`, allow },
  ];
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const SPECIFIER_PATTERNS = [
  // import x from 'y'; import type { x } from 'y'; export * from 'y'; export { x } from 'y'
  /\b(?:import|export)\s+(?:type\s+)?(?:[\w*${},\s]+?\s+from\s+)?['"]([^'"]+)['"]/g,
  // import('y') in type positions
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  // import x = require('y')
  /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  // declare module 'y' (augmentation of another package)
  /\bdeclare\s+module\s+['"]([^'"]+)['"]/g,
];
const REFERENCE_TYPES = /\/\/\/\s*<reference\s+types\s*=\s*['"]([^'"]+)['"]/g;
const REFERENCE_PATH = /\/\/\/\s*<reference\s+path\s*=\s*['"]([^'"]+)['"]/g;

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function isBuiltin(specifier) {
  // `/// <reference types="node" />` stands for the node builtins too.
  return (
    specifier === 'node' ||
    builtins.has(specifier) ||
    builtins.has(packageName(specifier)) ||
    specifier.startsWith('node:')
  );
}

function resolveRelative(fromFile, specifier) {
  const base = resolve(dirname(fromFile), specifier);
  const stem = base.replace(/\.(?:c|m)?js$/, '');
  const ext = base.endsWith('.mjs') ? '.d.mts' : base.endsWith('.cjs') ? '.d.cts' : '.d.ts';
  const candidates = [
    `${stem}${ext}`,
    `${stem}.d.ts`,
    `${stem}.d.mts`,
    `${stem}.d.cts`,
    join(base, 'index.d.ts'),
    base,
  ];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

function stripComments(source) {
  // Block comments (JSDoc) may contain example imports; line comments are kept for
  // triple-slash directives, which are matched separately.
  return source.replace(/\/\*[\s\S]*?\*\//g, '');
}

let failures = 0;
let checked = 0;
for (const { entry, allow } of ENTRIES) {
  const entryFile = join(dist, entry);
  if (!existsSync(entryFile)) {
    console.error(
      `check-dts-imports: ${relative(root, entryFile)} is missing; run the build first`,
    );
    failures++;
    continue;
  }
  const allowed = new Set(allow);
  const seen = new Set();
  const queue = [entryFile];
  const offenders = [];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const raw = readFileSync(file, 'utf8');
    const source = stripComments(raw);
    const specifiers = [];
    for (const pattern of SPECIFIER_PATTERNS) {
      for (const match of source.matchAll(pattern)) specifiers.push(match[1]);
    }
    for (const match of raw.matchAll(REFERENCE_TYPES)) specifiers.push(match[1]);
    for (const match of raw.matchAll(REFERENCE_PATH))
      specifiers.push(`./${match[1].replace(/^\.\//, '')}`);

    for (const specifier of specifiers) {
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const target = resolveRelative(file, specifier);
        if (target === undefined) {
          offenders.push(`${relative(root, file)}: cannot resolve '${specifier}'`);
        } else {
          queue.push(target);
        }
      } else if (!isBuiltin(specifier) && !allowed.has(packageName(specifier))) {
        offenders.push(`${relative(root, file)}: imports '${specifier}'`);
      }
    }
  }
  checked += seen.size;
  if (offenders.length > 0) {
    failures += offenders.length;
    console.error(`check-dts-imports: ${entry} reaches packages outside [${allow.join(', ')}]:`);
    for (const line of offenders) console.error(`  ${line}`);
  }
}

if (failures > 0) process.exit(1);
console.log(`check-dts-imports: ${checked} declaration files checked, all imports allowed`);
