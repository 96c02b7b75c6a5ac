import { Injectable, ModuleMetadata } from '@nestjs/common';
import {
  Bulkhead,
  Chaos,
  CircuitBreaker,
  DeadLetter,
  Fallback,
  RateLimit,
  ResilienceConfigError,
  ResilienceModule,
  ResilienceModuleOptions,
  Retry,
  Timeout,
  UsePolicy,
} from '../../lib';
import { BULKHEAD_OPTION_KEYS } from '../../lib/bulkhead/bulkhead.options';
import { CHAOS_MODULE_OPTION_KEYS, CHAOS_OPTION_KEYS } from '../../lib/chaos/chaos.options';
import { CIRCUIT_BREAKER_OPTION_KEYS } from '../../lib/circuit-breaker/circuit-breaker.options';
import {
  DEAD_LETTER_BUFFER_OPTION_KEYS,
  DEAD_LETTER_OPTION_KEYS,
} from '../../lib/dead-letter/dead-letter.options';
import { KIND_KEYS, MODULE_KEYS, POLICY_KEYS } from '../../lib/module/resolve-options';
import { RATE_LIMITER_OPTION_KEYS } from '../../lib/rate-limit/rate-limiter.options';
import { RETRY_OPTION_KEYS } from '../../lib/retry/retry.options';
import { SLO_OPTION_KEYS } from '../../lib/slo/slo.options';
import { TIMEOUT_OPTION_KEYS } from '../../lib/timeout/timeout.options';
import { useTestApps } from '../fixtures/testing-app';

/*
 * Every option of every decorator and of the module, tried with wrong types, negatives, NaN,
 * Infinity, out-of-range values and unknown keys: each must fail bootstrap with a
 * ResilienceConfigError whose `key` (and message) names the offending option. The last
 * describe compares the table with the keys the validators know, so an option added without
 * a row here fails this file.
 */

const ABOVE_TIMER_LIMIT = 2 ** 31; // one more than a Node timer can wait

// bad values per kind of check (lib/common/validate.ts)
const POSITIVE_INT = [0, -1, 2.5, NaN, Infinity, '3', null, true];
const NON_NEGATIVE_INT = [-1, 1.5, NaN, Infinity, '2', null];
const DURATION = [-1, NaN, Infinity, -Infinity, ABOVE_TIMER_LIMIT, '100', null];
const POSITIVE_DURATION = [0, ...DURATION];
const PERCENT = [0, -5, 100.5, 150, NaN, Infinity, '50', null];
const RATIO = [0, -0.5, 1.5, NaN, Infinity, '0.8', null];
const RATE = [-0.1, 1.5, NaN, Infinity, '0.5', null];
const AT_LEAST_ONE = [0.5, 0, -2, NaN, Infinity, '2', null];
const FN = ['yes', 1, {}, null];
const BOOL = ['yes', 1, 0, null];
const OBJECT = ['x', 5, [], null, true];
const oneOfBad = (...near: string[]) => [...near, 1, null, true];

/** Option key (dotted when nested) → bad values, and a base the value is set into. */
type KeyTable = Record<string, { bad: unknown[]; base?: Record<string, unknown> }>;

const CIRCUIT_BREAKER: KeyTable = {
  failureThreshold: { bad: POSITIVE_INT },
  successThreshold: { bad: POSITIVE_INT },
  resetTimeout: { bad: POSITIVE_DURATION },
  halfOpenMaxCalls: { bad: POSITIVE_INT },
  failureRateThreshold: { bad: PERCENT },
  slowCallRateThreshold: { bad: PERCENT },
  slowCallDuration: { bad: POSITIVE_DURATION },
  minimumCalls: { bad: POSITIVE_INT },
  slidingWindow: { bad: OBJECT },
  'slidingWindow.type': { bad: oneOfBad('sliding', 'COUNT', '') },
  'slidingWindow.size': {
    bad: [0, -1, 2.5, NaN, Infinity, '10', null],
    base: { slidingWindow: { type: 'count' } },
  },
  isFailure: { bad: FN },
  shared: { bad: BOOL },
};

const RETRY: KeyTable = {
  maxAttempts: { bad: POSITIVE_INT },
  retryOn: { bad: FN },
  backoff: { bad: OBJECT },
  'backoff.type': { bad: oneOfBad('random', 'Fixed') },
  'backoff.initialDelay': { bad: DURATION },
  'backoff.maxDelay': { bad: DURATION },
  'backoff.multiplier': { bad: AT_LEAST_ONE },
  'backoff.jitter': { bad: oneOfBad('random', 'FULL') },
};

const TIMEOUT: KeyTable = { timeout: { bad: POSITIVE_DURATION } };

const BULKHEAD: KeyTable = {
  maxConcurrent: { bad: POSITIVE_INT },
  maxQueue: { bad: NON_NEGATIVE_INT },
  queueTimeout: { bad: DURATION },
  overflow: { bad: oneOfBad('drop-newest', 'REJECT') },
  warningThreshold: { bad: RATIO },
  key: { bad: FN },
  maxKeys: { bad: POSITIVE_INT },
};

const RATE_LIMITER: KeyTable = {
  limit: { bad: POSITIVE_INT },
  interval: { bad: POSITIVE_DURATION },
  maxWait: { bad: DURATION },
};

const DEAD_LETTER: KeyTable = { swallow: { bad: BOOL }, serializeArgs: { bad: FN } };

const CHAOS: KeyTable = {
  rate: { bad: RATE },
  fault: { bad: FN },
  latency: { bad: DURATION },
  result: { bad: FN },
  enabled: { bad: BOOL },
};

/** Each decorator kind: how to apply its options, and a valid base to set bad values into. */
interface Kind {
  table: KeyTable;
  known: readonly string[];
  base: Record<string, unknown>;
  decorate(options: Record<string, unknown>): MethodDecorator;
  /** A misspelling of one of its keys. */
  typo: string;
}

const KINDS: Record<string, Kind> = {
  circuitBreaker: {
    table: CIRCUIT_BREAKER,
    known: CIRCUIT_BREAKER_OPTION_KEYS,
    base: {},
    decorate: (o) => CircuitBreaker(o),
    typo: 'failureTreshold',
  },
  retry: {
    table: RETRY,
    known: RETRY_OPTION_KEYS,
    base: {},
    decorate: (o) => Retry(o),
    typo: 'maxAtempts',
  },
  timeout: {
    table: TIMEOUT,
    known: TIMEOUT_OPTION_KEYS,
    base: { timeout: 100 },
    decorate: (o) => Timeout(o),
    typo: 'timout',
  },
  bulkhead: {
    table: BULKHEAD,
    known: BULKHEAD_OPTION_KEYS,
    base: {},
    decorate: (o) => Bulkhead(o),
    typo: 'maxConcurent',
  },
  rateLimiter: {
    table: RATE_LIMITER,
    known: RATE_LIMITER_OPTION_KEYS,
    base: { limit: 5, interval: 1_000 },
    decorate: (o) => RateLimit(o),
    typo: 'limt',
  },
  deadLetter: {
    table: DEAD_LETTER,
    known: DEAD_LETTER_OPTION_KEYS,
    base: {},
    decorate: (o) => DeadLetter(o),
    typo: 'swalow',
  },
  chaos: {
    table: CHAOS,
    known: CHAOS_OPTION_KEYS,
    base: { rate: 0.5, latency: 1 },
    decorate: (o) => Chaos(o as never),
    typo: 'latancy',
  },
};

/** Module options: top-level keys and the keys of the nested option objects. */
const MODULE: KeyTable = {
  defaults: { bad: ['x', 5, [], null] },
  policies: { bad: ['x', 5, [], null] },
  clock: {
    bad: [{}, 5, 'now', null, { now: 5 }, { now: () => 0, setTimeout: () => 1 }],
  },
  isGlobal: { bad: BOOL },
  httpErrors: { bad: BOOL },
  serializeArgs: { bad: FN },
  shutdownTimeout: { bad: DURATION },
  deadLetterQueue: { bad: [{}, 'x', 5, null, { publish: 'yes' }] },
  deadLetterBuffer: { bad: OBJECT },
  'deadLetterBuffer.capacity': { bad: POSITIVE_INT },
  'deadLetterBuffer.publishTimeout': { bad: POSITIVE_DURATION },
  'deadLetterBuffer.initialDelay': { bad: POSITIVE_DURATION },
  'deadLetterBuffer.maxDelay': { bad: POSITIVE_DURATION },
  'deadLetterBuffer.multiplier': { bad: AT_LEAST_ONE },
  stateStore: { bad: [{}, 5, 'redis', null, { connect: () => undefined }] },
  chaos: { bad: OBJECT },
  'chaos.enabled': { bad: BOOL },
  'chaos.random': { bad: FN },
  slo: { bad: OBJECT },
};

/** The options of one entry of the module option `slo` (checked as `slo.<name>.<key>`). */
const SLO: KeyTable = {
  target: { bad: [0, 1, -0.5, 1.5, NaN, Infinity, '0.99', null] },
  window: { bad: [0, -1, NaN, Infinity, -Infinity, '60000', null] },
  minimumCalls: { bad: POSITIVE_INT },
  openCircuitBreaker: { bad: BOOL },
};
const SLO_BASE = { target: 0.99, window: 60_000 };

/** Keys read when the module is registered: a forRootAsync factory cannot set them. */
const REGISTRATION_KEYS = new Set(['isGlobal', 'httpErrors']);

// ---------------------------------------------------------------------------------------------

interface Row {
  /** What the row tries, for the test name. */
  label: string;
  build(): ModuleMetadata;
  /** The key the error must name. */
  key: string;
  /** What the message must contain; default: the key in quotes. */
  mentions?: string;
}

const show = (value: unknown): string => {
  if (typeof value === 'number' || value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  return JSON.stringify(value);
};

/** `{ ...base }` with `value` set at the dotted `path` (nested objects copied, not shared). */
function setPath(base: Record<string, unknown>, path: string, value: unknown) {
  const copy = structuredClone(base);
  const parts = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node[part] = typeof next === 'object' && next !== null ? next : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
  return copy;
}

/** A fresh provider class with `decorator` on its method (errors at definition time surface). */
function providerWith(...decorators: MethodDecorator[]) {
  @Injectable()
  class Target {
    async call(): Promise<string> {
      return 'ok';
    }
    cached(): string {
      return 'cached';
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(Target.prototype, 'call')!;
  for (const decorate of decorators) {
    const result = decorate(Target.prototype, 'call', descriptor);
    if (result) Object.assign(descriptor, result);
  }
  Object.defineProperty(Target.prototype, 'call', descriptor);
  return Target;
}

const withModule = (options: ResilienceModuleOptions, ...decorators: MethodDecorator[]) => ({
  imports: [ResilienceModule.forRoot(options)],
  providers: [providerWith(...decorators)],
});

const withAsyncModule = (options: ResilienceModuleOptions) => ({
  imports: [ResilienceModule.forRootAsync({ useFactory: async () => options })],
  providers: [providerWith(Retry())],
});

const decoratorRows: Row[] = Object.entries(KINDS).flatMap(([kind, spec]) => [
  ...Object.entries(spec.table).flatMap(([key, { bad, base }]) =>
    bad.map((value) => {
      const options = setPath({ ...spec.base, ...base }, key, value);
      return {
        label: `@${kind} ${key}: ${show(value)}`,
        build: () => withModule({}, spec.decorate(options)),
        key,
      };
    }),
  ),
  {
    label: `@${kind} unknown key ${spec.typo}`,
    build: () => withModule({}, spec.decorate({ ...spec.base, [spec.typo]: 1 })),
    key: spec.typo,
  },
]);

/** Each option of each kind once more through `defaults` and once through a policy set. */
const moduleKindRows: Row[] = Object.entries(KINDS).flatMap(([kind, spec]) =>
  Object.entries(spec.table).flatMap(([key, { bad, base }]) => {
    const options = setPath({ ...spec.base, ...base }, key, bad[0]);
    const rows: Row[] = [
      {
        label: `policies.set.${kind}.${key}: ${show(bad[0])} (forRootAsync)`,
        build: () => withAsyncModule({ policies: { set: { [kind]: options } } }),
        key,
      },
    ];
    if ((KIND_KEYS as readonly string[]).includes(kind)) {
      rows.push({
        label: `defaults.${kind}.${key}: ${show(bad[0])}`,
        build: () => withModule({ defaults: { [kind]: options } }, Retry()),
        key,
      });
    }
    return rows;
  }),
);

const moduleRows: Row[] = [
  ...Object.entries(MODULE).flatMap(([key, { bad }]) =>
    bad.flatMap((value): Row[] => {
      const options = setPath({}, key, value) as ResilienceModuleOptions;
      const viaFactory = REGISTRATION_KEYS.has(key)
        ? // read at registration: next to the factory, and refused from inside it
          [
            {
              label: `forRootAsync({ ${key}: ${show(value)}, useFactory })`,
              build: () => ({
                imports: [
                  ResilienceModule.forRootAsync({ ...options, useFactory: () => ({}) } as never),
                ],
              }),
              key,
            },
            {
              label: `forRootAsync factory returning ${key}: ${show(value)}`,
              build: () => withAsyncModule(options),
              key,
            },
          ]
        : [
            {
              label: `forRootAsync factory returning ${key}: ${show(value)}`,
              build: () => withAsyncModule(options),
              key,
            },
          ];
      return [
        { label: `forRoot ${key}: ${show(value)}`, build: () => withModule(options), key },
        ...viaFactory,
      ];
    }),
  ),
  // unknown keys, at every level of the module options
  ...(
    [
      ['shutdownTimout', { shutdownTimout: 100 }],
      ['retrys', { defaults: { retrys: {} } }],
      ['circuitbreaker', { policies: { set: { circuitbreaker: {} } } }],
      ['deadLetterBuffer.capacty', { deadLetterBuffer: { capacty: 5 } }],
      ['chaos.enabeld', { chaos: { enabeld: true } }],
    ] as Array<[string, object]>
  ).flatMap(([key, options]) => [
    { label: `forRoot unknown key ${key}`, build: () => withModule(options as never), key },
    {
      label: `forRootAsync unknown key ${key}`,
      build: () => withAsyncModule(options as never),
      key,
    },
  ]),
  // each kind of a policy set, and of the defaults, given something that is not options
  ...(POLICY_KEYS as readonly string[]).map((kind) => ({
    label: `policies.set.${kind}: 5`,
    build: () => withModule({ policies: { set: { [kind]: 5 } } } as never),
    key: kind,
  })),
  ...(KIND_KEYS as readonly string[]).map((kind) => ({
    label: `defaults.${kind}: 'x'`,
    build: () => withModule({ defaults: { [kind]: 'x' } } as never),
    key: kind,
  })),
];

/** Values that each check alone accepts, but not together with another option. */
const crossFieldRows: Row[] = [
  {
    label: '@CircuitBreaker minimumCalls above the count window in rate mode',
    build: () =>
      withModule(
        {},
        CircuitBreaker({
          failureRateThreshold: 50,
          minimumCalls: 20,
          slidingWindow: { type: 'count', size: 10 },
        }),
      ),
    key: 'minimumCalls',
  },
  {
    label: '@CircuitBreaker slidingWindow without type',
    build: () => withModule({}, CircuitBreaker({ slidingWindow: { size: 10 } as never })),
    key: 'slidingWindow.type',
  },
  {
    label: '@CircuitBreaker time window size above the timer limit',
    build: () =>
      withModule({}, CircuitBreaker({ slidingWindow: { type: 'time', size: ABOVE_TIMER_LIMIT } })),
    key: 'slidingWindow.size',
  },
  {
    label: '@CircuitBreaker shared: true without a stateStore',
    build: () => withModule({}, CircuitBreaker({ shared: true })),
    key: 'shared',
  },
  {
    label: '@Retry backoff.maxDelay below backoff.initialDelay',
    build: () => withModule({}, Retry({ backoff: { initialDelay: 500, maxDelay: 100 } })),
    key: 'backoff.maxDelay',
  },
  {
    label: '@Retry backoff.initialDelay above the default maxDelay',
    build: () => withModule({}, Retry({ backoff: { initialDelay: 60_000 } })),
    key: 'backoff.initialDelay',
  },
  {
    label: '@Timeout(NaN) (bare number form)',
    build: () => withModule({}, Timeout(NaN)),
    key: 'timeout',
  },
  {
    label: '@Timeout(-1) (bare number form)',
    build: () => withModule({}, Timeout(-1)),
    key: 'timeout',
  },
  {
    label: '@Timeout({}) without timeout',
    build: () => withModule({}, Timeout({})),
    key: 'timeout',
  },
  {
    label: '@RateLimit without limit',
    build: () => withModule({}, RateLimit({ interval: 1_000 })),
    key: 'limit',
  },
  {
    label: '@RateLimit without interval',
    build: () => withModule({}, RateLimit({ limit: 5 })),
    key: 'interval',
  },
  {
    label: '@Chaos without rate',
    build: () => withModule({}, Chaos({ latency: 5 } as never)),
    key: 'rate',
  },
  {
    label: '@Chaos with both fault and result',
    build: () => withModule({}, Chaos({ rate: 1, fault: () => new Error('x'), result: () => 'y' })),
    key: 'result',
  },
  {
    label: '@Chaos with nothing to inject',
    build: () => withModule({}, Chaos({ rate: 1 })),
    key: 'fault',
  },
  {
    label: 'deadLetterBuffer.maxDelay below deadLetterBuffer.initialDelay',
    build: () => withModule({ deadLetterBuffer: { initialDelay: 5_000, maxDelay: 1_000 } }),
    key: 'deadLetterBuffer.maxDelay',
  },
  {
    label: 'defaults that make a decorator option invalid once merged',
    build: () =>
      withModule(
        { defaults: { retry: { backoff: { maxDelay: 500 } } } },
        Retry({ backoff: { initialDelay: 1_000 } }),
      ),
    key: 'backoff.maxDelay',
  },
];

/** Decorator arguments that are not options at all, and references that do not resolve. */
const argumentRows: Row[] = [
  ...[
    ['@CircuitBreaker(5)', () => CircuitBreaker(5 as never)],
    ['@Retry(true)', () => Retry(true as never)],
    ['@Bulkhead(null)', () => Bulkhead(null as never)],
    ['@RateLimit(7)', () => RateLimit(7 as never)],
    ['@Timeout(true)', () => Timeout(true as never)],
    ["@DeadLetter('x')", () => DeadLetter('x' as never)],
    ['@Chaos(3)', () => Chaos(3 as never)],
  ].map(([label, decorator]) => ({
    label: label as string,
    build: () => withModule({}, (decorator as () => MethodDecorator)()),
    key: 'options',
    // @DeadLetter takes no name, so its options are checked with the others at bootstrap
    mentions: label === "@DeadLetter('x')" ? '"options"' : (label as string).split('(')[0],
  })),
  ...[
    ["@CircuitBreaker('')", () => CircuitBreaker('')],
    ["@Retry('')", () => Retry('')],
    ["@UsePolicy('')", () => UsePolicy('')],
    ['@UsePolicy(5)', () => UsePolicy(5 as never)],
  ].map(([label, decorator]) => ({
    label: label as string,
    build: () => withModule({}, (decorator as () => MethodDecorator)()),
    key: 'name',
    mentions: (label as string).split('(')[0],
  })),
  {
    label: "@UsePolicy('nope') with no such set",
    build: () => withModule({ policies: { set: {} } }, UsePolicy('nope')),
    key: 'policy',
    mentions: '"nope"',
  },
  {
    label: '@Fallback(5)',
    build: () => withModule({}, Fallback(5 as never)),
    key: 'fallback',
    mentions: '@Fallback',
  },
  {
    label: "@Fallback('missing') naming no method",
    build: () => withModule({}, Fallback('missing')),
    key: 'fallback',
    mentions: '"missing"',
  },
  {
    label: "policies.set.fallback: 'missing' applied with @UsePolicy",
    build: () => withModule({ policies: { set: { fallback: 'missing' } } }, UsePolicy('set')),
    key: 'fallback',
    mentions: '"missing"',
  },
  {
    label: 'policies.set: 5 (a set that is not an object)',
    build: () => withModule({ policies: { set: 5 } } as never),
    key: 'policies.set',
    mentions: 'policy set',
  },
];

/** `slo.<name>.<key>`: each bad value through forRoot and forRootAsync, then whole entries. */
const sloRows: Row[] = [
  ...Object.entries(SLO).flatMap(([key, { bad }]) =>
    bad.flatMap((value): Row[] => {
      const options = { slo: { api: setPath(SLO_BASE, key, value) } } as never;
      return [
        {
          label: `slo.api.${key}: ${show(value)}`,
          build: () => withModule(options),
          key: `slo.api.${key}`,
        },
        {
          label: `forRootAsync factory returning slo.api.${key}: ${show(value)}`,
          build: () => withAsyncModule(options),
          key: `slo.api.${key}`,
        },
      ];
    }),
  ),
  ...(
    [
      ['slo.api', { slo: { api: 5 } }],
      ['slo.api', { slo: { api: null } }],
      ['slo.api.traget', { slo: { api: { ...SLO_BASE, traget: 0.9 } } }],
      ['slo.api.target', { slo: { api: { window: 60_000 } } }],
      ['slo.api.window', { slo: { api: { target: 0.99 } } }],
    ] as Array<[string, object]>
  ).map(([key, options]) => ({
    label: `${key} in ${JSON.stringify(options)}`,
    build: () => withModule(options as never),
    key,
  })),
  {
    label: 'slo for a name no method or policy set has',
    build: () => withModule({ slo: { 'Target.cal': SLO_BASE } }, Retry()),
    key: 'slo.Target.cal',
  },
  {
    label: 'slo.Target.call.openCircuitBreaker without a breaker of that name',
    build: () =>
      withModule({ slo: { 'Target.call': { ...SLO_BASE, openCircuitBreaker: true } } }, Retry()),
    key: 'slo.Target.call.openCircuitBreaker',
  },
];

const ROWS = [
  ...decoratorRows,
  ...moduleKindRows,
  ...moduleRows,
  ...crossFieldRows,
  ...argumentRows,
  ...sloRows,
];

describe('bad input fails bootstrap with a ResilienceConfigError naming the option', () => {
  const apps = useTestApps();

  /** The error that defining the classes, compile() or init() threw. */
  async function bootstrapError(row: Row): Promise<unknown> {
    try {
      const app = await apps.compile(row.build());
      await app.init();
    } catch (error) {
      return error;
    }
    throw new Error(`bootstrap succeeded with ${row.label}`);
  }

  it.each(ROWS.map((row) => [row.label, row] as const))('%s', async (_label, row) => {
    const error = await bootstrapError(row);
    expect(error).toBeInstanceOf(ResilienceConfigError);
    const { key, message } = error as ResilienceConfigError;
    expect({ key, message }).toEqual({ key: row.key, message: expect.any(String) });
    expect(message).toContain(row.mentions ?? `"${row.key}"`);
  });
});

describe('the bad-input table covers every option the validators know', () => {
  const dotted = (prefix: string, keys: readonly string[]) => keys.map((k) => `${prefix}${k}`);

  it.each(Object.entries(KINDS))(
    '%s: one row per known key, and no row for an unknown one',
    (_kind, spec) => {
      expect(Object.keys(spec.table).sort()).toEqual([...spec.known].sort());
    },
  );

  it('module options: top-level keys, deadLetterBuffer.*, chaos.*', () => {
    const known = [
      ...MODULE_KEYS,
      ...dotted('deadLetterBuffer.', DEAD_LETTER_BUFFER_OPTION_KEYS),
      ...dotted('chaos.', CHAOS_MODULE_OPTION_KEYS),
    ];
    expect(Object.keys(MODULE).sort()).toEqual(known.sort());
  });

  it('slo.<name>.*: one row per known key, and no row for an unknown one', () => {
    expect(Object.keys(SLO).sort()).toEqual([...SLO_OPTION_KEYS].sort());
  });

  it('every kind a policy set or the defaults take has a row', () => {
    const labels = ROWS.map((row) => row.label);
    for (const kind of POLICY_KEYS) expect(labels).toContain(`policies.set.${kind}: 5`);
    for (const kind of KIND_KEYS) expect(labels).toContain(`defaults.${kind}: 'x'`);
    for (const kind of Object.keys(KINDS)) {
      expect((POLICY_KEYS as readonly string[]).includes(kind)).toBe(true);
    }
  });
});
