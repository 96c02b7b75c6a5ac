// Local services for the tests that talk to a real server (Redis, RabbitMQ, NATS,
// PostgreSQL). A suite declared with `describeWithService` runs when the service answers;
// when it does not, the suite fails loudly under CI=true and is skipped elsewhere, with a
// message saying how to start the service.
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';

/** A service a suite needs, and how to start it when it is missing. */
export interface ServiceSpec {
  /** Human name, e.g. 'Redis'. */
  name: string;
  host: string;
  port: number;
  /** How to start it locally, shown when it is missing. */
  start: string;
}

/** Redis on 127.0.0.1:6379; `REDIS_URL` (redis://host:port) overrides. */
export const REDIS: ServiceSpec = (() => {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  return {
    name: 'Redis',
    host: url.hostname,
    port: Number(url.port || 6379),
    start: `redis-server --port ${url.port || 6379} --save '' --appendonly no`,
  };
})();

/** The Redis URL the tests use. */
export const REDIS_URL = `redis://${REDIS.host}:${REDIS.port}`;

/** RabbitMQ on 127.0.0.1:5672 (guest/guest); `AMQP_URL` (amqp://user:pass@host:port) overrides. */
export const RABBITMQ_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const RABBITMQ: ServiceSpec = (() => {
  const url = new URL(RABBITMQ_URL);
  return {
    name: 'RabbitMQ',
    host: url.hostname,
    port: Number(url.port || 5672),
    start: 'rabbitmq-server -detached',
  };
})();

/** NATS with JetStream on 127.0.0.1:4222; `NATS_URL` (nats://host:port) overrides. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const NATS: ServiceSpec = (() => {
  const url = new URL(NATS_URL);
  return {
    name: 'NATS (JetStream)',
    host: url.hostname,
    port: Number(url.port || 4222),
    start: `nats-server -a ${url.hostname} -p ${url.port || 4222} -js`,
  };
})();

const reachable = new Map<string, boolean>();

/**
 * True when a TCP connection to `host:port` opens within `timeoutMs`. Synchronous (it runs a
 * short child process), so a test file can decide at load time whether to declare a suite.
 */
export function isReachable(host: string, port: number, timeoutMs = 1_000): boolean {
  const key = `${host}:${port}`;
  const known = reachable.get(key);
  if (known !== undefined) return known;
  const probe = `
    const socket = require('node:net').connect(${port}, ${JSON.stringify(host)});
    socket.setTimeout(${timeoutMs}, () => process.exit(1));
    socket.on('connect', () => process.exit(0));
    socket.on('error', () => process.exit(1));`;
  const result = spawnSync(process.execPath, ['-e', probe], { timeout: timeoutMs + 2_000 });
  const ok = result.status === 0;
  reachable.set(key, ok);
  return ok;
}

/** Why a suite cannot run, and how to fix it. */
export function missingServiceMessage(spec: ServiceSpec): string {
  return (
    `${spec.name} is not reachable on ${spec.host}:${spec.port}. ` + `Start it with: ${spec.start}`
  );
}

/**
 * Checks that the service answers. Under CI=true a missing service throws (the run fails);
 * elsewhere it prints how to start it and returns false, so the caller skips.
 */
export function requireService(spec: ServiceSpec): boolean {
  if (isReachable(spec.host, spec.port)) return true;
  const message = missingServiceMessage(spec);
  if (process.env.CI === 'true')
    throw new Error(`${message} (CI=true: a missing service fails the run)`);
  console.warn(`Skipping the tests that need ${spec.name}: ${message}`);
  return false;
}

/**
 * `describe` for a suite that needs `spec`: declared normally when the service answers,
 * skipped with a message when it does not, and failing the run under CI=true.
 */
export function describeWithService(spec: ServiceSpec, title: string, fn: () => void): void {
  if (requireService(spec)) describe(title, fn);
  else describe.skip(`${title} (${spec.name} not reachable on ${spec.host}:${spec.port})`, fn);
}

/** A free TCP port on 127.0.0.1 (free when asked; bind it soon). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A disposable `redis-server` child process on its own port, without persistence, for tests
 * that stop and restart Redis. `start()` again after `kill()` reuses the port.
 */
export class ThrowawayRedis {
  private child?: import('node:child_process').ChildProcess;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--enable-debug-command',
        'yes',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) =>
        reject(new Error(`cannot start redis-server (is it installed?): ${error.message}`)),
      );
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    });
    failed.catch(() => undefined);
    const end = Date.now() + 5_000;
    for (;;) {
      reachable.delete(`127.0.0.1:${this.port}`);
      const up = await Promise.race([this.answers(), failed]);
      if (up) return;
      if (Date.now() > end) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills the server at once (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  private async answers(): Promise<boolean> {
    const { connect } = await import('node:net');
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }
}

/**
 * Chromium for the browser tests (playwright-core drives the system package; no browser is
 * ever downloaded). `CHROMIUM_PATH` overrides the path.
 */
export const CHROMIUM = {
  name: 'Chromium',
  path: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  install: 'sudo apt-get install -y chromium',
  /** Headless flags; without the background-networking ones Chromium stalls when offline. */
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

/**
 * `describe` for a suite that drives Chromium: skipped with a message when it is not
 * installed, failing the run under CI=true (like `describeWithService`).
 */
export function describeWithChromium(title: string, fn: () => void): void {
  let found = true;
  try {
    accessSync(CHROMIUM.path, fsConstants.X_OK);
  } catch {
    found = false;
  }
  if (found) return describe(title, fn);
  const message = `Chromium is not installed at ${CHROMIUM.path}. Install it with: ${CHROMIUM.install}`;
  if (process.env.CI === 'true')
    throw new Error(`${message} (CI=true: a missing browser fails the run)`);
  console.warn(`Skipping the browser tests: ${message}`);
  describe.skip(`${title} (Chromium not installed at ${CHROMIUM.path})`, fn);
}
