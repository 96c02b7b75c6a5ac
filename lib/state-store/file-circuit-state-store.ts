import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CircuitSnapshot } from '../circuit-breaker/circuit-breaker.policy';
import { invalid } from '../common/validate';
import type {
  CircuitLink,
  CircuitStateStore,
  CircuitStateStoreContext,
  SharedCircuit,
  SharedCircuitState,
} from './circuit-state-store.interface';

/** Options of `FileCircuitStateStore`. @publicApi */
export interface FileCircuitStateStoreOptions {
  /** The JSON file the states are kept in (created, with its folder, on the first change). */
  path: string;
}

/** The file's layout. */
interface StateFile {
  version: 1;
  circuits: Record<string, SharedCircuitState>;
}

const STATES = ['closed', 'open', 'half-open'];

/**
 * Circuit state that survives a restart, for a single instance: every state change of a
 * shared breaker is written to one JSON file, and a breaker created after a restart adopts
 * the state kept there. An open breaker stays open after a restart until its `resetTimeout`
 * (counted from when it opened) has run out, then reads half-open.
 *
 * Writes are atomic (a temporary file in the same folder, then a rename), so a crash leaves
 * the previous file or the new one, never half of one. A file that cannot be read or parsed
 * is reported with one warning and ignored (the breakers start closed), never fatal; a
 * failed write is reported the same way and the breakers keep working.
 *
 * It shares nothing between processes: several instances need `RedisCircuitStateStore`.
 * @publicApi
 */
export class FileCircuitStateStore implements CircuitStateStore {
  readonly name = 'file';
  readonly path: string;
  private circuits: Record<string, SharedCircuitState> = Object.create(null);
  private context?: CircuitStateStoreContext;
  private writeFailed = false;
  private sequence = 0;

  constructor(pathOrOptions: string | FileCircuitStateStoreOptions) {
    const path = typeof pathOrOptions === 'string' ? pathOrOptions : pathOrOptions?.path;
    if (typeof path !== 'string' || path.length === 0) {
      invalid('FileCircuitStateStore', 'path', path, 'a non-empty file path');
    }
    this.path = resolve(path);
  }

  connect(context: CircuitStateStoreContext): void {
    this.context = context;
    this.circuits = this.load();
  }

  attach(circuit: SharedCircuit): CircuitLink {
    // own entries only: a breaker may be named "constructor" or "__proto__"
    if (Object.hasOwn(this.circuits, circuit.name)) circuit.adopt(this.circuits[circuit.name]);
    return {
      changed: (snapshot) => this.save(circuit.name, snapshot),
    };
  }

  async close(): Promise<void> {
    // every change is written when it happens: nothing is pending
  }

  private load(): Record<string, SharedCircuitState> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Object.create(null);
      this.warn(`cannot read ${this.path} (${messageOf(error)}); starting with closed circuits`);
      return Object.create(null);
    }
    try {
      return parse(text);
    } catch (error) {
      this.warn(
        `${this.path} is not a valid circuit state file (${messageOf(error)}); ignoring it, ` +
          'starting with closed circuits',
      );
      return Object.create(null);
    }
  }

  private save(name: string, snapshot: CircuitSnapshot): void {
    this.circuits[name] = {
      state: snapshot.state,
      openedAt: snapshot.openedAt,
      stateChangedAt: snapshot.stateChangedAt,
    };
    const file: StateFile = { version: 1, circuits: this.circuits };
    const temp = `${this.path}.${process.pid}.${++this.sequence}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`);
      renameSync(temp, this.path);
      this.writeFailed = false;
    } catch (error) {
      rmSync(temp, { force: true });
      if (!this.writeFailed) {
        this.writeFailed = true;
        this.warn(`cannot write ${this.path} (${messageOf(error)}); the state is kept in memory`);
      }
    }
  }

  private warn(message: string): void {
    this.context?.warn(`FileCircuitStateStore: ${message}`);
  }
}

/** Parses and checks the file; throws on anything unexpected. */
function parse(text: string): Record<string, SharedCircuitState> {
  const data = JSON.parse(text) as Partial<StateFile> | null;
  if (typeof data !== 'object' || data === null || data.version !== 1) {
    throw new Error('expected { "version": 1, "circuits": { ... } }');
  }
  const circuits = data.circuits;
  if (typeof circuits !== 'object' || circuits === null || Array.isArray(circuits)) {
    throw new Error('"circuits" is not an object');
  }
  const out: Record<string, SharedCircuitState> = Object.create(null);
  for (const [name, entry] of Object.entries(circuits)) {
    const e = entry as Partial<SharedCircuitState> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      !STATES.includes(e.state as string) ||
      !Number.isFinite(e.openedAt) ||
      !Number.isFinite(e.stateChangedAt)
    ) {
      throw new Error(`the entry of circuit "${name}" is malformed`);
    }
    out[name] = { state: e.state!, openedAt: e.openedAt!, stateChangedAt: e.stateChangedAt! };
  }
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
