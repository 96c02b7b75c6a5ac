/**
 * Turns any value into plain JSON data, so that a dead letter always survives
 * `JSON.stringify` and comes back equal from `JSON.parse`:
 *
 * | value                                   | becomes                                             |
 * | --------------------------------------- | --------------------------------------------------- |
 * | `undefined` (array item / top level)    | `null` (object keys holding it are left out)        |
 * | `NaN`, `Infinity`, `-Infinity`          | the strings `'NaN'`, `'Infinity'`, `'-Infinity'`    |
 * | BigInt `12n`                            | the string `'12n'`                                  |
 * | symbol                                  | its description, `'Symbol(name)'`                   |
 * | function                                | `'[Function name]'`                                 |
 * | Date                                    | its ISO string (`'Invalid Date'` when invalid)      |
 * | Error                                   | `{ name, message, stack?, cause?, …own fields }`    |
 * | Buffer, ArrayBuffer, DataView, Uint8Array | `{ type, base64 }`                                |
 * | other typed arrays                      | `{ type, values: [...] }`                           |
 * | Map                                     | `{ type: 'Map', entries: [[key, value], …] }`       |
 * | Set                                     | `{ type: 'Set', values: [...] }`                    |
 * | an object with `toJSON()`               | what `toJSON()` returns, made safe in turn          |
 * | class instance, null-prototype object   | a plain object of its own enumerable fields         |
 * | a reference to an enclosing object      | `'[Circular]'`                                      |
 * | nesting deeper than 32 levels           | `'[Too deep]'`                                      |
 * | more than 10000 items (array, Map, Set, typed array) | the first 10000, then `'[N more]'`     |
 * | a getter or `toJSON()` that throws      | `'[Unreadable: message]'`                           |
 *
 * The same object reached twice without a cycle is written twice.
 * @publicApi
 */
export function toJsonSafe(value: unknown): unknown {
  return convert(value, [], 0);
}

const MAX_DEPTH = 32;
/** Items kept of one array, Map, Set or typed array: a huge one must not stall the process. */
const MAX_ITEMS = 10_000;

/** The first `MAX_ITEMS` items, then `'[N more]'` when there are more. */
function items(count: number, item: (index: number) => unknown): unknown[] {
  const n = Math.min(count, MAX_ITEMS);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(item(i));
  if (count > n) out.push(`[${count - n} more]`);
  return out;
}

/** Like `items`, for an iterable of known size (Map, Set). */
function firstOf<T>(source: Iterable<T>, size: number, item: (value: T) => unknown): unknown[] {
  const out: unknown[] = [];
  for (const value of source) {
    if (out.length === MAX_ITEMS) break;
    out.push(item(value));
  }
  if (size > out.length) out.push(`[${size - out.length} more]`);
  return out;
}

/** Sets `out[key]`, as an own field even for the key `__proto__`. */
function setField(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    out[key] = value;
  }
}

function convert(value: unknown, ancestors: object[], depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return null;
    case 'symbol':
      return value.toString();
    case 'function':
      return `[Function ${value.name || 'anonymous'}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.includes(object)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Too deep]';
  ancestors.push(object);
  try {
    return convertObject(object, ancestors, depth + 1);
  } catch (error) {
    return `[Unreadable: ${messageOf(error)}]`;
  } finally {
    ancestors.pop();
  }
}

function convertObject(object: object, ancestors: object[], depth: number): unknown {
  const nested = (v: unknown) => convert(v, ancestors, depth);
  if (Array.isArray(object)) return items(object.length, (i) => nested(object[i]));
  if (object instanceof Date) {
    return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
  }
  if (isErrorLike(object)) return convertError(object, nested);
  if (Buffer.isBuffer(object)) return { type: 'Buffer', base64: object.toString('base64') };
  if (object instanceof ArrayBuffer || isSharedArrayBuffer(object)) {
    return { type: tagOf(object), base64: Buffer.from(object as ArrayBuffer).toString('base64') };
  }
  if (ArrayBuffer.isView(object)) return convertView(object);
  if (object instanceof Map) {
    return {
      type: 'Map',
      entries: firstOf(object, object.size, ([key, item]) => [nested(key), nested(item)]),
    };
  }
  if (object instanceof Set) {
    return { type: 'Set', values: firstOf(object, object.size, (item) => nested(item)) };
  }
  if (object instanceof WeakMap || object instanceof WeakSet || object instanceof Promise) {
    return `[${tagOf(object)}]`;
  }
  if (object instanceof RegExp) return object.toString();
  if (object instanceof String || object instanceof Number || object instanceof Boolean) {
    return nested(object.valueOf());
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const replaced: unknown = toJSON.call(object);
    return replaced === object ? plainFields(object, nested) : nested(replaced);
  }
  return plainFields(object, nested);
}

function plainFields(object: object, nested: (v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object)) {
    let item: unknown;
    try {
      item = (object as Record<string, unknown>)[key];
    } catch (error) {
      setField(out, key, `[Unreadable: ${messageOf(error)}]`);
      continue;
    }
    if (item === undefined) continue;
    setField(out, key, nested(item));
  }
  return out;
}

function convertError(error: Error, nested: (v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: String(error.name),
    message: String(error.message),
  };
  if (typeof error.stack === 'string') out.stack = error.stack;
  if (error.cause !== undefined) out.cause = nested(error.cause);
  for (const [key, item] of Object.entries(plainFields(error, nested))) {
    if (!Object.prototype.hasOwnProperty.call(out, key)) setField(out, key, item);
  }
  return out;
}

function convertView(view: ArrayBufferView): Record<string, unknown> {
  const type = tagOf(view);
  if (view instanceof Uint8Array || view instanceof DataView) {
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    return { type, base64: bytes.toString('base64') };
  }
  const list = view as unknown as ArrayLike<number | bigint>;
  const values = items(list.length, (i) => {
    const item = list[i];
    if (typeof item === 'bigint') return `${item}n`;
    return Number.isFinite(item) ? (Object.is(item, -0) ? 0 : item) : String(item);
  });
  return { type, values };
}

const tagOf = (object: object): string =>
  (object.constructor as { name?: string } | undefined)?.name ||
  Object.prototype.toString.call(object).slice(8, -1);

const isSharedArrayBuffer = (object: object): boolean =>
  typeof SharedArrayBuffer === 'function' && object instanceof SharedArrayBuffer;

/** True for errors, including those of another realm. @internal */
export function isErrorLike(value: unknown): value is Error {
  if (value instanceof Error) return true;
  if (typeof value !== 'object' || value === null) return false;
  const { name, message } = value as { name?: unknown; message?: unknown };
  return typeof name === 'string' && typeof message === 'string' && 'stack' in value;
}

/** A short, never-throwing description of an error. @internal */
export function messageOf(error: unknown): string {
  try {
    if (isErrorLike(error)) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return 'unknown error';
  }
}
