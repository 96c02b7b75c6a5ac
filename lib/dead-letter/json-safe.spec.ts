import { toJsonSafe } from './json-safe';

/** What a reader of the JSON gets back. */
const roundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

class Customer {
  secret = 's3cr3t';
  constructor(
    readonly id: string,
    readonly since: Date,
  ) {}
  greet(): string {
    return `hi ${this.id}`;
  }
}

describe('toJsonSafe', () => {
  it('keeps plain JSON values as they are', () => {
    const value = { a: 1, b: 'x', c: true, d: null, e: [1, 'two', { f: false }] };
    expect(toJsonSafe(value)).toEqual(value);
  });

  it('turns every awkward value into plain JSON that round-trips', () => {
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    const list: unknown[] = [1];
    list.push(list);
    const cause = new TypeError('root cause');
    const error = Object.assign(new Error('outer', { cause }), { code: 'E_UPSTREAM' });
    const input = {
      circular,
      list,
      big: 12345678901234567890n,
      buffer: Buffer.from('hello'),
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float64Array([1.5, NaN, -0]),
      bigInts: new BigInt64Array([5n]),
      arrayBuffer: new Uint8Array([255, 0]).buffer,
      view: new DataView(new Uint8Array([7]).buffer),
      error,
      date: new Date('2026-01-02T03:04:05.000Z'),
      invalidDate: new Date('nope'),
      map: new Map<unknown, unknown>([
        ['k', 1],
        [{ o: 1 }, new Set([1])],
      ]),
      set: new Set(['a', 'b']),
      fn: function namedFunction() {},
      arrow: () => 1,
      symbol: Symbol('marker'),
      undef: undefined,
      arrayWithHoles: [undefined, 1],
      numbers: [NaN, Infinity, -Infinity, -0],
      instance: new Customer('c1', new Date(0)),
      nullProto: Object.assign(Object.create(null) as object, { x: 1 }),
      withToJSON: { toJSON: () => ({ replaced: 1n }) },
      regexp: /ab+c/gi,
      boxed: new String('boxed'),
      promise: Promise.resolve(1),
      weak: new WeakMap(),
    };
    const safe = toJsonSafe(input);
    expect(roundTrip(safe)).toEqual(safe);
    expect(safe).toEqual({
      circular: { name: 'loop', self: '[Circular]' },
      list: [1, '[Circular]'],
      big: '12345678901234567890n',
      buffer: { type: 'Buffer', base64: Buffer.from('hello').toString('base64') },
      bytes: { type: 'Uint8Array', base64: 'AQID' },
      floats: { type: 'Float64Array', values: [1.5, 'NaN', 0] },
      bigInts: { type: 'BigInt64Array', values: ['5n'] },
      arrayBuffer: { type: 'ArrayBuffer', base64: '/wA=' },
      view: { type: 'DataView', base64: 'Bw==' },
      error: {
        name: 'Error',
        message: 'outer',
        stack: error.stack,
        cause: { name: 'TypeError', message: 'root cause', stack: cause.stack },
        code: 'E_UPSTREAM',
      },
      date: '2026-01-02T03:04:05.000Z',
      invalidDate: 'Invalid Date',
      map: {
        type: 'Map',
        entries: [
          ['k', 1],
          [{ o: 1 }, { type: 'Set', values: [1] }],
        ],
      },
      set: { type: 'Set', values: ['a', 'b'] },
      fn: '[Function namedFunction]',
      arrow: '[Function arrow]',
      symbol: 'Symbol(marker)',
      arrayWithHoles: [null, 1],
      numbers: ['NaN', 'Infinity', '-Infinity', 0],
      instance: { secret: 's3cr3t', id: 'c1', since: '1970-01-01T00:00:00.000Z' },
      nullProto: { x: 1 },
      withToJSON: { replaced: '1n' },
      regexp: '/ab+c/gi',
      boxed: 'boxed',
      promise: '[Promise]',
      weak: '[WeakMap]',
    });
  });

  it('writes an object reached twice without a cycle twice', () => {
    const shared = { n: 1 };
    expect(toJsonSafe([shared, { again: shared }])).toEqual([{ n: 1 }, { again: { n: 1 } }]);
  });

  it('replaces values it cannot read, and nesting that is too deep', () => {
    const hostile = {
      get boom(): never {
        throw new Error('no access');
      },
      fine: 1,
      toJSONLess: {
        toJSON: () => {
          throw new Error('bad toJSON');
        },
      },
    };
    expect(toJsonSafe(hostile)).toEqual({
      boom: '[Unreadable: Error: no access]',
      fine: 1,
      toJSONLess: '[Unreadable: Error: bad toJSON]',
    });
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 50; i++) deep = deep.next = {};
    const text = JSON.stringify(toJsonSafe(root));
    expect(text).toContain('[Too deep]');
  });

  it('keeps the first 10000 items of a huge list, fast, and counts the rest', () => {
    const started = Date.now();
    const sparse = toJsonSafe(new Array(2 ** 32 - 1)) as unknown[];
    expect(sparse).toHaveLength(10_001);
    expect(sparse[0]).toBeNull();
    expect(sparse[10_000]).toBe(`[${2 ** 32 - 1 - 10_000} more]`);
    const dense = Array.from({ length: 10_005 }, (_, i) => i);
    expect((toJsonSafe(dense) as unknown[]).slice(9_999)).toEqual([9_999, '[5 more]']);
    expect(toJsonSafe(dense.slice(0, 10_000))).toEqual(dense.slice(0, 10_000));
    const floats = toJsonSafe(new Float64Array(2 ** 24)) as { values: unknown[] };
    expect(floats.values).toHaveLength(10_001);
    const set = toJsonSafe(new Set(dense)) as { values: unknown[] };
    expect(set.values.slice(-1)).toEqual(['[5 more]']);
    const map = toJsonSafe(new Map(dense.map((i) => [i, i]))) as { entries: unknown[] };
    expect(map.entries).toHaveLength(10_001);
    expect(map.entries[10_000]).toBe('[5 more]');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('keeps an own "__proto__" key as a field', () => {
    const parsed: unknown = JSON.parse('{"__proto__": {"admin": true}, "name": "x"}');
    const safe = toJsonSafe(parsed);
    expect(JSON.stringify(safe)).toBe('{"__proto__":{"admin":true},"name":"x"}');
    expect(Object.getPrototypeOf(safe)).toBe(Object.prototype);
  });

  it('turns a top-level undefined into null', () => {
    expect(toJsonSafe(undefined)).toBeNull();
  });
});
