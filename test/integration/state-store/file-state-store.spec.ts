import { Injectable, Logger } from '@nestjs/common';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CircuitBreaker,
  CircuitOpenError,
  FileCircuitStateStore,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceRegistry,
} from '../../../lib';
import { rejectionOf, useTestApps } from '../../fixtures/testing-app';
import { FakeClock } from '../../utils/fake-clock';

@Injectable()
class SharedWithoutStore {
  @CircuitBreaker({ shared: true })
  async call(): Promise<string> {
    return 'ok';
  }
}

const T0 = 1_700_000_000_000;
const policies = { gateway: { circuitBreaker: { failureThreshold: 1, resetTimeout: 60_000 } } };
const fails = () => Promise.reject(new Error('upstream down'));
const succeeds = () => Promise.resolve('ok');

describe('FileCircuitStateStore', () => {
  const apps = useTestApps();
  let dir: string;
  let file: string;
  let warn: jest.SpyInstance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'circuit-state-'));
    file = join(dir, 'state', 'circuits.json');
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One run of the application, at `time` on its own fake clock. */
  async function start(time: number, path = file) {
    const clock = new FakeClock(time);
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({ stateStore: new FileCircuitStateStore(path), policies, clock }),
      ],
    });
    const registry = app.get(ResilienceRegistry);
    return { app, clock, registry, gateway: registry.policy('gateway')! };
  }

  it('an open circuit is still open after a restart, until its resetTimeout has run out', async () => {
    const first = await start(T0);
    await expect(first.gateway.execute(fails)).rejects.toThrow('upstream down');
    expect(first.registry.circuitBreaker('gateway')!.state).toBe('open');
    await apps.close(first.app);

    const second = await start(T0 + 30_000);
    const breaker = second.registry.circuitBreaker('gateway')!;
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfter).toBe(30_000);
    const error = await rejectionOf(second.gateway.execute(succeeds));
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error.retryAfter).toBe(30_000);

    await second.clock.advance(29_999);
    expect(breaker.state).toBe('open');
    await second.clock.advance(1);
    expect(breaker.state).toBe('half-open');
    await expect(second.gateway.execute(succeeds)).resolves.toBe('ok');
  });

  it('a circuit whose resetTimeout ran out while the application was down starts half-open', async () => {
    const first = await start(T0);
    await expect(first.gateway.execute(fails)).rejects.toThrow();
    await apps.close(first.app);

    const second = await start(T0 + 61_000);
    const breaker = second.registry.circuitBreaker('gateway')!;
    expect(breaker.state).toBe('half-open');
    expect(breaker.stats().stateChangedAt).toBe(T0 + 60_000);
  });

  it('a circuit closed again before the restart starts closed', async () => {
    const first = await start(T0);
    await expect(first.gateway.execute(fails)).rejects.toThrow();
    first.registry.circuitBreaker('gateway')!.close();
    await apps.close(first.app);

    const second = await start(T0 + 1_000);
    expect(second.registry.circuitBreaker('gateway')!.state).toBe('closed');
    await expect(second.gateway.execute(succeeds)).resolves.toBe('ok');
  });

  it('writes the file atomically: valid JSON, no temporary file left behind', async () => {
    const first = await start(T0);
    await expect(first.gateway.execute(fails)).rejects.toThrow();
    first.registry.circuitBreaker('gateway')!.close();
    expect(readdirSync(join(dir, 'state'))).toEqual(['circuits.json']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      version: 1,
      circuits: { gateway: { state: 'closed', openedAt: T0, stateChangedAt: T0 } },
    });
  });

  it('a corrupt file is reported with a warning and ignored, then replaced on the next change', async () => {
    mkdirSync(join(dir, 'state'));
    writeFileSync(file, '{"version": 1, "circuits": {"gateway": {"state": "ope');
    const first = await start(T0);
    expect(first.registry.circuitBreaker('gateway')!.state).toBe('closed');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/circuits\.json is not a valid circuit state file/);

    await expect(first.gateway.execute(fails)).rejects.toThrow();
    expect(JSON.parse(readFileSync(file, 'utf8')).circuits.gateway.state).toBe('open');
  });

  it('a breaker named like an object property finds no stored state it does not have', async () => {
    const clock = new FakeClock(T0);
    const app = await apps.start({
      imports: [
        ResilienceModule.forRoot({
          stateStore: new FileCircuitStateStore(file),
          policies: { constructor: { circuitBreaker: {} }, toString: { circuitBreaker: {} } },
          clock,
        }),
      ],
    });
    const registry = app.get(ResilienceRegistry);
    expect(registry.policy('constructor')).toBeDefined();
    expect(registry.policy('toString')).toBeDefined();
    expect(registry.circuitBreaker('constructor')!.state).toBe('closed');
    expect(warn).not.toHaveBeenCalled();
  });

  it('a file with a malformed entry is ignored as a whole', async () => {
    mkdirSync(join(dir, 'state'));
    writeFileSync(
      file,
      JSON.stringify({ version: 1, circuits: { gateway: { state: 'opened', openedAt: T0 } } }),
    );
    const first = await start(T0);
    expect(first.registry.circuitBreaker('gateway')!.state).toBe('closed');
    expect(warn.mock.calls[0][0]).toMatch(/entry of circuit "gateway" is malformed/);
  });

  it('a file that cannot be written is reported once; the breaker keeps working', async () => {
    mkdirSync(file, { recursive: true }); // a folder where the file should be
    const first = await start(T0);
    const breaker = first.registry.circuitBreaker('gateway')!;
    expect(warn.mock.calls[0][0]).toMatch(/cannot read/);
    await expect(first.gateway.execute(fails)).rejects.toThrow();
    expect(breaker.state).toBe('open');
    breaker.close();
    breaker.open();
    const writeWarnings = warn.mock.calls.filter(([m]) => /cannot write/.test(String(m)));
    expect(writeWarnings).toHaveLength(1);
    expect(readdirSync(file)).toEqual([]); // no temporary files left either
  });
});

describe('state store configuration', () => {
  const apps = useTestApps();

  it('shared: true without a stateStore fails bootstrap, naming the key (policy sets)', async () => {
    const error = await rejectionOf(
      apps.start({
        imports: [
          ResilienceModule.forRoot({
            policies: { lonely: { circuitBreaker: { shared: true } } },
          }),
        ],
      }),
    );
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error).toMatchObject({ policyName: 'lonely', key: 'shared' });
    expect(error.message).toMatch(/stateStore/);
  });

  it('shared: true without a stateStore fails bootstrap (decorators)', async () => {
    const app = await apps.compile({
      imports: [ResilienceModule.forRoot()],
      providers: [SharedWithoutStore],
    });
    const error = await rejectionOf(app.init());
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error).toMatchObject({ policyName: 'SharedWithoutStore.call', key: 'shared' });
  });

  it('a stateStore that is not a store fails bootstrap', async () => {
    const error = await rejectionOf(
      apps.start({
        imports: [ResilienceModule.forRoot({ stateStore: { save() {} } as never })],
      }),
    );
    expect(error).toBeInstanceOf(ResilienceConfigError);
    expect(error).toMatchObject({ key: 'stateStore' });
  });

  it('one store object cannot serve two applications', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'circuit-state-'));
    try {
      const store = new FileCircuitStateStore(join(dir, 'state.json'));
      await apps.start({ imports: [ResilienceModule.forRoot({ stateStore: store })] });
      const error = await rejectionOf(
        apps.start({ imports: [ResilienceModule.forRoot({ stateStore: store })] }),
      );
      expect(error).toBeInstanceOf(ResilienceConfigError);
      expect(error.message).toMatch(/one store object per application/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('FileCircuitStateStore needs a path', () => {
    expect(() => new FileCircuitStateStore('')).toThrow(ResilienceConfigError);
  });
});
