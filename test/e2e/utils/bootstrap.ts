import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test, TestingModuleBuilder } from '@nestjs/testing';

export type AdapterName = 'express' | 'fastify';

/** Every e2e suite runs once per HTTP adapter. */
export const ADAPTERS: AdapterName[] = ['express', 'fastify'];

export interface BootstrapOptions {
  /** Runs before the module is compiled: `overrideProvider(…)`, … */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** Runs after the app is created, before `listen()`: global filters, pipes, … */
  configure?: (app: INestApplication) => void;
}

/**
 * Builds an application around `module` on the chosen adapter and listens on an
 * ephemeral port of 127.0.0.1. A failure after creation closes the app before rethrowing.
 */
export async function bootstrapTestingModule(
  adapter: AdapterName,
  module: Type | DynamicModule,
  options: BootstrapOptions = {},
): Promise<INestApplication> {
  const builder = Test.createTestingModule({ imports: [module] });
  const moduleRef = await (options.override?.(builder) ?? builder).compile();
  const httpAdapter = adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app = moduleRef.createNestApplication(httpAdapter, { logger: false });
  try {
    options.configure?.(app);
    await app.listen(0, '127.0.0.1');
    return app;
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Tracks the apps a suite starts and closes them all after each test, whether the
 * test passed or not, so a failing `expect` never leaves a server listening.
 */
export function useApps() {
  const open: INestApplication[] = [];
  afterEach(async () => {
    const results = await Promise.allSettled(open.splice(0).map((app) => app.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  return {
    async start(
      adapter: AdapterName,
      module: Type | DynamicModule,
      options?: BootstrapOptions,
    ): Promise<INestApplication> {
      const app = await bootstrapTestingModule(adapter, module, options);
      open.push(app);
      return app;
    },
    /** Closes `app` now (and stops tracking it), for tests about shutdown. */
    async close(app: INestApplication): Promise<void> {
      const index = open.indexOf(app);
      if (index >= 0) open.splice(index, 1);
      await app.close();
    },
  };
}

/** Polls `probe` until it returns true, failing after `timeout` ms. */
export async function waitFor(
  probe: () => boolean | Promise<boolean>,
  { timeout = 3_000, interval = 20, what = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
