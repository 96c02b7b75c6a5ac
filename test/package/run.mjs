// Package test: packs the built package and installs the tarball into fresh throwaway
// apps outside the repository, next to real Nest peers from the registry, then runs
// each app and type-checks a consumer file against the packed declarations.
//
//   npm run test:package                      build, then all apps
//   node test/package/run.mjs nest12-esm      only the named apps (dist must be built)
//   PACKAGE_TEST_KEEP=1 npm run test:package  keep the temp folder for a look afterwards
//
// Prints one PASS/FAIL line per app and closes with `N passed, M failed`.
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fixtures = join(here, 'fixtures');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const INSTALL_TIMEOUT_MS = 6 * 60_000;
const TYPECHECK_TIMEOUT_MS = 2 * 60_000;
const RUN_TIMEOUT_MS = 60_000;
/** How long an app may run on after printing its final `done:` line (everything closed). */
const EXIT_AFTER_DONE_MS = 5_000;

// `tsModule` is the TypeScript module setting the consumer file is checked with: the
// Nest 11 CLI's default (commonjs, classic resolution) for the Nest 11 CommonJS app, and
// the Nest 12 CLI's default (nodenext: exports conditions, require() of ES modules)
// elsewhere.
// `terminus` is the @nestjs/terminus range added after a first run without it.
const APPS = [
  {
    name: 'nest11-cjs',
    nest: '^11.0.0',
    terminus: '^11.0.0',
    type: 'commonjs',
    entry: 'app.cjs',
    tsModule: 'commonjs',
  },
  {
    name: 'nest11-esm',
    nest: '^11.0.0',
    terminus: '^11.0.0',
    type: 'module',
    entry: 'app.mjs',
    tsModule: 'nodenext',
  },
  {
    name: 'nest12-cjs',
    nest: '^12.0.0',
    terminus: '^12.0.0',
    type: 'commonjs',
    entry: 'app.cjs',
    tsModule: 'nodenext',
  },
  {
    name: 'nest12-esm',
    nest: '^12.0.0',
    terminus: '^12.0.0',
    type: 'module',
    entry: 'app.mjs',
    tsModule: 'nodenext',
  },
];

/** The optional peers of the sub-paths, installed in every app and hidden for one check. */
const OPTIONAL_PEERS = ['ioredis', 'amqplib', 'nats', 'prom-client', '@opentelemetry/api'];

/** Files the tarball must hold, and paths it must not. */
const REQUIRED_FILES = [
  'package.json',
  'dist/index.js',
  'dist/index.mjs',
  'dist/index.d.ts',
  'dist/index.d.mts',
  ...['redis', 'rabbitmq', 'nats', 'prometheus', 'opentelemetry'].flatMap((sub) =>
    ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts'].map((file) => `dist/${sub}/${file}`),
  ),
];
const FORBIDDEN_FILES = [
  /\.spec\.(?:js|d\.ts)$/,
  /^(?:lib|test|sample|scripts)\//,
  /\.tsbuildinfo$/,
  /^\.ci\//,
];

const started = Date.now();

/** At most `limit` callers at a time run `fn`; type checks are CPU-bound on 2 cores. */
function limiter(limit) {
  let active = 0;
  const waiting = [];
  return async (fn) => {
    if (active >= limit) await new Promise((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
const cpuBound = limiter(2);
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;
const log = (line) => console.log(`[package] ${line}`);

// Child npm processes must not inherit the npm-run environment of this repository
// (its package, lifecycle and local prefix), or they may act on the repo instead of the app.
function childEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const key of Object.keys(env)) {
    if (
      key.startsWith('npm_package_') ||
      key.startsWith('npm_lifecycle_') ||
      key === 'npm_config_local_prefix' ||
      key === 'npm_command' ||
      key === 'INIT_CWD'
    ) {
      delete env[key];
    }
  }
  env.npm_config_update_notifier = 'false';
  return env;
}

/**
 * Runs a command; resolves with { code, signal, output, ms, timedOut, lingered }. Never
 * rejects. With `exitAfter: { line, ms }`, a process still running `ms` after it printed a
 * stdout line matching `line` is killed and reported as `lingered`.
 */
function run(command, args, { cwd, timeout, env = childEnv(), exitAfter }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let output = '';
    let stdout = '';
    let timedOut = false;
    let lingered = false;
    let exitTimer;
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk) => (output += chunk);
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    if (exitAfter) {
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (exitTimer === undefined && exitAfter.line.test(stdout)) {
          exitTimer = setTimeout(() => {
            lingered = true;
            child.kill('SIGKILL');
          }, exitAfter.ms);
        }
      });
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    const finish = (result) => {
      clearTimeout(timer);
      clearTimeout(exitTimer);
      resolve({ ...result, ms: Date.now() - t0, timedOut, lingered });
    };
    child.on('error', (error) => {
      finish({ code: -1, signal: null, output: `${output}${error.stack}\n` });
    });
    child.on('close', (code, signal) => finish({ code, signal, output }));
  });
}

/** Drops npm's noise about this machine's own npm configuration from captured output. */
const quiet = (output) =>
  output
    .split('\n')
    .filter((line) => !/npm warn Unknown (?:user|global|env) config/.test(line))
    .join('\n')
    .trim();

const indent = (text, lines = 60) => {
  const all = quiet(text).split('\n');
  const shown = all.length > lines ? ['...', ...all.slice(-lines)] : all;
  return shown.map((line) => `    ${line}`).join('\n');
};

class StepError extends Error {
  constructor(step, message, output = '') {
    super(message);
    this.step = step;
    this.output = output;
  }
}

function packTarball(work) {
  return run('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: root,
    timeout: 2 * 60_000,
  }).then((result) => {
    if (result.code !== 0)
      throw new StepError('pack', `npm pack exited with ${result.code}`, result.output);
    const json = result.output.slice(
      result.output.indexOf('['),
      result.output.lastIndexOf(']') + 1,
    );
    const [info] = JSON.parse(json);
    const files = info.files.map((f) => f.path);
    const missing = REQUIRED_FILES.filter((f) => !files.includes(f));
    const forbidden = files.filter((f) => FORBIDDEN_FILES.some((re) => re.test(f)));
    if (missing.length > 0 || forbidden.length > 0) {
      throw new StepError(
        'pack',
        [
          missing.length > 0 ? `tarball lacks ${missing.join(', ')} (run npm run build first)` : '',
          forbidden.length > 0 ? `tarball holds files it should not: ${forbidden.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      );
    }
    return { tarball: join(work, info.filename), files: files.length, size: info.size };
  });
}

function writeApp(app, dir, tarball) {
  mkdirSync(dir, { recursive: true });
  const manifest = {
    name: `package-test-${app.name}`,
    version: '0.0.0',
    private: true,
    type: app.type,
    dependencies: {
      [pkg.name]: `file:${tarball}`,
      '@nestjs/common': app.nest,
      '@nestjs/core': app.nest,
      '@nestjs/platform-express': app.nest,
      'reflect-metadata': '^0.2.0',
      rxjs: '^7.8.0',
      // optional peers of the sub-paths (checkSubpaths)
      ioredis: '^5.0.0',
      amqplib: '^2.0.0',
      nats: '^2.18.0',
      'prom-client': '^15.0.0',
      '@opentelemetry/api': '^1.4.0',
    },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  // the entry file loads the package its own way, then runs the shared scenario
  for (const file of [app.entry, 'scenario.cjs', 'health-scenario.cjs', 'without-terminus.cjs']) {
    copyFileSync(join(fixtures, file), join(dir, file));
  }
  copyFileSync(join(fixtures, 'consumer.ts.txt'), join(dir, 'consumer.ts'));
  for (const file of ['redis-subpath.cjs', 'observability-subpaths.cjs', 'without-peers.mjs']) {
    copyFileSync(join(fixtures, file), join(dir, file));
  }
  copyFileSync(join(fixtures, 'health-consumer.ts.txt'), join(dir, 'health-consumer.ts'));
  copyFileSync(join(fixtures, 'redis-consumer.ts.txt'), join(dir, 'redis-consumer.ts'));
  copyFileSync(join(fixtures, 'subpaths-consumer.ts.txt'), join(dir, 'subpaths-consumer.ts'));
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: app.tsModule,
      ...(app.tsModule === 'commonjs' ? { moduleResolution: 'node10' } : {}),
      strict: true,
      noEmit: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      // Check the installed declarations too, so a broken .d.ts is not silently `any`.
      skipLibCheck: false,
      typeRoots: [join(root, 'node_modules', '@types')],
      types: ['node'],
    },
    files: ['consumer.ts', 'health-consumer.ts', 'redis-consumer.ts', 'subpaths-consumer.ts'],
  };
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
}

function installedVersion(dir, name) {
  try {
    return JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8'))
      .version;
  } catch {
    return '?';
  }
}

async function testApp(app, dir, tarball) {
  const timings = {};
  writeApp(app, dir, tarball);

  const install = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
    { cwd: dir, timeout: INSTALL_TIMEOUT_MS },
  );
  timings.install = install.ms;
  if (install.code !== 0) {
    const why = install.timedOut
      ? `timed out after ${seconds(INSTALL_TIMEOUT_MS)}`
      : `exited with ${install.code}`;
    throw new StepError('install', `npm install ${why}`, install.output);
  }
  const versions = {
    common: installedVersion(dir, '@nestjs/common'),
    core: installedVersion(dir, '@nestjs/core'),
    express: installedVersion(dir, '@nestjs/platform-express'),
  };
  log(`${app.name}: installed in ${seconds(install.ms)} (@nestjs/core ${versions.core})`);

  // The package without its optional peer @nestjs/terminus, then with it.
  const bare = await run(process.execPath, ['without-terminus.cjs'], {
    cwd: dir,
    timeout: RUN_TIMEOUT_MS,
    exitAfter: { line: /^done:/m, ms: EXIT_AFTER_DONE_MS },
  });
  timings.bare = bare.ms;
  if (bare.code !== 0 || bare.lingered) {
    const why = bare.lingered
      ? `did not exit within ${seconds(EXIT_AFTER_DONE_MS)} after its final \`done:\` line`
      : `exited with code ${bare.code}${bare.timedOut ? ' (timed out)' : ''}`;
    throw new StepError('no-terminus', `node without-terminus.cjs ${why}`, bare.output);
  }
  const addTerminus = await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      `@nestjs/terminus@${app.terminus}`,
    ],
    { cwd: dir, timeout: INSTALL_TIMEOUT_MS },
  );
  timings.install += addTerminus.ms;
  if (addTerminus.code !== 0) {
    throw new StepError(
      'install',
      `npm install @nestjs/terminus@${app.terminus} exited with ${addTerminus.code}`,
      addTerminus.output,
    );
  }
  versions.terminus = installedVersion(dir, '@nestjs/terminus');
  log(`${app.name}: added @nestjs/terminus ${versions.terminus} in ${seconds(addTerminus.ms)}`);

  timings.subpaths = await checkSubpaths(dir);

  // Run first, while the other apps may still be installing, then type-check.
  const exec = await run(process.execPath, [app.entry], {
    cwd: dir,
    timeout: RUN_TIMEOUT_MS,
    // the scenario's last line: both apps are closed, so nothing should keep node alive
    exitAfter: { line: /^done:/m, ms: EXIT_AFTER_DONE_MS },
  });
  timings.run = exec.ms;
  if (exec.lingered) {
    throw new StepError(
      'run',
      `node ${app.entry} did not exit promptly after close: still running ` +
        `${seconds(EXIT_AFTER_DONE_MS)} after its final \`done:\` line (open handles or timers)`,
      exec.output,
    );
  }
  if (exec.code !== 0) {
    let why = `exited with code ${exec.code}${exec.signal ? ` (${exec.signal})` : ''}`;
    if (exec.timedOut) {
      why = exec.output.includes('done: application closed')
        ? `did not exit by itself within ${seconds(RUN_TIMEOUT_MS)} after app.close() (open handles or timers)`
        : `timed out after ${seconds(RUN_TIMEOUT_MS)}`;
    }
    throw new StepError('run', `node ${app.entry} ${why}`, exec.output);
  }

  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const types = await cpuBound(() =>
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: dir,
      timeout: TYPECHECK_TIMEOUT_MS,
    }),
  );
  timings.types = types.ms;
  if (types.code !== 0) {
    throw new StepError(
      'types',
      `tsc (module ${app.tsModule}, ${app.type}) reported errors`,
      types.output,
    );
  }

  return { versions, timings, output: exec.output };
}

/**
 * The sub-paths (redis, rabbitmq, nats, prometheus, opentelemetry): loaded through require()
 * and import() with their peers installed and used against the local Redis, RabbitMQ and NATS;
 * then the root package loaded with every optional peer moved out of node_modules (and put
 * back), each sub-path failing with the name of its peer. Returns the time taken.
 */
async function checkSubpaths(dir) {
  const t0 = Date.now();
  const step = async (file, name) => {
    const result = await run(process.execPath, [file], {
      cwd: dir,
      timeout: RUN_TIMEOUT_MS,
      exitAfter: { line: /^done:/m, ms: EXIT_AFTER_DONE_MS },
    });
    if (result.code !== 0 || result.lingered) {
      const why = result.lingered
        ? `did not exit within ${seconds(EXIT_AFTER_DONE_MS)} after its final \`done:\` line`
        : `exited with code ${result.code}${result.timedOut ? ' (timed out)' : ''}`;
      throw new StepError(name, `node ${file} ${why}`, result.output);
    }
  };
  await step('redis-subpath.cjs', 'redis');
  await step('observability-subpaths.cjs', 'subpaths');
  // every optional peer moved out of node_modules (and put back)
  const moved = OPTIONAL_PEERS.map((peer) => {
    const installed = join(dir, 'node_modules', peer);
    const hidden = join(dir, 'node_modules', `.hidden-${peer.replace('/', '__')}`);
    return { installed, hidden };
  });
  for (const { installed, hidden } of moved) renameSync(installed, hidden);
  try {
    await step('without-peers.mjs', 'no-peers');
  } finally {
    for (const { installed, hidden } of moved) renameSync(hidden, installed);
  }
  return Date.now() - t0;
}

async function main() {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !APPS.some((app) => app.name === name));
  if (unknown.length > 0) {
    console.error(
      `unknown app(s): ${unknown.join(', ')}; known: ${APPS.map((a) => a.name).join(', ')}`,
    );
    process.exit(2);
  }
  const apps = only.length > 0 ? APPS.filter((app) => only.includes(app.name)) : APPS;

  for (const file of ['dist/index.js', 'dist/index.mjs']) {
    if (!existsSync(join(root, file))) {
      console.error(`${file} is missing: run \`npm run build\` first (npm run test:package does)`);
      process.exit(2);
    }
  }

  const work = mkdtempSync(join(tmpdir(), `${pkg.name}-package-test-`));
  log(`node ${process.version}; work folder ${work}`);

  let packed;
  try {
    packed = await packTarball(work);
  } catch (error) {
    console.log(`FAIL pack: ${error.message}`);
    if (error.output) console.log(indent(error.output));
    console.log(`packed apps: 0 passed, ${apps.length} failed`);
    await recordResult(0, apps.length);
    process.exit(1);
  }
  log(`packed ${packed.files} files, ${(packed.size / 1024).toFixed(0)} kB: ${packed.tarball}`);

  // All apps install in parallel and share npm's one cache.
  const results = await Promise.all(
    apps.map(async (app) => {
      const t0 = Date.now();
      try {
        const result = await testApp(app, join(work, app.name), packed.tarball);
        return { app, ok: true, ms: Date.now() - t0, ...result };
      } catch (error) {
        const step = error instanceof StepError ? error.step : 'internal';
        return { app, ok: false, ms: Date.now() - t0, step, error };
      }
    }),
  );

  console.log('');
  for (const r of results) {
    if (r.ok) {
      const { install, bare, run: runMs, types } = r.timings;
      console.log(
        `PASS ${r.app.name} (@nestjs/core ${r.versions.core}, @nestjs/platform-express ${r.versions.express}, ` +
          `@nestjs/terminus ${r.versions.terminus}; install ${seconds(install)}, ` +
          `run ${seconds(bare)} without Terminus + ${seconds(runMs)}, types ${seconds(types)})`,
      );
      if (process.env.PACKAGE_TEST_VERBOSE) console.log(indent(r.output));
    } else {
      console.log(`FAIL ${r.app.name} [${r.step}]: ${r.error.message}`);
      const detail = r.error.output ?? r.error.stack ?? '';
      if (detail) console.log(indent(detail));
    }
  }

  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const keep = failed > 0 || Boolean(process.env.PACKAGE_TEST_KEEP);
  if (keep) {
    log(`kept ${work}`);
  } else {
    rmSync(work, { recursive: true, force: true });
  }
  log(`total ${seconds(Date.now() - started)}`);
  console.log(`packed apps: ${passed} passed, ${failed} failed`);
  await recordResult(passed, failed);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();

/** Leaves the counts for scripts/test-summary.mjs, which closes `npm test` with the total. */
async function recordResult(passed, failed) {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const dir = new URL('../../.tmp/test-results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  await writeFile(
    new URL('package.json', dir),
    JSON.stringify({ numPassedTests: passed, numFailedTests: failed }),
  );
}
